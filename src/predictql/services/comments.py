"""Comments on events (our extension, README "Comments"): one level of replies, edits within a
window, deletion by the author, hiding by admins, a per-user rate limit and a length limit.

Each change is published on the event's comment channel after its commit; a reply notifies the
thread's earlier writers (the top-level comment's author and the other repliers) in the same
transaction. A deleted or hidden comment keeps its place in the thread but never shows its text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited
from predictql.inputs import check_text
from predictql.models import Comment, Event, Position, User
from predictql.services import audit, events, notifications
from predictql.services.cursors import Page, PageArgs, count, keyset_page, pages_by_parent, window
from predictql.subscriptions import topics
from predictql.subscriptions.payloads import ANONYMOUS_NAME, CommentTick

ORDERS = ("newest", "oldest")
RATE_WINDOW = timedelta(minutes=1)
SNIPPET = 80


@dataclass(frozen=True, slots=True)
class Limits:
    """The settings that bound comments (``comment_*``)."""

    max_length: int
    edit_window_seconds: int
    per_minute: int


def author_name(user: User) -> str:
    return ANONYMOUS_NAME if user.profile_hidden else (user.nickname or user.name)


def shown_body(comment: Comment) -> str | None:
    """The text anyone may see: none once deleted or hidden."""
    return comment.body if comment.status == "visible" else None


def tick(action: str, comment: Comment, author: User) -> CommentTick:
    assert comment.id is not None
    return CommentTick(
        action,
        comment.id,
        comment.event_id,
        comment.parent_id,
        None if author.profile_hidden else author.id,
        author_name(author),
        comment.status,
        shown_body(comment),
        comment.created_at,
        comment.edited_at,
    )


def _text(body: str, limits: Limits) -> str:
    if not isinstance(body, str):
        raise InvalidInput("text must be a string", field="text")
    text = check_text(body, "text").strip()
    if not text:
        raise InvalidInput("a comment cannot be empty", field="text")
    if len(text) > limits.max_length:
        raise InvalidInput(f"a comment is at most {limits.max_length} characters", field="text")
    return text


async def _rate(session: AsyncSession, user_id: int, limits: Limits) -> datetime:
    """At most ``per_minute`` comments in any rolling minute; the user's row lock serializes their
    posts, so two at once cannot both slip under the limit. Returns the post's time, read once the
    lock is held: posts that committed while this one waited are then all earlier than it (read
    before, a wait computed from them could exceed the window)."""
    await session.execute(select(User.id).where(col(User.id) == user_id).with_for_update())
    now = utcnow()
    since = now - RATE_WINDOW
    recent = list(
        await session.scalars(
            select(Comment.created_at)
            .where(col(Comment.user_id) == user_id, col(Comment.created_at) > since)
            .order_by(col(Comment.id).desc())
            .limit(limits.per_minute)
        )
    )
    if len(recent) >= limits.per_minute:
        wait = (min(recent) + RATE_WINDOW - now).total_seconds()
        raise RateLimited(f"at most {limits.per_minute} comments a minute", retry_after=max(1, math.ceil(wait)))
    return now


async def _parent(session: AsyncSession, event_id: int, parent_id: int) -> Comment:
    parent = await session.get(Comment, parent_id)
    if parent is None or parent.event_id != event_id:
        raise NotFound("comment not found", field="parentId")
    if parent.parent_id is not None:
        raise InvalidInput("replies are one level deep: reply to the top-level comment", field="parentId")
    if parent.status != "visible":
        raise Conflict("that comment was removed", field="parentId")
    return parent


async def create(
    session: AsyncSession, actor: Actor, *, event_id: int, body: str, parent_id: int | None, limits: Limits
) -> Comment:
    """A comment on an event the caller can see, or a reply to one of its top-level comments."""
    user_id = actor.require_write()
    event = await events.get_visible(session, actor, event_id)
    text = _text(body, limits)
    parent = await _parent(session, event_id, parent_id) if parent_id is not None else None
    now = await _rate(session, user_id, limits)
    comment = Comment(event_id=event_id, user_id=user_id, parent_id=parent_id, body=text, created_at=now)
    session.add(comment)
    await session.flush()
    author = await session.get(User, user_id)
    assert author is not None
    topics.comment_changed(session, tick("created", comment, author))
    if parent is not None:
        await _notify_thread(session, event, parent, comment, author)
    return comment


async def _notify_thread(session: AsyncSession, event: Event, parent: Comment, reply: Comment, author: User) -> None:
    """The thread's earlier writers, except the replier: its top-level author and other repliers."""
    repliers = await session.scalars(
        select(Comment.user_id).distinct().where(col(Comment.parent_id) == parent.id, col(Comment.id) != reply.id)
    )
    recipients = sorted(({parent.user_id} | set(repliers)) - {reply.user_id})
    snippet = reply.body if len(reply.body) <= SNIPPET else reply.body[: SNIPPET - 1] + "…"
    message = f"{author_name(author)} replied on '{event.name}': {snippet}"
    drafts = [notifications.Draft(u, "comment_reply", "New Reply", message, "event", event.id) for u in recipients]
    await notifications.create_many(session, drafts)


async def _own(session: AsyncSession, actor: Actor, comment_id: int) -> tuple[Comment, User]:
    """A comment (locked) that the caller wrote, on an event they can see; not deleted."""
    user_id = actor.require_write()
    comment = await session.get(Comment, comment_id, with_for_update=True)
    if comment is None or comment.status == "deleted":
        raise NotFound("comment not found")
    await events.get_visible(session, actor, comment.event_id)
    if comment.user_id != user_id:
        raise Forbidden("only its author may change a comment")
    author = await session.get(User, user_id)
    assert author is not None
    return comment, author


async def edit(session: AsyncSession, actor: Actor, *, comment_id: int, body: str, limits: Limits) -> Comment:
    """Change the text of one's own comment, within ``edit_window_seconds`` of posting it."""
    comment, author = await _own(session, actor, comment_id)
    if comment.status == "hidden":
        raise Conflict("the comment was hidden by a moderator")
    now = utcnow()
    if now - comment.created_at > timedelta(seconds=limits.edit_window_seconds):
        raise Conflict(
            f"a comment can be edited for {limits.edit_window_seconds} seconds after posting",
            code="EDIT_WINDOW_CLOSED",
        )
    comment.body, comment.edited_at = _text(body, limits), now
    await session.flush()
    topics.comment_changed(session, tick("edited", comment, author))
    return comment


async def delete(session: AsyncSession, actor: Actor, *, comment_id: int) -> Comment:
    """Delete one's own comment: its text is gone, its place (and its replies) stay."""
    comment, author = await _own(session, actor, comment_id)
    comment.status, comment.body, comment.removed_at = "deleted", "", utcnow()
    await session.flush()
    topics.comment_changed(session, tick("deleted", comment, author))
    return comment


async def set_hidden(session: AsyncSession, actor: Actor, *, comment_id: int, hidden: bool) -> Comment:
    """Admins hide a comment (shown as hidden, its text kept for review) or show it again."""
    actor.require_admin()
    comment = await session.get(Comment, comment_id, with_for_update=True)
    if comment is None or comment.status == "deleted":
        raise NotFound("comment not found")
    before = comment.status
    comment.status = "hidden" if hidden else "visible"
    if before != comment.status:
        comment.removed_at = utcnow() if hidden else None
        await session.flush()
        await audit.record(
            session,
            actor,
            "comment.hide" if hidden else "comment.unhide",
            "comment",
            comment_id,
            before={"status": before},
            after={"status": comment.status},
        )
        author = await session.get(User, comment.user_id)
        assert author is not None
        topics.comment_changed(session, tick("hidden" if hidden else "unhidden", comment, author))
    return comment


# -- reading ---------------------------------------------------------------------------------


def _thread_query(event_id: int, parent_id: int | None) -> Any:
    query = select(Comment).where(col(Comment.event_id) == event_id)
    if parent_id is None:
        return query.where(col(Comment.parent_id).is_(None))
    return query.where(col(Comment.parent_id) == parent_id)


async def page(
    session: AsyncSession,
    actor: Actor,
    *,
    event_id: int,
    args: PageArgs,
    order: str = "newest",
    parent_id: int | None = None,
) -> Page[Comment]:
    """An event's top-level comments (or one comment's replies), newest or oldest first, keyset-paged
    on id. Deleted and hidden comments keep their place (their text is not shown)."""
    if order not in ORDERS:
        raise InvalidInput("order must be newest or oldest", code="INVALID_ORDER", field="orderBy")
    await events.get_visible(session, actor, event_id)
    query = _thread_query(event_id, parent_id)
    if order == "newest":
        return await keyset_page(session, query, col(Comment.id), args)
    return await _oldest_first(session, query, args)


async def _oldest_first(session: AsyncSession, query: Any, args: PageArgs) -> Page[Comment]:
    """``keyset_page`` mirrored: ``first``/``after`` go towards newer rows."""
    args.checked()
    total = await count(session, query) if args.with_total else None
    below, above = args.id_bounds()  # here: after = ids above the cursor, before = ids below it
    if below is not None:
        query = query.where(col(Comment.id) > below)
    if above is not None:
        query = query.where(col(Comment.id) < above)
    order = col(Comment.id).desc() if args.backward else col(Comment.id).asc()
    rows = list(await session.scalars(query.order_by(order).limit(args.size + 1)))
    return window(rows, args, lambda row: row.id, total)


async def pages_by_event(
    session: AsyncSession, event_ids: Sequence[int], args: PageArgs, order: str
) -> dict[int, Page[Comment]]:
    """The same page of top-level comments of each event (the caller has checked it may see them), in
    one statement whatever the number of events (plus one grouped count when ``args.with_total``)."""
    top_level: list[ColumnElement[bool]] = [col(Comment.parent_id).is_(None)]
    if order == "newest":
        return await pages_by_parent(session, Comment, col(Comment.event_id), event_ids, args, top_level)
    args.checked()
    below, above = args.id_bounds()
    conditions: list[ColumnElement[bool]] = [col(Comment.event_id).in_(event_ids), *top_level]
    if below is not None:
        conditions.append(col(Comment.id) > below)
    if above is not None:
        conditions.append(col(Comment.id) < above)
    ordering = col(Comment.id).desc() if args.backward else col(Comment.id).asc()
    rank = func.row_number().over(partition_by=col(Comment.event_id), order_by=ordering).label("rank")
    ranked = select(col(Comment.id).label("row_id"), rank).where(*conditions).subquery()
    query = (
        select(Comment)
        .join(ranked, ranked.c.row_id == col(Comment.id))
        .where(ranked.c.rank <= args.size + 1)
        .order_by(col(Comment.event_id), ordering)
    )
    found: dict[int, list[Comment]] = {event_id: [] for event_id in event_ids}
    for row in await session.scalars(query):
        found[row.event_id].append(row)
    totals: dict[int, int] = {}
    if args.with_total:
        counted = (
            select(Comment.event_id, func.count())
            .where(col(Comment.event_id).in_(event_ids), *top_level)
            .group_by(col(Comment.event_id))
        )
        totals = {int(event_id): int(n) for event_id, n in await session.execute(counted)}
    return {
        event_id: window(rows, args, lambda row: row.id, totals.get(event_id, 0) if args.with_total else None)
        for event_id, rows in found.items()
    }


async def get_visible(session: AsyncSession, actor: Actor, comment_id: int) -> Comment:
    comment = await session.get(Comment, comment_id)
    if comment is None:
        raise NotFound("comment not found")
    await events.get_visible(session, actor, comment.event_id)
    return comment


async def reply_counts(session: AsyncSession, comment_ids: Sequence[int]) -> dict[int, int]:
    """How many replies each comment has (removed ones included: they keep their place)."""
    if not comment_ids:
        return {}
    rows = await session.execute(
        select(Comment.parent_id, func.count())
        .where(col(Comment.parent_id).in_(comment_ids))
        .group_by(col(Comment.parent_id))
    )
    found = {int(parent): int(n) for parent, n in rows}
    return {comment_id: found.get(comment_id, 0) for comment_id in comment_ids}


async def authors(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, User]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {user.id or 0: user for user in await session.scalars(select(User).where(col(User.id).in_(ids)))}


async def positions_in_events(
    session: AsyncSession, pairs: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], list[Position]]:
    """The open positions of each (event id, user id): what a commenter holds in the event's markets,
    for any number of pairs in one statement."""
    wanted = set(pairs)
    found: dict[tuple[int, int], list[Position]] = {pair: [] for pair in wanted}
    if not wanted:
        return found
    rows = await session.scalars(
        select(Position)
        .where(
            col(Position.event_id).in_({e for e, _ in wanted}),
            col(Position.user_id).in_({u for _, u in wanted}),
            col(Position.status) == "open",
            col(Position.amount) > 0,
        )
        .order_by(col(Position.market_id), col(Position.token))
    )
    for position in rows:
        key = (position.event_id, position.user_id)
        if key in found:
            found[key].append(position)
    return found
