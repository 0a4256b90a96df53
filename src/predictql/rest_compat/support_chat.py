"""REST group ``chat`` (support chat; lower_snake codes as its pages write them).

The visitor is the ``chat_session_id`` cookie (HttpOnly, SameSite=Lax, Secure over https, one
year) and/or the signed-in caller: see ``services.support_chat`` for linking. Messages are
``{id, sender: user|support, text, created_at}`` with ``created_at`` in Unix milliseconds.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from pydantic import StrictStr
from sqlalchemy.ext.asyncio import AsyncSession

from predictql.errors import InvalidInput
from predictql.models import ChatMessage
from predictql.ratelimit import RateLimiter
from predictql.rest_compat.routing import ApiRequest, StrictBody, endpoint
from predictql.services import support_chat
from predictql.services.support_chat import BAD, COOKIE, COOKIE_MAX_AGE, Visitor


class NoBody(StrictBody):
    pass


class SendMessage(StrictBody):
    text: StrictStr


def message_json(row: ChatMessage) -> dict[str, Any]:
    return {"id": row.id, "sender": row.sender, "text": row.text, "created_at": support_chat.unix_ms(row.created_at)}


def _visitor(api: ApiRequest) -> Visitor:
    return Visitor(api.actor, api.request.cookies.get(COOKIE))


def _reading(api: ApiRequest, visitor: Visitor) -> AbstractAsyncContextManager[AsyncSession]:
    """A read, in a write transaction only when it may link the cookie's session to the account."""
    return api.db.transaction() if visitor.may_link else api.db.session()


@endpoint("POST", "/chat/session", auth="optional", lower_codes=True, invalid_code=BAD, body=NoBody, body_optional=True)
async def create_session(api: ApiRequest) -> dict[str, Any]:
    await api.optional_body(NoBody)
    async with api.db.transaction() as session:
        started = await support_chat.start(session, _visitor(api))
    if started.new_cookie:
        api.set_cookie(COOKIE, started.token, COOKIE_MAX_AGE)
    return {"session_id": started.token}


@endpoint(
    "POST",
    "/chat/session/call-operator",
    auth="optional",
    lower_codes=True,
    invalid_code=BAD,
    body=NoBody,
    body_optional=True,
)
async def call_operator(api: ApiRequest) -> dict[str, Any]:
    await api.optional_body(NoBody)
    async with api.db.transaction() as session:
        await support_chat.call_operator(session, _visitor(api))
    return {"success": True, "message": "Operator called successfully"}


@endpoint("POST", "/chat/message", auth="optional", lower_codes=True, invalid_code=BAD, body=SendMessage)
async def send_message(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(SendMessage)
    limiter: RateLimiter = api.state("chat_limiter")
    async with api.db.transaction() as session:
        row = await support_chat.post(
            session, _visitor(api), text=body.text, max_chars=api.settings.chat_message_max_chars, limiter=limiter
        )
    return {"messages": [message_json(row)]}


@endpoint("GET", "/chat/history", auth="optional", lower_codes=True, invalid_code=BAD)
async def history(api: ApiRequest) -> dict[str, Any]:
    visitor = _visitor(api)
    async with _reading(api, visitor) as session:
        row = await support_chat.readable(session, visitor)
        rows = await support_chat.messages_since(session, row)
    return {"messages": [message_json(message) for message in rows]}


@endpoint("GET", "/chat/poll", auth="optional", lower_codes=True, invalid_code=BAD)
async def poll(api: ApiRequest) -> dict[str, Any]:
    since_id = api.query_int("since_id", lo=0)
    if since_id is None:
        raise InvalidInput("since_id is required", code=BAD)
    visitor = _visitor(api)
    async with _reading(api, visitor) as session:
        row = await support_chat.readable(session, visitor)
        rows = await support_chat.messages_since(session, row, since_id)
    return {"messages": [message_json(message) for message in rows]}
