"""GraphQL root fields of comments: parse -> one service call -> wrap (REST twins in
``rest_compat/comments.py``). ``Event.comments`` lists them; ``eventComments`` streams changes."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from predictql.resolvers.common import INPUT, user_errors
from predictql.resolvers.subscriptions import FROM_SEQ, messages
from predictql.schema.comments import (
    Comment,
    CommentEvent,
    CreateCommentInput,
    CreateCommentPayload,
    DeleteCommentInput,
    DeleteCommentPayload,
    EditCommentInput,
    EditCommentPayload,
    SetCommentHiddenInput,
    SetCommentHiddenPayload,
)
from predictql.schema.context import Context, Info
from predictql.schema.ids import Kind, decode
from predictql.schema.node import gid
from predictql.schema.scalars import Long
from predictql.schema.subscriptions import StreamMessage
from predictql.services import comments, events
from predictql.settings import Settings
from predictql.subscriptions import streams, topics


def _limits(settings: Settings) -> comments.Limits:
    return comments.Limits(
        settings.comment_max_length, settings.comment_edit_window_seconds, settings.comment_rate_per_minute
    )


@strawberry.type
class CommentsMutation:
    @strawberry.mutation(
        description="Comment on an event, or reply to one of its top-level comments (one level of replies); "
        "the thread's earlier writers are notified of a reply. Rate limited per user (top-level RATE_LIMITED)."
    )
    @user_errors
    async def create_comment(self, info: Info, input: Annotated[CreateCommentInput, INPUT]) -> CreateCommentPayload:
        event_id = decode(Kind.EVENT, input.event_id, "eventId")
        parent_id = decode(Kind.COMMENT, input.parent_id, "parentId") if input.parent_id is not None else None
        async with info.context.db.transaction() as session:
            row = await comments.create(
                session,
                info.context.actor,
                event_id=event_id,
                body=input.text,
                parent_id=parent_id,
                limits=_limits(info.context.settings),
            )
        return CreateCommentPayload(comment=Comment.from_row(row))

    @strawberry.mutation(
        description="Change the text of one of the caller's comments, within PREDICTQL_COMMENT_EDIT_WINDOW_SECONDS "
        "of posting it (EDIT_WINDOW_CLOSED after); another user's comment is a top-level FORBIDDEN."
    )
    @user_errors
    async def edit_comment(self, info: Info, input: Annotated[EditCommentInput, INPUT]) -> EditCommentPayload:
        comment_id = decode(Kind.COMMENT, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await comments.edit(
                session,
                info.context.actor,
                comment_id=comment_id,
                body=input.text,
                limits=_limits(info.context.settings),
            )
        return EditCommentPayload(comment=Comment.from_row(row))

    @strawberry.mutation(description="Delete one of the caller's comments: its text goes, its place and replies stay.")
    @user_errors
    async def delete_comment(self, info: Info, input: Annotated[DeleteCommentInput, INPUT]) -> DeleteCommentPayload:
        comment_id = decode(Kind.COMMENT, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await comments.delete(session, info.context.actor, comment_id=comment_id)
        return DeleteCommentPayload(deleted_comment_id=gid(Kind.COMMENT, row.id), comment=Comment.from_row(row))

    @strawberry.mutation(description="Admins: hide a comment (it shows as HIDDEN, without its text) or show it again.")
    @user_errors
    async def set_comment_hidden(
        self, info: Info, input: Annotated[SetCommentHiddenInput, INPUT]
    ) -> SetCommentHiddenPayload:
        comment_id = decode(Kind.COMMENT, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await comments.set_hidden(session, info.context.actor, comment_id=comment_id, hidden=input.hidden)
        return SetCommentHiddenPayload(comment=Comment.from_row(row))


async def _visible(context: Context, event_id: int) -> None:
    async with context.db.session() as session:
        await events.get_visible(session, context.actor, event_id)


@strawberry.type
class CommentsSubscription:
    @strawberry.subscription(
        description="Each comment of the event as it is created, edited, deleted, hidden or shown again (LIVE); "
        "no snapshot: Event.comments gives the list, fromSeq resumes."
    )
    async def event_comments(
        self,
        info: Info,
        event_id: Annotated[strawberry.ID, strawberry.argument(description="The event (evt_...).")],
        from_seq: Annotated[Long | None, FROM_SEQ] = None,
    ) -> AsyncGenerator[StreamMessage[CommentEvent], None]:
        context, eid = info.context, decode(Kind.EVENT, event_id)
        channel = topics.event_comments_channel(eid)
        stream = streams.follow(context.bus, channel, live=CommentEvent.live, from_seq=from_seq)
        # event not found (missing or hidden from the caller) before anything is followed
        return messages(context, stream, check=lambda: _visible(context, eid))
