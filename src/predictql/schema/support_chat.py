"""GraphQL types of the support chat: a session (chat_...), its messages (smsg_...), the live
events of one session, and the mutation payloads of both sides (visitor and operator)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from predictql.models import ChatMessage as ChatMessageRow
from predictql.models import ChatSession as ChatSessionRow
from predictql.schema.context import Context, Info
from predictql.schema.enums import value
from predictql.schema.ids import Kind
from predictql.schema.node import Node, gid
from predictql.schema.pagination import After, Before, Connection, First, Last, connection, page_args
from predictql.schema.payloads import MutationPayload
from predictql.schema.users import User
from predictql.services.support_chat import COOKIE, Visitor, may_read
from predictql.services.users import Profile
from predictql.subscriptions.payloads import ChatTick

# connection_init key an anonymous visitor's socket presents its chat token under (the cookie's
# value; a browser's handshake sends the cookie itself, which serves as well).
CHAT_PARAM = "chatSessionId"


@strawberry.enum(description="Where a support-chat session stands.")
class SupportChatStatus(Enum):
    OPEN = value("open", description="The visitor writes; no operator asked for yet.")
    ESCALATED = value("escalated", description="The visitor called an operator: it waits in the operators' queue.")
    CLOSED = value("closed", description="An operator closed it; the visitor's next start opens a new one.")


@strawberry.enum(description="Who wrote a support-chat message.")
class SupportMessageSender(Enum):
    USER = value("user", description="The visitor.")
    SUPPORT = value("support", description="An operator of the support team.")


def visitor_of(context: Context) -> Visitor:
    """The chatting visitor: the caller, and the chat token of ``connectionParams.chatSessionId``
    (sockets) or of the ``chat_session_id`` cookie (HTTP, or a socket's handshake)."""
    params = context.connection_params or {}
    token = params.get(CHAT_PARAM)
    if not isinstance(token, str) or not token:
        token = context.request.cookies.get(COOKIE)
    return Visitor(context.actor, token)


@strawberry.type(description="One message of a support chat.")
class SupportMessage(Node):
    id: strawberry.ID = strawberry.field(description="The message's global id (smsg_...).")
    session_id: strawberry.ID = strawberry.field(description="Its session's global id (chat_...).")
    sender: SupportMessageSender = strawberry.field(description="USER (the visitor) or SUPPORT (an operator).")
    text: str = strawberry.field(description="What was written.")
    created_at: datetime = strawberry.field(description="When it was written (RFC 3339, UTC).")

    @classmethod
    def from_row(cls, row: ChatMessageRow) -> SupportMessage:
        return cls(
            id=gid(Kind.CHAT_MESSAGE, row.id),
            session_id=gid(Kind.CHAT_SESSION, row.session_id),
            sender=SupportMessageSender(row.sender),
            text=row.text,
            created_at=row.created_at,
        )


@strawberry.type(description="A visitor's conversation with the support team.")
class SupportChatSession(Node):
    id: strawberry.ID = strawberry.field(description="The session's global id (chat_...).")
    status: SupportChatStatus = strawberry.field(description="OPEN, ESCALATED or CLOSED.")
    created_at: datetime = strawberry.field(description="When the visitor started it (RFC 3339, UTC).")
    last_message_at: datetime | None = strawberry.field(description="When its latest message was written.")
    escalated_at: datetime | None = strawberry.field(description="When the visitor called an operator.")
    closed_at: datetime | None = strawberry.field(description="When an operator closed it.")
    row_id: strawberry.Private[int]
    user_id: strawberry.Private[int | None]

    @strawberry.field(description="The account it is linked to; null while the visitor is anonymous.")
    async def user(self, info: Info) -> User | None:
        if self.user_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.user_id)
        return None if row is None else User.from_profile(Profile(row, None))

    @strawberry.field(description="Its messages, newest first; pages of 1-100.")
    async def messages(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[SupportMessage]:
        args = page_args(info, first, after, last, before)
        page = await info.context.loaders.support_messages_by_session_id.load((self.row_id, args))
        return connection(page, SupportMessage.from_row, lambda row: row.id)

    @classmethod
    def from_row(cls, row: ChatSessionRow) -> SupportChatSession:
        return cls(
            id=gid(Kind.CHAT_SESSION, row.id),
            status=SupportChatStatus(row.status),
            created_at=row.created_at,
            last_message_at=row.last_message_at,
            escalated_at=row.escalated_at,
            closed_at=row.closed_at,
            row_id=row.id or 0,
            user_id=row.user_id,
        )


async def fetch_chat_session(context: Context, row_id: int) -> SupportChatSession | None:
    row = await context.loaders.chat_session_by_id.load(row_id)
    if row is None or not may_read(context.actor, row, visitor_of(context).token):
        return None
    return SupportChatSession.from_row(row)


async def fetch_chat_message(context: Context, row_id: int) -> SupportMessage | None:
    row = await context.loaders.chat_message_by_id.load(row_id)
    if row is None or await fetch_chat_session(context, row.session_id) is None:
        return None
    return SupportMessage.from_row(row)


@strawberry.type(description="A change of one support-chat session: a new message, or a new status.")
class SupportChatEvent:
    session_id: strawberry.ID = strawberry.field(description="The session's global id (chat_...).")
    status: SupportChatStatus = strawberry.field(description="The session's status after the change.")
    message: SupportMessage | None = strawberry.field(
        description="The message written; null when only the status changed (escalated, closed)."
    )
    at: datetime = strawberry.field(description="When it happened (RFC 3339, UTC).")

    @staticmethod
    def live(text: str) -> SupportChatEvent:
        tick = ChatTick.from_json(text)
        message = None
        if tick.message_id is not None:
            message = SupportMessage(
                id=gid(Kind.CHAT_MESSAGE, tick.message_id),
                session_id=gid(Kind.CHAT_SESSION, tick.session_id),
                sender=SupportMessageSender(tick.sender),
                text=tick.text or "",
                created_at=tick.created_at,
            )
        return SupportChatEvent(
            session_id=gid(Kind.CHAT_SESSION, tick.session_id),
            status=SupportChatStatus(tick.status),
            message=message,
            at=tick.created_at,
        )


@strawberry.type(description="What startSupportChat changed.")
class StartSupportChatPayload(MutationPayload):
    session: SupportChatSession | None = strawberry.field(default=None, description="The visitor's session.")
    chat_session_id: str | None = strawberry.field(
        default=None,
        description="The chat token (the chat_session_id cookie's value, also set as that cookie): an "
        "anonymous visitor's socket presents it as connectionParams.chatSessionId.",
    )


@strawberry.type(description="What sendSupportMessage changed.")
class SendSupportMessagePayload(MutationPayload):
    message: SupportMessage | None = strawberry.field(default=None, description="The message written.")


@strawberry.type(description="What callSupportOperator changed.")
class CallSupportOperatorPayload(MutationPayload):
    session: SupportChatSession | None = strawberry.field(default=None, description="The session, now ESCALATED.")


@strawberry.type(description="What answerSupportChat changed.")
class AnswerSupportChatPayload(MutationPayload):
    session: SupportChatSession | None = strawberry.field(default=None, description="The session answered.")
    message: SupportMessage | None = strawberry.field(default=None, description="The operator's message.")


@strawberry.type(description="What closeSupportChat changed.")
class CloseSupportChatPayload(MutationPayload):
    session: SupportChatSession | None = strawberry.field(default=None, description="The session, now CLOSED.")
