"""Support chat, the operators' side: the queue of open and escalated sessions, reading one,
answering and closing. Operators and admins only (``Actor.require_operator``); every answer and
close is written to the audit log in its own transaction, and a close leaves the back-office queue
(``topics.backoffice_item_changed``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, InvalidInput, NotFound
from predictql.models import ChatMessage, ChatSession
from predictql.services import audit, notifications
from predictql.services.cursors import Page, PageArgs, keyset_page
from predictql.services.support_chat import ACTIVE, add_message, check_message, tick
from predictql.subscriptions import topics

STATUSES = ("open", "escalated", "closed")
MAX_NOTE = 500  # audit_log.note


async def queue(
    session: AsyncSession, actor: Actor, page: PageArgs, *, statuses: Sequence[str] = ACTIVE
) -> Page[ChatSession]:
    """Sessions in ``statuses`` (default: open and escalated), newest first."""
    actor.require_operator()
    query = select(ChatSession).where(col(ChatSession.status).in_(list(statuses)))
    return await keyset_page(session, query, col(ChatSession.id), page)


async def get(session: AsyncSession, actor: Actor, *, session_id: int, lock: bool = False) -> ChatSession:
    actor.require_operator()
    row = await session.get(ChatSession, session_id, with_for_update=lock)
    if row is None:
        raise NotFound("no such chat session", field="sessionId")
    return row


async def answer(
    session: AsyncSession, actor: Actor, *, session_id: int, text: str, max_chars: int
) -> tuple[ChatSession, ChatMessage]:
    """An operator's message in an open or escalated session (sender ``support``); the visitor, if
    signed in, also gets a ``support_reply`` notification (an anonymous one has only the chat)."""
    operator_id = actor.require_operator()
    check_message(text, max_chars)
    row = await get(session, actor, session_id=session_id, lock=True)
    if row.status not in ACTIVE:
        raise Conflict("the chat session is closed", field="sessionId")
    message = await add_message(session, row, sender="support", text=text, author_id=operator_id)
    if row.user_id is not None:  # a signed-in visitor is told even with the chat closed in their browser
        await notifications.support_reply(session, row.user_id, text)
    await audit.record(
        session,
        actor,
        "chat_session.answer",
        "chat_session",
        session_id,
        after={"message_id": message.id, "status": row.status},
    )
    return row, message


async def close(session: AsyncSession, actor: Actor, *, session_id: int, note: str | None = None) -> ChatSession:
    """Close a session: it leaves the queue; the visitor's next ``start`` opens a new one."""
    actor.require_operator()
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput(f"note is longer than {MAX_NOTE} characters", field="note")
    row = await get(session, actor, session_id=session_id, lock=True)
    if row.status not in ACTIVE:
        raise Conflict("the chat session is closed already", field="sessionId")
    before = row.status
    row.status, row.closed_at = "closed", utcnow()
    await session.flush()
    topics.support_chat_changed(session, tick(row))
    topics.backoffice_item_changed(session, "chat_session", session_id, "closed", open=False)
    await audit.record(
        session,
        actor,
        "chat_session.close",
        "chat_session",
        session_id,
        before={"status": before},
        after={"status": "closed"},
        note=note,
    )
    return row
