"""GraphQL types of comments (our extension): ``Comment`` with its author, the author's positions in
the event's markets and its replies, all through DataLoaders; the ``eventComments`` stream payload;
the mutations' inputs and payloads."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from predictql.models import Comment as CommentRow
from predictql.models import Position as PositionRow
from predictql.schema.context import Info
from predictql.schema.enums import CommentOrder, Outcome, value
from predictql.schema.ids import Kind
from predictql.schema.markets import Event, Market
from predictql.schema.node import Node, gid, opt_gid
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.schema.payloads import MutationPayload
from predictql.schema.scalars import Long
from predictql.services import comments
from predictql.subscriptions.payloads import ANONYMOUS_NAME, CommentTick

if TYPE_CHECKING:
    from predictql.schema.users import User


@strawberry.enum(description="Whether a comment's text is shown.")
class CommentStatus(Enum):
    VISIBLE = value("visible", description="Shown.")
    DELETED = value("deleted", description="Deleted by its author: its text is gone, its place and replies stay.")
    HIDDEN = value("hidden", description="Hidden by a moderator: its text is not shown.")


@strawberry.enum(description="What happened to a comment, on the eventComments stream.")
class CommentAction(Enum):
    CREATED = value("created", description="Posted (a comment or a reply).")
    EDITED = value("edited", description="Its author changed its text.")
    DELETED = value("deleted", description="Its author deleted it.")
    HIDDEN = value("hidden", description="A moderator hid it.")
    UNHIDDEN = value("unhidden", description="A moderator showed it again.")


@strawberry.type(description="What a commenter holds in one market of the event (an open position).")
class CommentPosition:
    token: Outcome = strawberry.field(description="The token held.")
    amount: Long = strawberry.field(description="Share units held.")
    avg_price: int = strawberry.field(description="Average price paid, basis points.")
    row: strawberry.Private[PositionRow]

    @strawberry.field(description="The market.")
    async def market(self, info: Info) -> Market | None:
        row = await info.context.loaders.market_by_id.load(self.row.market_id)
        return Market.from_row(row) if row is not None else None


@strawberry.type(description="A comment on an event, or a reply to one (one level of replies).")
class Comment(Node):
    id: strawberry.ID = strawberry.field(description="The comment's global id (cmt_...).")
    text: str | None = strawberry.field(description="The text; null once deleted or hidden (see status).")
    status: CommentStatus = strawberry.field(description="VISIBLE, DELETED or HIDDEN.")
    created_at: datetime = strawberry.field(description="When it was posted (RFC 3339, UTC).")
    edited_at: datetime | None = strawberry.field(description="When its author last edited it; null if never.")
    row: strawberry.Private[CommentRow]

    @strawberry.field(description="The event it is on.")
    async def event(self, info: Info) -> Event | None:
        row = await info.context.loaders.event_by_id.load(self.row.event_id)
        return Event.from_row(row) if row is not None else None

    @strawberry.field(description="The comment this one replies to; null for a top-level comment.")
    async def parent(self, info: Info) -> Comment | None:
        if self.row.parent_id is None:
            return None
        row = await info.context.loaders.comment_by_id.load(self.row.parent_id)
        return Comment.from_row(row) if row is not None else None

    async def _shown(self, info: Info) -> bool:
        """Whether the author's profile is visible to the caller (not hidden, or the caller's own)."""
        user = await info.context.loaders.user_by_id.load(self.row.user_id)
        return user is not None and (not user.profile_hidden or user.id == info.context.actor.user_id)

    @strawberry.field(description="The author's public profile; null when their profile is hidden from the caller.")
    async def author(self, info: Info) -> Annotated[User, strawberry.lazy("predictql.schema.users")] | None:
        from predictql.schema.trading import public_user

        return await public_user(info, self.row.user_id)

    @strawberry.field(description="The author's nickname or name; 'Anonymous' when their profile is hidden.")
    async def author_name(self, info: Info) -> str:
        user = await info.context.loaders.user_by_id.load(self.row.user_id)
        if user is None or not await self._shown(info):
            return ANONYMOUS_NAME
        return str(user.nickname or user.name)

    @strawberry.field(
        description="What the author holds now in the event's markets (open positions), as Manifold shows "
        "beside a comment; null when their profile is hidden from the caller."
    )
    async def author_positions(self, info: Info) -> list[CommentPosition] | None:
        if not await self._shown(info):
            return None
        rows = await info.context.loaders.positions_by_event_user.load((self.row.event_id, self.row.user_id))
        return [
            CommentPosition(token=Outcome(p.token), amount=Long(p.amount), avg_price=p.avg_price, row=p) for p in rows
        ]

    @strawberry.field(description=f"Replies to this comment, newest first; pages of {BOUNDS} (empty for a reply).")
    async def replies(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Comment]:
        args = page_args(info, first, after, last, before)
        page = await info.context.loaders.replies_by_comment_id.load((self.row.id or 0, args))
        return connection(page, Comment.from_row, lambda row: row.id)

    @classmethod
    def from_row(cls, row: CommentRow) -> Comment:
        return cls(
            id=gid(Kind.COMMENT, row.id),
            text=comments.shown_body(row),
            status=CommentStatus(row.status),
            created_at=row.created_at,
            edited_at=row.edited_at,
            row=row,
        )


async def event_comments(
    info: Info,
    event_id: int,
    order_by: CommentOrder,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Comment]:
    """``Event.comments``: the event's top-level comments in the order asked for (the event is one
    the caller can see); every event's page of a request in one statement."""
    args = page_args(info, first, after, last, before)
    page = await info.context.loaders.comments_by_event_id.load((event_id, order_by.value, args))
    info.context.loaders.comment_by_id.prime_many({row.id: row for row in page.items if row.id is not None})
    return connection(page, Comment.from_row, lambda row: row.id)


@strawberry.type(description="A comment of the event as it is after a change, on the eventComments stream.")
class CommentEvent:
    action: CommentAction = strawberry.field(description="What happened to it.")
    comment_id: strawberry.ID = strawberry.field(description="The comment's global id (cmt_...); node(id) has more.")
    event_id: strawberry.ID = strawberry.field(description="The event's global id (evt_...).")
    parent_id: strawberry.ID | None = strawberry.field(description="The comment it replies to; null if top-level.")
    author_id: strawberry.ID | None = strawberry.field(description="The author (usr_...); null if hidden.")
    author_name: str = strawberry.field(description="The author's nickname or name; 'Anonymous' when hidden.")
    status: CommentStatus = strawberry.field(description="VISIBLE, DELETED or HIDDEN after the change.")
    text: str | None = strawberry.field(description="The text after the change; null once deleted or hidden.")
    created_at: datetime = strawberry.field(description="When it was posted (RFC 3339, UTC).")
    edited_at: datetime | None = strawberry.field(description="When it was last edited; null if never.")

    @staticmethod
    def live(text: str) -> CommentEvent:
        item = CommentTick.from_json(text)
        return CommentEvent(
            action=CommentAction(item.action),
            comment_id=gid(Kind.COMMENT, item.id),
            event_id=gid(Kind.EVENT, item.event_id),
            parent_id=opt_gid(Kind.COMMENT, item.parent_id),
            author_id=opt_gid(Kind.USER, item.user_id),
            author_name=item.author_name,
            status=CommentStatus(item.status),
            text=item.body,
            created_at=item.created_at,
            edited_at=item.edited_at,
        )


@strawberry.input(description="A new comment on an event, or a reply to one of its top-level comments.")
class CreateCommentInput:
    event_id: strawberry.ID = strawberry.field(description="The event (evt_...).")
    text: str = strawberry.field(description="The text: not empty, at most PREDICTQL_COMMENT_MAX_LENGTH characters.")
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="A top-level comment of the event to reply to (cmt_...); null for a new thread."
    )


@strawberry.input(description="New text for one of the caller's comments (within the edit window).")
class EditCommentInput:
    id: strawberry.ID = strawberry.field(description="The comment (cmt_...).")
    text: str = strawberry.field(description="The new text.")


@strawberry.input(description="One of the caller's comments.")
class DeleteCommentInput:
    id: strawberry.ID = strawberry.field(description="The comment (cmt_...).")


@strawberry.input(description="Hide a comment or show it again (admins).")
class SetCommentHiddenInput:
    id: strawberry.ID = strawberry.field(description="The comment (cmt_...).")
    hidden: bool = strawberry.field(description="True hides it; false shows it again.")


@strawberry.type(description="What createComment changed.")
class CreateCommentPayload(MutationPayload):
    comment: Comment | None = strawberry.field(default=None, description="The new comment.")


@strawberry.type(description="What editComment changed.")
class EditCommentPayload(MutationPayload):
    comment: Comment | None = strawberry.field(default=None, description="The comment with its new text.")


@strawberry.type(description="What deleteComment changed.")
class DeleteCommentPayload(MutationPayload):
    deleted_comment_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted comment's id.")
    comment: Comment | None = strawberry.field(
        default=None, description="The comment as it stays in its thread (status DELETED, no text)."
    )


@strawberry.type(description="What setCommentHidden changed.")
class SetCommentHiddenPayload(MutationPayload):
    comment: Comment | None = strawberry.field(default=None, description="The comment, hidden or shown.")
