"""Snapshots for live streams: what a subscriber is shown on connect and again after a gap.

Each is one short read with the caller's visibility rules (a hidden event is as missing as an
unknown one); the payload shapes are ``subscriptions.topics``'s, so a snapshot and the live
messages that follow it look alike.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.errors import NotFound
from predictql.services import charts, events, pools
from predictql.services.charts import ChartPoint
from predictql.subscriptions.topics import ChartTick, MarketState


async def market_state(session: AsyncSession, actor: Actor, market_id: int) -> MarketState:
    """The market now; ``market_not_found`` when missing or hidden from ``actor``."""
    return MarketState.of(await pools.get_market(session, market_id, actor=actor))


async def _pool_id(session: AsyncSession, actor: Actor, event_id: int, pool_id: int | None) -> int | None:
    event = await events.get_visible(session, actor, event_id)
    return pool_id if pool_id is not None else event.main_pool_id


async def chart_state(session: AsyncSession, actor: Actor, event_id: int, pool_id: int | None = None) -> ChartTick:
    """The latest point of the event's pool ``pool_id`` (default: its main pool)."""
    chosen = await _pool_id(session, actor, event_id, pool_id)
    markets = (await events.markets_of(session, [chosen]))[chosen] if chosen is not None else []
    if not markets or markets[0].event_id != event_id:
        raise NotFound("pool not found", code="pool_not_found")
    return ChartTick.of(markets)


async def chart_history(session: AsyncSession, actor: Actor, event_id: int) -> tuple[int | None, list[ChartPoint]]:
    """The event's main pool and its chart at the default scale (empty before its first pool)."""
    chosen = await _pool_id(session, actor, event_id, None)
    if chosen is None:
        return None, []
    return chosen, await charts.pool_chart(session, actor, chosen)
