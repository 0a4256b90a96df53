"""GraphQL root fields of the support chat: parse -> one service call -> wrap (REST twins in
``rest_compat/support_chat.py``).

Visitor side: ``supportChat``, ``startSupportChat``, ``sendSupportMessage``, ``callSupportOperator``
and the ``supportChat`` stream; the visitor is the caller and/or their chat token (cookie, or
``connectionParams.chatSessionId`` on a socket). Operator side (operators and admins, FORBIDDEN
otherwise): ``supportChatSessions``, ``supportChatSession``, ``answerSupportChat``,
``closeSupportChat`` and the ``supportChatSession`` stream.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from predictql.ratelimit import RateLimiter
from predictql.resolvers.common import INPUT, user_errors
from predictql.resolvers.subscriptions import FROM_SEQ, messages
from predictql.schema.context import Context, Info
from predictql.schema.ids import Kind, decode
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.schema.scalars import Long
from predictql.schema.subscriptions import StreamMessage
from predictql.schema.support_chat import (
    AnswerSupportChatPayload,
    CallSupportOperatorPayload,
    CloseSupportChatPayload,
    SendSupportMessagePayload,
    StartSupportChatPayload,
    SupportChatEvent,
    SupportChatSession,
    SupportChatStatus,
    SupportMessage,
    fetch_chat_session,
    visitor_of,
)
from predictql.services import support_chat, support_desk
from predictql.services.support_chat import Visitor
from predictql.subscriptions import streams, topics


def _reading(context: Context, visitor: Visitor) -> AbstractAsyncContextManager[AsyncSession]:
    """A read, in a write transaction only when it may link the cookie's session to the account."""
    return context.db.transaction() if visitor.may_link else context.db.session()


SESSION_ARG = strawberry.argument(description="A support-chat session's global id (chat_...).")


@strawberry.type
class SupportChatQuery:
    @strawberry.field(
        description="The caller's support chat: by the chat_session_id cookie and/or the signed-in account "
        "(an anonymous cookie session is linked to the account at this call); null when there is none."
    )
    async def support_chat(self, info: Info) -> SupportChatSession | None:
        visitor = visitor_of(info.context)
        async with _reading(info.context, visitor) as session:
            row = await support_chat.current(session, visitor, lock=False)
        return None if row is None else SupportChatSession.from_row(row)

    @strawberry.field(
        description=f"Operators and admins: support-chat sessions, newest first (default: OPEN and ESCALATED); "
        f"pages of {BOUNDS}."
    )
    async def support_chat_sessions(
        self,
        info: Info,
        status: Annotated[
            list[SupportChatStatus] | None,
            strawberry.argument(description="Only sessions in these statuses; null: OPEN and ESCALATED."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[SupportChatSession]:
        args = page_args(info, first, after, last, before)
        statuses = [s.value for s in status] if status else list(support_chat.ACTIVE)
        async with info.context.db.session() as session:
            page = await support_desk.queue(session, info.context.actor, args, statuses=statuses)
        return connection(page, SupportChatSession.from_row, lambda row: row.id)

    @strawberry.field(description="Operators and admins: one support-chat session; null when missing.")
    async def support_chat_session(
        self, info: Info, id: Annotated[strawberry.ID, SESSION_ARG]
    ) -> SupportChatSession | None:
        info.context.actor.require_operator()
        return await fetch_chat_session(info.context, decode(Kind.CHAT_SESSION, id))


@strawberry.input(description="A message to the support team.")
class SendSupportMessageInput:
    text: str = strawberry.field(description="The message: not blank, at most PREDICTQL_CHAT_MESSAGE_MAX_CHARS.")


@strawberry.input(description="An operator's answer in a support chat.")
class AnswerSupportChatInput:
    session_id: strawberry.ID = strawberry.field(description="The session (chat_...).")
    text: str = strawberry.field(description="The answer: not blank, at most PREDICTQL_CHAT_MESSAGE_MAX_CHARS.")


@strawberry.input(description="A support chat to close.")
class CloseSupportChatInput:
    session_id: strawberry.ID = strawberry.field(description="The session (chat_...).")
    note: str | None = strawberry.field(default=None, description="Why, for the audit log (at most 500).")


def _limiter(context: Context) -> RateLimiter | None:
    return getattr(context.request.state, "chat_limiter", None)


@strawberry.type
class SupportChatMutation:
    @strawberry.mutation(
        description="Get-or-create the caller's support chat (sets the chat_session_id cookie for a new one)."
    )
    @user_errors
    async def start_support_chat(self, info: Info) -> StartSupportChatPayload:
        async with info.context.db.transaction() as session:
            started = await support_chat.start(session, visitor_of(info.context))
        if started.new_cookie:
            info.context.set_cookie(support_chat.COOKIE, started.token, support_chat.COOKIE_MAX_AGE)
        return StartSupportChatPayload(
            session=SupportChatSession.from_row(started.session), chat_session_id=started.token
        )

    @strawberry.mutation(
        description="Write in the caller's active support chat (NOT_FOUND without one); rate limited per session."
    )
    @user_errors
    async def send_support_message(
        self, info: Info, input: Annotated[SendSupportMessageInput, INPUT]
    ) -> SendSupportMessagePayload:
        context = info.context
        async with context.db.transaction() as session:
            row = await support_chat.post(
                session,
                visitor_of(context),
                text=input.text,
                max_chars=context.settings.chat_message_max_chars,
                limiter=_limiter(context),
            )
        return SendSupportMessagePayload(message=SupportMessage.from_row(row))

    @strawberry.mutation(description="Ask for a human operator in the caller's active support chat.")
    @user_errors
    async def call_support_operator(self, info: Info) -> CallSupportOperatorPayload:
        async with info.context.db.transaction() as session:
            row = await support_chat.call_operator(session, visitor_of(info.context))
        return CallSupportOperatorPayload(session=SupportChatSession.from_row(row))

    @strawberry.mutation(description="Operators and admins: answer an open or escalated support chat (audited).")
    @user_errors
    async def answer_support_chat(
        self, info: Info, input: Annotated[AnswerSupportChatInput, INPUT]
    ) -> AnswerSupportChatPayload:
        context = info.context
        session_id = decode(Kind.CHAT_SESSION, input.session_id, "sessionId")
        async with context.db.transaction() as session:
            row, message = await support_desk.answer(
                session,
                context.actor,
                session_id=session_id,
                text=input.text,
                max_chars=context.settings.chat_message_max_chars,
            )
        return AnswerSupportChatPayload(
            session=SupportChatSession.from_row(row), message=SupportMessage.from_row(message)
        )

    @strawberry.mutation(description="Operators and admins: close a support chat (audited).")
    @user_errors
    async def close_support_chat(
        self, info: Info, input: Annotated[CloseSupportChatInput, INPUT]
    ) -> CloseSupportChatPayload:
        session_id = decode(Kind.CHAT_SESSION, input.session_id, "sessionId")
        async with info.context.db.transaction() as session:
            row = await support_desk.close(session, info.context.actor, session_id=session_id, note=input.note)
        return CloseSupportChatPayload(session=SupportChatSession.from_row(row))


async def _follow(
    context: Context, session_id: int, from_seq: int | None
) -> AsyncGenerator[StreamMessage[SupportChatEvent], None]:
    stream = streams.follow(
        context.bus, topics.support_chat_channel(session_id), live=SupportChatEvent.live, from_seq=from_seq
    )
    async for message in messages(context, stream):
        yield message


async def _visitor_stream(
    context: Context, from_seq: int | None
) -> AsyncGenerator[StreamMessage[SupportChatEvent], None]:
    visitor = visitor_of(context)
    async with _reading(context, visitor) as session:  # UNAUTHORIZED without a session, before following
        row = await support_chat.readable(session, visitor)
    async for message in _follow(context, row.id or 0, from_seq):
        yield message


async def _operator_stream(
    context: Context, session_id: int, from_seq: int | None
) -> AsyncGenerator[StreamMessage[SupportChatEvent], None]:
    async with context.db.session() as session:  # FORBIDDEN / NOT_FOUND before following
        await support_desk.get(session, context.actor, session_id=session_id)
    async for message in _follow(context, session_id, from_seq):
        yield message


@strawberry.type
class SupportChatSubscription:
    @strawberry.subscription(
        description="The caller's support chat live: each message (either side) and status change. The visitor "
        "is the signed-in socket, or connectionParams.chatSessionId, or the chat_session_id cookie of the "
        "handshake; UNAUTHORIZED without a session. No snapshot: use supportChat, or fromSeq."
    )
    async def support_chat(
        self, info: Info, from_seq: Annotated[Long | None, FROM_SEQ] = None
    ) -> AsyncGenerator[StreamMessage[SupportChatEvent], None]:
        return _visitor_stream(info.context, from_seq)

    @strawberry.subscription(
        description="Operators and admins: one support-chat session live (each message and status change). "
        "No snapshot: use supportChatSession, or fromSeq."
    )
    async def support_chat_session(
        self,
        info: Info,
        session_id: Annotated[strawberry.ID, SESSION_ARG],
        from_seq: Annotated[Long | None, FROM_SEQ] = None,
    ) -> AsyncGenerator[StreamMessage[SupportChatEvent], None]:
        return _operator_stream(info.context, decode(Kind.CHAT_SESSION, session_id), from_seq)
