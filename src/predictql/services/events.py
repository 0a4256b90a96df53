"""Events: create, read (with visibility), update, show/hide, suggest; the computed status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Forbidden, InvalidInput, NotFound
from predictql.models import Event, EventSuggestion, EventTag, Market, Pool
from predictql.models.core import table

MAX_TAGS = 20
ASSET_SYMBOL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
MAX_LOOP_MINUTES = 366 * 24 * 60  # a loop event repeats at least once a year (the column is 32-bit)


def event_status(event: Event, pools: Sequence[Pool], now: datetime | None = None) -> str:
    """DECISIONS rule 18: new (no pool live yet), started, paid (all pools closed), cancelled."""
    if event.cancelled_at is not None:
        return "cancelled"
    if pools and all(pool.closed_at is not None for pool in pools):
        return "paid"
    now = now or utcnow()
    if any(pool.live_at <= now for pool in pools):
        return "started"
    return "new"


def can_see(actor: Actor, event: Event) -> bool:
    """``is_active: false`` hides an event from everyone but its creator and admins."""
    return event.is_active or actor.may_manage(event.creator_id)


async def get_visible(session: AsyncSession, actor: Actor, event_id: int) -> Event:
    event = await session.get(Event, event_id)
    if event is None or not can_see(actor, event):
        raise NotFound("event not found")
    return event


async def get_managed(session: AsyncSession, actor: Actor, event_id: int, *, lock: bool = False) -> Event:
    """An event the caller may change (its creator or an admin): 404 / 403 otherwise."""
    actor.require_write()
    event = await session.get(Event, event_id, with_for_update=lock)
    if event is None or not can_see(actor, event):
        raise NotFound("event not found")  # a hidden event is as missing to others as on reads
    if not actor.may_manage(event.creator_id):
        raise Forbidden("insufficient permissions")
    return event


def _strings(value: Sequence[str] | None, name: str, limit: int = MAX_TAGS) -> list[str]:
    items = [item.strip() for item in value or []]
    if len(items) > limit or any(not item or len(item) > 100 for item in items):
        raise InvalidInput(f"{name}: at most {limit} non-empty strings of up to 100 characters")
    return items


def _name(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= 300:
        raise InvalidInput("name must be 1-300 characters")
    return value


def _bounded(value: str | None, name: str, limit: int) -> str:
    """Free text that goes into a length-limited column: refused (400), never a database error."""
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidInput(f"{name} must be at most {limit} characters")
    return value


@dataclass(frozen=True, slots=True)
class EventFields:
    name: str
    name_ru: str = ""
    tags: Sequence[str] | None = None
    versus_names: Sequence[str] | None = None
    versus_images: Sequence[str] | None = None
    has_draw: bool = False
    image_url: str | None = None
    polymarket_event_url: str | None = None
    loop_interval_minutes: int = 0
    asset_symbol: str | None = None


async def create_event(session: AsyncSession, actor: Actor, fields: EventFields) -> Event:
    user_id = actor.require_write()
    if not (actor.is_creator or actor.is_admin):
        raise Forbidden("insufficient permissions")
    if not 0 <= fields.loop_interval_minutes <= MAX_LOOP_MINUTES:
        raise InvalidInput(f"loop_interval_minutes must be 0-{MAX_LOOP_MINUTES}")
    symbol = (fields.asset_symbol or "").upper() or None
    if symbol is not None and not (set(symbol) <= ASSET_SYMBOL_CHARS and len(symbol) <= 20):
        raise InvalidInput("invalid asset symbol")
    event = Event(
        creator_id=user_id,
        name=_name(fields.name),
        name_ru=_bounded(fields.name_ru, "name_ru", 300),
        tags=[tag.lower() for tag in _strings(fields.tags, "tags")],
        versus_names=_strings(fields.versus_names, "versus_names", 3),
        versus_images=_strings(fields.versus_images, "versus_images", 3),
        has_draw=fields.has_draw,
        image_url=_bounded(fields.image_url, "image_url", 500) or None,
        polymarket_event_url=_bounded(fields.polymarket_event_url, "polymarket_event_url", 500) or None,
        is_loop_event=fields.loop_interval_minutes > 0,
        loop_interval_minutes=fields.loop_interval_minutes,
        asset_symbol=symbol,
    )
    session.add(event)
    await session.flush()
    await _set_tags(session, event)
    return event


async def _set_tags(session: AsyncSession, event: Event) -> None:
    assert event.id is not None
    await session.execute(delete(EventTag).where(col(EventTag.event_id) == event.id))
    session.add_all([EventTag(event_id=event.id, tag=tag) for tag in dict.fromkeys(event.tags)])
    await session.flush()


async def update_event(session: AsyncSession, actor: Actor, event_id: int, changes: dict[str, Any]) -> Event:
    event = await get_managed(session, actor, event_id)
    if "name" in changes:
        event.name = _name(changes["name"])
    if "name_ru" in changes:
        event.name_ru = _bounded(str(changes["name_ru"]), "name_ru", 300)
    for key in ("tags", "versus_names", "versus_images"):
        if key in changes:
            values = _strings(changes[key], key, MAX_TAGS if key == "tags" else 3)
            setattr(event, key, [v.lower() for v in values] if key == "tags" else values)
    if "tags" in changes:
        await _set_tags(session, event)
    if "has_draw" in changes:
        event.has_draw = bool(changes["has_draw"])
    if "main_pool_id" in changes:
        pool_id = changes["main_pool_id"]
        owned = await session.scalar(select(Pool.id).where(Pool.id == pool_id, Pool.event_id == event_id))
        if owned is None:
            raise InvalidInput("main_pool_id must be a pool of this event")
        event.main_pool_id = pool_id
    await session.flush()
    return event


async def set_active(session: AsyncSession, actor: Actor, event_id: int, *, is_active: bool) -> Event:
    event = await get_managed(session, actor, event_id)
    event.is_active = is_active
    return event


async def set_image(session: AsyncSession, actor: Actor, event_id: int, *, url: str | None) -> Event:
    event = await get_managed(session, actor, event_id)
    event.image_url = url
    return event


async def suggest(
    session: AsyncSession, actor: Actor, *, name: str, description: str = "", tags: Sequence[str] = ()
) -> EventSuggestion:
    user_id = actor.require_write()
    suggestion = EventSuggestion(
        user_id=user_id,
        name=_name(name),
        description=description.strip()[:5000],
        tags=_bounded(",".join(_strings(tags, "tags")), "tags", 500),
    )
    session.add(suggestion)
    await session.flush()
    return suggestion


async def asset_timeframes(session: AsyncSession, *, symbol: str) -> list[Event]:
    """Active, open loop events on one asset, by interval (``/events/asset-timeframes``)."""
    symbol = symbol.upper()
    if not symbol or not set(symbol) <= ASSET_SYMBOL_CHARS or len(symbol) > 20:
        raise InvalidInput("invalid symbol")
    base = symbol.removesuffix("USDT") or symbol
    rows = await session.scalars(
        select(Event)
        .where(
            col(Event.asset_symbol).in_([symbol, base]),
            col(Event.is_loop_event).is_(True),
            col(Event.is_active).is_(True),
            col(Event.closed_at).is_(None),
            col(Event.cancelled_at).is_(None),
        )
        .order_by(col(Event.loop_interval_minutes), col(Event.id))
    )
    return list(rows)


async def pools_of(session: AsyncSession, event_ids: Sequence[int]) -> dict[int, list[Pool]]:
    found: dict[int, list[Pool]] = {event_id: [] for event_id in event_ids}
    if event_ids:
        for pool in await session.scalars(select(Pool).where(col(Pool.event_id).in_(event_ids)).order_by(col(Pool.id))):
            found[pool.event_id].append(pool)
    return found


async def markets_of(session: AsyncSession, pool_ids: Sequence[int]) -> dict[int, list[Market]]:
    found: dict[int, list[Market]] = {pool_id: [] for pool_id in pool_ids}
    if pool_ids:
        rows = await session.scalars(
            select(Market).where(col(Market.pool_id).in_(pool_ids)).order_by(col(Market.outcome_index))
        )
        for market in rows:
            found[market.pool_id].append(market)
    return found


# ``pools_of`` / ``markets_of`` for reads whose rows nothing changes (the GraphQL loaders): every
# column as a Core ``Row``, read like the model's instance (the same attribute names: each
# column is named as its field), in the same order. Not ORM instances: building an ORM instance of
# a SQLModel row (instance state, pydantic's private attributes, the identity map) cost ~30 us,
# a quarter of an executed 20-event feed's CPU for its 160 pools and markets (bench/RESULTS.md,
# "The executed feed at 2x: Core rows"). Prebuilt statements: one compiled-cache entry each.
# Read past the identity map: a session's unflushed changes to these rows are not seen (read
# sessions have none).
_POOL_ROWS = (
    sa_select(*table(Pool).columns)
    .where(table(Pool).c.event_id.in_(bindparam("ids", expanding=True)))
    .order_by(table(Pool).c.id)
)
_MARKET_ROWS = (
    sa_select(*table(Market).columns)
    .where(table(Market).c.pool_id.in_(bindparam("ids", expanding=True)))
    .order_by(table(Market).c.outcome_index)
)


async def pool_rows_of(session: AsyncSession, event_ids: Sequence[int]) -> dict[int, list[Pool]]:
    """Each event's pools, oldest first, as read-only rows (see ``_POOL_ROWS``)."""
    return await _rows_by(session, _POOL_ROWS, "event_id", event_ids)


async def market_rows_of(session: AsyncSession, pool_ids: Sequence[int]) -> dict[int, list[Market]]:
    """Each pool's markets, by outcome index, as read-only rows (see ``_POOL_ROWS``)."""
    return await _rows_by(session, _MARKET_ROWS, "pool_id", pool_ids)


async def _rows_by(session: AsyncSession, statement: Any, parent: str, ids: Sequence[int]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = {key: [] for key in ids}
    if ids:
        for row in await session.execute(statement, {"ids": list(ids)}):
            found[getattr(row, parent)].append(row)
    return found
