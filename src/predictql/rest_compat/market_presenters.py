"""REST shapes of events, pools and markets, exactly as routes.yaml shows them (schemas Event,
Pool, PoolMetadata, Market; the feed card; the charts), and the batched loading they need.

``load_tree`` plays the part the DataLoaders play for GraphQL: rendering any number of events costs
a fixed number of queries (their pools, those pools' markets, the caller's watch flags).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.models import Event, Market, Pool
from predictql.services import events, watchlist
from predictql.services.charts import ChartPoint, MarketPoint
from predictql.services.cursors import Page
from predictql.services.prices import market_price

# The documented PoolMetadata keys; internal bookkeeping in ``Pool.meta`` is not echoed.
POOL_METADATA_KEYS = (
    "market_names",
    "market_probabilities",
    "lmsr_b_kopecks",
    "volume_min_kopecks",
    "volume_max_kopecks",
    "polymarket_token_ids",
    "asset_symbol",
    "asset_base_price",
)
FEED_MARKETS = 2


def market_json(market: Market) -> dict[str, Any]:
    return {
        "id": market.id,
        "pool_id": market.pool_id,
        "name": market.name,
        "name_ru": market.name_ru,
        "yes_probability": market_price(market).yes_probability,
        "market_type": market.market_type,
        "volume": market.volume,
        "b": market.lmsr_b // 100,  # DECISIONS rule 5: the pool page's b is lmsr_b_kopecks / 100
        "q_yes": market.q_yes,
        "q_no": market.q_no,
        "paused": market.paused,
        "resolved": market.resolved,
        "winning_outcome": market.winning_outcome,
        "outcome_index": market.outcome_index,
        "yes_name": market.yes_name,
        "no_name": market.no_name,
    }


def _number(value: float) -> int | float:
    """``margin`` is 0 in every example: whole numbers stay integers on the wire."""
    return int(value) if float(value).is_integer() else value


def pool_json(pool: Pool, markets: Sequence[Market]) -> dict[str, Any]:
    return {
        "id": pool.id,
        "event_id": pool.event_id,
        "name": pool.name,
        "name_ru": pool.name_ru,
        "rules": pool.rules,
        "rules_ru": pool.rules_ru,
        "won_side": pool.won_side,
        "margin": _number(pool.margin),
        "finish_at": pool.finish_at,
        "live_at": pool.live_at,
        "markets": [market_json(market) for market in markets],
        "metadata": {key: pool.meta[key] for key in POOL_METADATA_KEYS if key in pool.meta},
    }


def _event_fields(event: Event, *, status: str, is_watched: bool | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": event.id,
        "name": event.name,
        "name_ru": event.name_ru,
        "tags": list(event.tags),
        "image_url": event.image_url or "",  # the create example shows "" for no image
        "status": status,
        "is_active": event.is_active,
        "created_at": event.created_at,
        "closed_at": event.closed_at or event.cancelled_at,
        "versus_names": list(event.versus_names),
        "versus_images": list(event.versus_images),
        "has_draw": event.has_draw,
        "main_pool_id": event.main_pool_id,
        "is_loop_event": event.is_loop_event,
        "loop_interval_minutes": event.loop_interval_minutes,
    }
    if is_watched is not None:
        data["is_watched"] = is_watched
    return data


def event_json(
    event: Event,
    pools: Sequence[Pool],
    markets_by_pool: Mapping[int, Sequence[Market]],
    *,
    status: str,
    is_watched: bool | None = None,
) -> dict[str, Any]:
    """The Event schema with its pools and their markets; ``is_watched`` only for a signed-in caller."""
    data = _event_fields(event, status=status, is_watched=is_watched)
    data["pools"] = [pool_json(pool, markets_by_pool.get(pool.id or 0, ())) for pool in pools]
    return data


def feed_item_json(
    event: Event,
    pools: Sequence[Pool],
    markets_by_pool: Mapping[int, Sequence[Market]],
    *,
    status: str,
    is_watched: bool | None = None,
) -> dict[str, Any]:
    """A feed card: the event without pools, its main pool, that pool's two busiest markets, volume."""
    main = next((pool for pool in pools if pool.id == event.main_pool_id), None)
    candidates = markets_by_pool.get(main.id or 0, ()) if main is not None else ()
    busiest = sorted(candidates, key=lambda market: (-market.volume, market.outcome_index))[:FEED_MARKETS]
    return {
        "event": _event_fields(event, status=status, is_watched=is_watched),
        "main_pool": None if main is None else {"id": main.id, "name": main.name, "finish_at": main.finish_at},
        "markets": [{"id": m.id, "name": m.name, "yes_probability": market_price(m).yes_probability} for m in busiest],
        "total_volume": sum(market.volume for pool in pools for market in markets_by_pool.get(pool.id or 0, ())),
    }


@dataclass(frozen=True, slots=True)
class EventTree:
    """Everything the event shapes need for a set of events, loaded in one go."""

    pools: Mapping[int, list[Pool]]
    markets: Mapping[int, list[Market]]
    watched: set[int] | None  # None: anonymous caller, no is_watched field

    def _parts(self, event: Event) -> tuple[list[Pool], dict[str, Any]]:
        found = self.pools.get(event.id or 0, [])
        is_watched = None if self.watched is None else event.id in self.watched
        return found, {"status": events.event_status(event, found), "is_watched": is_watched}

    def event(self, event: Event) -> dict[str, Any]:
        found, extra = self._parts(event)
        return event_json(event, found, self.markets, **extra)

    def feed_item(self, event: Event) -> dict[str, Any]:
        found, extra = self._parts(event)
        return feed_item_json(event, found, self.markets, **extra)


async def load_tree(session: AsyncSession, actor: Actor, rows: Sequence[Event], *, watched: bool = True) -> EventTree:
    """``watched=False`` leaves ``is_watched`` out (write answers, shaped as the create example)."""
    ids = [event.id for event in rows if event.id is not None]
    pools_by_event = await events.pools_of(session, ids)
    pool_ids = [pool.id for found in pools_by_event.values() for pool in found if pool.id is not None]
    markets = await events.markets_of(session, pool_ids)
    flags = await watchlist.watched_ids(session, actor, ids) if watched else None
    return EventTree(pools_by_event, markets, flags)


async def events_json(
    session: AsyncSession, actor: Actor, rows: Sequence[Event], *, watched: bool = True
) -> list[dict[str, Any]]:
    tree = await load_tree(session, actor, rows, watched=watched)
    return [tree.event(event) for event in rows]


async def feed_json(session: AsyncSession, actor: Actor, page: Page[Event]) -> dict[str, Any]:
    tree = await load_tree(session, actor, page.items)
    return {
        "events": [tree.feed_item(event) for event in page.items],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }


async def pools_json(session: AsyncSession, rows: Sequence[Pool]) -> list[dict[str, Any]]:
    markets = await events.markets_of(session, [pool.id for pool in rows if pool.id is not None])
    return [pool_json(pool, markets.get(pool.id or 0, [])) for pool in rows]


def chart_json(points: Sequence[ChartPoint]) -> list[dict[str, Any]]:
    return [{"timestamp": point.timestamp, "values": list(point.values)} for point in points]


def market_chart_json(points: Sequence[MarketPoint]) -> list[dict[str, Any]]:
    return [{"timestamp": point.timestamp, "probability": point.probability} for point in points]
