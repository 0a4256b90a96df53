"""The public event feed: visible events, newest first, keyset-paginated, with filters.

One page costs a fixed number of queries whatever its size: the events, then their pools, then
those pools' markets (the GraphQL connection and the REST feed both use it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import InvalidInput
from predictql.models import Event, EventTag, Pool
from predictql.models.core import table
from predictql.services.cursors import Page, PageArgs, keyset_page
from predictql.services.events import MAX_TAGS  # an event has no more tags to match

STATUS_ALIASES = {"active": "started", "closed": "paid", "resolved": "paid"}
STATUSES = ("new", "started", "paid", "cancelled")
MAX_LIMIT = 100
MAX_SEARCH = 200  # characters; an event name has at most 300


@dataclass(frozen=True, slots=True)
class FeedQuery:
    limit: int = 20
    cursor: str | None = None
    tags: Sequence[str] = ()
    status: str | None = None
    search: str | None = None
    watched_by: int | None = None
    mine: bool = False
    page: PageArgs | None = None  # GraphQL: both directions and a total; REST: limit and cursor


def _status(query: SelectOfScalar[Event], status: str) -> SelectOfScalar[Event]:
    status = STATUS_ALIASES.get(status, status)
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)} (or active, closed)")
    if status == "cancelled":
        return query.where(col(Event.cancelled_at).is_not(None))
    query = query.where(col(Event.cancelled_at).is_(None))
    if status == "paid":
        return query.where(col(Event.closed_at).is_not(None))
    live = exists().where(col(Pool.event_id) == Event.id, col(Pool.live_at) <= utcnow())
    query = query.where(col(Event.closed_at).is_(None))
    return query.where(live) if status == "started" else query.where(~live)


def filtered(actor: Actor, request: FeedQuery) -> SelectOfScalar[Event]:
    """The feed's events as filtered by ``request`` (visibility, status, tags, search), unordered."""
    if not 1 <= request.limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}")
    query = select(Event)
    if request.mine:
        query = query.where(Event.creator_id == actor.require_user())
    else:
        query = query.where(col(Event.is_active).is_(True))
    if request.status:
        query = _status(query, request.status)
    elif not request.mine:
        query = query.where(col(Event.cancelled_at).is_(None))  # cancelled events leave the feed
    tags = [tag.strip().lower() for tag in request.tags if tag.strip()]
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags")
    if request.search is not None and len(request.search) > MAX_SEARCH:
        raise InvalidInput(f"search must be at most {MAX_SEARCH} characters")
    if tags:
        query = query.where(exists().where(col(EventTag.event_id) == Event.id, col(EventTag.tag).in_(tags)))
    if request.search:
        needle = request.search.strip().lower()
        query = query.where(
            func.lower(Event.name).contains(needle, autoescape=True)
            | func.lower(Event.name_ru).contains(needle, autoescape=True)
        )
    if request.watched_by is not None:
        from predictql.models import WatchlistEntry

        query = query.where(
            exists().where(col(WatchlistEntry.event_id) == Event.id, col(WatchlistEntry.user_id) == request.watched_by)
        )
    return query


async def page(session: AsyncSession, actor: Actor, request: FeedQuery, *, read_only: bool = False) -> Page[Event]:
    """``read_only``: the events as Core rows of every column (read like ``Event`` instances, not
    ORM-tracked; see ``events.pool_rows_of``), for a read that changes none of them."""
    args = request.page or PageArgs(first=request.limit, after=request.cursor)
    if not 1 <= args.size <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}")
    query = filtered(actor, request)
    selected = query.with_only_columns(*table(Event).columns) if read_only else query
    return await keyset_page(session, selected, col(Event.id), args, bound=MAX_LIMIT, rows=read_only)
