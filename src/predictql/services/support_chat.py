"""Support chat, the visitor's side: get-or-create, call an operator, write, read.

A visitor is who holds the ``chat_session_id`` cookie (an unguessable token; only its SHA-256 is
stored) and, when signed in, their account. The rules (README "Support chat"):

- An anonymous visitor reaches only a session that no account owns: a session linked to an
  account is reached by signing in, never by the cookie alone (after sign-out on a shared computer
  the next person starts afresh).
- Linking: the first chat call that carries both the cookie of an anonymous session and a signed-in
  caller links that session to the account. If the account already has an active session, the
  anonymous one is merged into it (its messages move, an escalation carries over, it is closed).
- ``start`` (get-or-create) answers the session with its token, which is the cookie's value: the
  presented cookie when it keys the session, else a new token (a new session, or the account's
  session re-keyed to this browser; the account still reaches it from anywhere).

The operators' side is ``services.support_desk``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor, sha256
from predictql.db import utcnow
from predictql.errors import InvalidInput, NotFound, RateLimited, Unauthenticated, Unavailable
from predictql.inputs import check_text
from predictql.models import ChatMessage, ChatSession, User
from predictql.ratelimit import RateLimiter
from predictql.subscriptions import topics
from predictql.subscriptions.payloads import ChatTick

COOKIE = "chat_session_id"
COOKIE_MAX_AGE = 365 * 24 * 3600  # one year, as the docs give it
MAX_TOKEN = 128  # ours are 43 characters; anything longer is not one of ours
MAX_HISTORY = 1000  # history and poll answer at most this many messages (the newest)
ACTIVE = ("open", "escalated")
BAD = "bad_request"  # the code the chat pages document for a bad request
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who is chatting: the caller and the chat token they present (cookie, or ``chatSessionId``)."""

    actor: Actor
    token: str | None = None

    @property
    def may_link(self) -> bool:
        """A call that may link the cookie's session to the account (so it must run in a write
        transaction); any other read needs none."""
        return self.actor.authenticated and self.usable_token is not None

    @property
    def usable_token(self) -> str | None:
        token = self.token
        return token if token and len(token) <= MAX_TOKEN and token.isprintable() else None


@dataclass(frozen=True, slots=True)
class Started:
    session: ChatSession
    token: str  # the cookie's value for this session
    new_cookie: bool  # the caller's cookie must be set to ``token``


def unix_ms(value: datetime) -> int:
    """``created_at`` of the chat pages: Unix milliseconds (exact, no float rounding)."""
    return (value - _EPOCH) // timedelta(milliseconds=1)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tick(row: ChatSession, message: ChatMessage | None = None) -> ChatTick:
    assert row.id is not None
    if message is None:
        return ChatTick(row.id, row.status, None, None, None, utcnow())
    return ChatTick(row.id, row.status, message.id, message.sender, message.text, message.created_at)


def check_message(text: str, max_chars: int) -> str:
    """A message's text: not blank, at most ``max_chars`` characters, no control characters."""
    check_text(text, "text", code=BAD)
    if not text.strip():
        raise InvalidInput("text must not be empty", code=BAD, field="text")
    if len(text) > max_chars:
        raise InvalidInput(f"text is longer than {max_chars} characters", code=BAD, field="text")
    return text


def _locked(query: Any, lock: bool) -> Any:
    return query.with_for_update() if lock else query


async def _by_token(session: AsyncSession, token: str | None, *, lock: bool) -> ChatSession | None:
    if token is None:
        return None
    query = select(ChatSession).where(col(ChatSession.token_hash) == sha256(token))
    found: ChatSession | None = await session.scalar(_locked(query, lock))
    return found


async def _of_user(session: AsyncSession, user_id: int, *, active: bool, lock: bool) -> ChatSession | None:
    query = select(ChatSession).where(col(ChatSession.user_id) == user_id)
    if active:
        query = query.where(col(ChatSession.status).in_(ACTIVE))
    found: ChatSession | None = await session.scalar(_locked(query.order_by(col(ChatSession.id).desc()).limit(1), lock))
    return found


async def _latest_of_user(session: AsyncSession, user_id: int, *, lock: bool) -> ChatSession | None:
    return await _of_user(session, user_id, active=True, lock=lock) or await _of_user(
        session, user_id, active=False, lock=lock
    )


async def _link(session: AsyncSession, anonymous: ChatSession, user_id: int) -> ChatSession:
    """The anonymous session becomes the account's (merged into its active session, if any)."""
    existing = await _of_user(session, user_id, active=True, lock=True)
    anonymous.user_id = user_id
    if existing is None or anonymous.status == "closed":
        return existing or anonymous
    await session.execute(
        update(ChatMessage).where(col(ChatMessage.session_id) == anonymous.id).values(session_id=existing.id)
    )
    if anonymous.status == "escalated" and existing.status == "open":
        existing.status, existing.escalated_at = "escalated", anonymous.escalated_at
        topics.backoffice_item_changed(session, "chat_session", existing.id or 0, "escalated", open=True)
        topics.support_chat_changed(session, tick(existing))
    if anonymous.last_message_at and (existing.last_message_at or _EPOCH) < anonymous.last_message_at:
        existing.last_message_at = anonymous.last_message_at
    was_escalated = anonymous.status == "escalated"
    anonymous.status, anonymous.closed_at = "closed", utcnow()
    topics.support_chat_changed(session, tick(anonymous))
    if was_escalated:
        topics.backoffice_item_changed(session, "chat_session", anonymous.id or 0, "closed", open=False)
    await session.flush()
    return existing


async def current(session: AsyncSession, visitor: Visitor, *, lock: bool = True) -> ChatSession | None:
    """The visitor's session (active first, else their latest), linking a cookie to an account.
    ``lock``: its row is locked for a change (a read that may link locks anyway)."""
    lock = lock or visitor.may_link
    cookie = await _by_token(session, visitor.usable_token, lock=lock)
    user_id = visitor.actor.user_id
    if user_id is None:
        return cookie if cookie is not None and cookie.user_id is None else None
    if cookie is not None and cookie.user_id is None:
        return await _link(session, cookie, user_id)
    if cookie is not None and cookie.user_id == user_id and cookie.status != "closed":
        return cookie
    return await _latest_of_user(session, user_id, lock=lock)


async def _active(session: AsyncSession, visitor: Visitor) -> ChatSession:
    if visitor.actor.authenticated:
        visitor.actor.require_write()
    found = await current(session, visitor)
    if found is None or found.status not in ACTIVE:
        raise NotFound("no active chat session: start one first (POST /chat/session)")
    return found


async def start(session: AsyncSession, visitor: Visitor) -> Started:
    """Get-or-create: the visitor's active session, else a new one (owned by the signed-in caller)."""
    if visitor.actor.user_id is not None:
        visitor.actor.require_write()
        # One get-or-create at a time per account: two tabs must not open two sessions.
        await session.get(User, visitor.actor.user_id, with_for_update=True)
    found = await current(session, visitor)
    token = visitor.usable_token
    if found is not None and found.status in ACTIVE:
        if token is not None and found.token_hash == sha256(token):
            return Started(found, token, new_cookie=False)
        token = new_token()  # reached through the account: re-keyed to this browser's cookie
        found.token_hash = sha256(token)
        await session.flush()
        return Started(found, token, new_cookie=True)
    token = new_token()
    row = ChatSession(token_hash=sha256(token), user_id=visitor.actor.user_id, status="open")
    session.add(row)
    await session.flush()
    return Started(row, token, new_cookie=True)


async def call_operator(session: AsyncSession, visitor: Visitor) -> ChatSession:
    """Ask for a human: an open session becomes ``escalated`` (again: no change) and enters the
    operators' queue."""
    row = await _active(session, visitor)
    if row.status == "open":
        row.status, row.escalated_at = "escalated", utcnow()
        await session.flush()
        topics.support_chat_changed(session, tick(row))
        topics.backoffice_item_changed(session, "chat_session", row.id or 0, "escalated", open=True)
    return row


async def _spend(limiter: RateLimiter | None, row: ChatSession) -> None:
    if limiter is None:
        return
    verdict = await limiter.hit(f"chat:{row.id}")
    if verdict.unavailable:
        raise Unavailable("the chat's rate limiter is unavailable", retry_after=verdict.retry_after)
    if not verdict.allowed:
        raise RateLimited(f"at most {verdict.limit} messages a minute in one chat", verdict.retry_after)


async def add_message(
    session: AsyncSession, row: ChatSession, *, sender: str, text: str, author_id: int | None
) -> ChatMessage:
    message = ChatMessage(session_id=row.id or 0, sender=sender, author_id=author_id, text=text)
    session.add(message)
    row.last_message_at = message.created_at
    await session.flush()
    topics.support_chat_changed(session, tick(row, message))
    return message


async def post(
    session: AsyncSession, visitor: Visitor, *, text: str, max_chars: int, limiter: RateLimiter | None
) -> ChatMessage:
    """The visitor writes in their active session (at most the limiter's budget a minute)."""
    check_message(text, max_chars)
    row = await _active(session, visitor)
    await _spend(limiter, row)
    return await add_message(session, row, sender="user", text=text, author_id=visitor.actor.user_id)


async def readable(session: AsyncSession, visitor: Visitor) -> ChatSession:
    """The session whose messages the visitor may read; 401 without one (no or unknown cookie)."""
    row = await current(session, visitor, lock=False)
    if row is None:
        raise Unauthenticated("no chat session: send the chat_session_id cookie (POST /chat/session)")
    return row


async def messages_since(session: AsyncSession, row: ChatSession, since_id: int = 0) -> list[ChatMessage]:
    """The session's messages with ids above ``since_id``, oldest first (the newest MAX_HISTORY)."""
    query = (
        select(ChatMessage)
        .where(col(ChatMessage.session_id) == row.id, col(ChatMessage.id) > since_id)
        .order_by(col(ChatMessage.id).desc())
        .limit(MAX_HISTORY)
    )
    return list(reversed(list(await session.scalars(query))))


def may_read(actor: Actor, row: ChatSession, token: str | None) -> bool:
    """Operators and admins read every session; a visitor their own (by account, or by the cookie
    of a session that no account owns)."""
    if actor.is_operator or actor.is_admin:
        return actor.authenticated
    if row.user_id is not None:
        return row.user_id == actor.user_id
    return token is not None and len(token) <= MAX_TOKEN and row.token_hash == sha256(token)
