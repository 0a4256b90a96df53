"""Discovery: the feed's events and the markets of visible events, in the orders a frontend sorts by.

``NEWEST`` of events is the feed's own keyset page (``feed.page``). The other orders rank on values that move
while a client pages (volume, trades of the last day, closing time), so their cursor is a position
in the ranking (``{"offset": N}``, at most ``MAX_OFFSET``): a row can repeat or be skipped when the
ranking changes between two pages, as on any live leaderboard. Each page is one statement.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import InvalidInput
from predictql.jsonutil import loads
from predictql.models import Event, Market, Pool, Trade
from predictql.services import feed
from predictql.services.cursors import MAX_CURSOR, count, encode_cursor, where_given

EVENT_ORDERS = ("NEWEST", "VOLUME", "CLOSING_SOON", "TRENDING")
MARKET_ORDERS = ("NEWEST", "VOLUME", "CLOSING_SOON", "TRENDING")
TRENDING_WINDOW = timedelta(hours=24)
MAX_OFFSET = 10_000
MAX_PAGE = 100
T = TypeVar("T")


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        value = loads(base64.urlsafe_b64decode(cursor.encode()))["offset"] if len(cursor) <= MAX_CURSOR else None
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error):
        value = None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_OFFSET:
        raise InvalidInput("invalid cursor")
    return value


@dataclass(frozen=True, slots=True)
class Ranked(Generic[T]):
    """A page of rows in ranking order, each with the cursor that continues after it."""

    items: list[T]
    cursors: list[str]
    has_more: bool
    has_previous: bool
    total: int | None = None  # every page together, when asked for


async def _ranked(session: AsyncSession, query: Any, offset: int, size: int, with_total: bool) -> Ranked[Any]:
    rows = list(await session.scalars(query.offset(offset).limit(size + 1)))
    items = rows[:size]
    cursors = [encode_offset(offset + index + 1) for index in range(len(items))]
    total = await count(session, query) if with_total else None
    return Ranked(items, cursors, len(rows) > size, offset > 0, total)


def _volume_of_event() -> Any:
    return select(func.coalesce(func.sum(Market.volume), 0)).where(col(Market.event_id) == Event.id).scalar_subquery()


def _recent_of(column: Any, since: datetime) -> Any:
    return (
        select(func.coalesce(func.sum(Trade.amount), 0)).where(column, col(Trade.created_at) >= since).scalar_subquery()
    )


def _closing_of(condition: Any, now: datetime) -> Any:
    return (
        select(func.min(Pool.finish_at))
        .where(condition, col(Pool.closed_at).is_(None), col(Pool.finish_at) > now)
        .scalar_subquery()
    )


async def events_page(
    session: AsyncSession, actor: Actor, request: feed.FeedQuery, *, order: str, with_total: bool = False
) -> Ranked[Event]:
    """The feed (``feed.FeedQuery`` filters) in ``order``; ``CLOSING_SOON`` keeps only events with a
    pool still to finish, soonest first; ``TRENDING`` ranks by kopecks traded in the last 24 hours."""
    if order == "NEWEST":
        page = await feed.page(session, actor, request)
        cursors = [encode_cursor(row.id or 0) for row in page.items]
        return Ranked(page.items, cursors, page.has_more, request.cursor is not None)
    if order not in EVENT_ORDERS:
        raise InvalidInput(f"order must be one of {', '.join(EVENT_ORDERS)}", code="INVALID_ORDER")
    now, offset = utcnow(), decode_offset(request.cursor)
    query = feed.filtered(actor, replace(request, cursor=None))
    if order == "VOLUME":
        query = query.order_by(_volume_of_event().desc(), col(Event.id).desc())
    elif order == "TRENDING":
        recent = _recent_of(col(Trade.event_id) == Event.id, now - TRENDING_WINDOW)
        query = query.order_by(recent.desc(), _volume_of_event().desc(), col(Event.id).desc())
    else:
        closing = _closing_of(col(Pool.event_id) == Event.id, now)
        query = query.where(closing.is_not(None)).order_by(closing.asc(), col(Event.id))
    return await _ranked(session, query, offset, request.limit, with_total)


@dataclass(frozen=True, slots=True)
class MarketFilter:
    event_id: int | None = None
    pool_id: int | None = None
    market_type: str | None = None  # "lmsr" or "orderbook"
    resolved: bool | None = None
    search: str | None = None  # in the market's or its event's name


async def markets_page(
    session: AsyncSession,
    actor: Actor,
    *,
    filter: MarketFilter,
    order: str,
    first: int = 20,
    after: str | None = None,
    with_total: bool = False,
) -> Ranked[Market]:
    """Markets of active, not cancelled events (the public feed's), in ``order``."""
    if not 1 <= first <= MAX_PAGE:
        raise InvalidInput(f"first must be 1-{MAX_PAGE}", code="INVALID_PAGINATION")
    if order not in MARKET_ORDERS:
        raise InvalidInput(f"order must be one of {', '.join(MARKET_ORDERS)}", code="INVALID_ORDER")
    if filter.search is not None and len(filter.search) > feed.MAX_SEARCH:
        raise InvalidInput(f"search must be at most {feed.MAX_SEARCH} characters")
    now, offset = utcnow(), decode_offset(after)
    query = where_given(
        select(Market)
        .join(Event, col(Event.id) == Market.event_id)
        .where(col(Event.is_active).is_(True), col(Event.cancelled_at).is_(None)),
        (Market.event_id, filter.event_id),
        (Market.pool_id, filter.pool_id),
        (Market.market_type, filter.market_type),
        (Market.resolved, filter.resolved),
    )
    if filter.search:
        needle = filter.search.strip().lower()
        query = query.where(
            func.lower(Market.name).contains(needle, autoescape=True)
            | func.lower(Event.name).contains(needle, autoescape=True)
        )
    if order == "NEWEST":
        query = query.order_by(col(Market.id).desc())
    elif order == "VOLUME":
        query = query.order_by(col(Market.volume).desc(), col(Market.id).desc())
    elif order == "TRENDING":
        recent = _recent_of(col(Trade.market_id) == Market.id, now - TRENDING_WINDOW)
        query = query.order_by(recent.desc(), col(Market.volume).desc(), col(Market.id).desc())
    else:
        closing = _closing_of(col(Pool.id) == Market.pool_id, now)
        query = query.where(closing.is_not(None)).order_by(closing.asc(), col(Market.id))
    return await _ranked(session, query, offset, first, with_total)
