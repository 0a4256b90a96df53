"""Loop events run themselves: rounds of "<SYMBOL> above <opening price> at <end>?".

An event with ``is_loop_event``, ``loop_interval_minutes`` and ``asset_symbol`` (``BTC`` or
``BTCUSDT``; prices are read for ``BTCUSDT``) has at most one open round, a pool of one LMSR
market. Every ``PREDICTQL_LOOP_TICK_SECONDS`` each process looks for events whose round has
ended (or that have none) and, under the event's row lock (so exactly one process does it):

1. opens the next round at the previous round's end (or now, after a pause) for one interval,
   at the current recorded price, which must be fresh (not older than
   ``PREDICTQL_PRICE_STALE_SECONDS``); without one, no round opens and the next tick tries again;
2. settles each ended round from the recorded price at its end (``assets.price_at``): YES when it
   is strictly above the opening price, NO otherwise. With no price recorded at the end, or only
   one older than the stale age then, the round is cancelled and every position refunded at its
   purchase price: a round is never settled on a guess.

Only active events that are neither cancelled nor closed loop. A minute of
``loop_interval_minutes`` lasts ``PREDICTQL_LOOP_MINUTE_SECONDS`` (60; tests shorten it).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.models import Asset, Event, Pool
from predictql.services import assets, periodic, pools, resolution
from predictql.services.pools import PoolFields
from predictql.settings import Settings

log = logging.getLogger("predictql.loops")


def price_symbol(event_symbol: str) -> str:
    """``BTC`` and ``BTCUSDT`` both follow the BTCUSDT price."""
    return event_symbol if event_symbol.endswith("USDT") else f"{event_symbol}USDT"


def _looping() -> list[object]:
    return [
        col(Event.is_loop_event).is_(True),
        col(Event.asset_symbol).is_not(None),
        col(Event.loop_interval_minutes) > 0,
        col(Event.is_active).is_(True),
        col(Event.cancelled_at).is_(None),
        col(Event.closed_at).is_(None),
    ]


async def due(session: AsyncSession, now: datetime) -> list[int]:
    """Loop events with no round open past ``now``."""
    running = select(Pool.event_id).where(col(Pool.closed_at).is_(None), col(Pool.finish_at) > now)
    rows = await session.scalars(
        select(Event.id).where(*_looping(), col(Event.id).not_in(running)).order_by(col(Event.id))  # type: ignore[arg-type]
    )
    return [row for row in rows if row is not None]


async def _fresh_price(session: AsyncSession, symbol: str, now: datetime, stale_seconds: float) -> int | None:
    asset = await session.scalar(select(Asset).where(col(Asset.symbol) == symbol))
    if asset is None or asset.price_e8 is None or asset.price_updated_at is None:
        return None
    return asset.price_e8 if now - asset.price_updated_at <= timedelta(seconds=stale_seconds) else None


async def _open_round(
    session: AsyncSession, event: Event, settings: Settings, start: datetime, opening_e8: int
) -> Pool:
    assert event.id is not None and event.asset_symbol is not None
    symbol = price_symbol(event.asset_symbol)
    end = start + timedelta(seconds=event.loop_interval_minutes * settings.loop_minute_seconds)
    price = assets.to_text(opening_e8)
    fields = PoolFields(
        name=f"{symbol} above {price} at {end:%Y-%m-%d %H:%M:%S} UTC?",
        name_ru=f"{symbol} выше {price} в {end:%Y-%m-%d %H:%M:%S} UTC?",
        live_at=start,
        finish_at=end,
        market_names=[f"{symbol} above {price}"],
        market_probabilities=[0.5],
        lmsr_b_kopecks=settings.loop_lmsr_b_kopecks,
        rules=f"Resolves YES if the recorded {symbol} price at {end:%Y-%m-%d %H:%M:%S} UTC is strictly above "
        f"{price}, NO otherwise. No fresh price then: cancelled and refunded at purchase price.",
        extra_metadata={
            "asset_symbol": symbol,
            "asset_base_price": assets.to_float(opening_e8),
            "asset_base_price_e8": opening_e8,
            "loop_round": True,
        },
    )
    system = Actor(user_id=event.creator_id, is_admin=True)  # the loop acts for the event's creator
    pool = await pools.create_pool(session, system, event.id, fields)
    event.main_pool_id = pool.id  # the feed card shows the running round
    return pool


async def _settle_round(session: AsyncSession, pool: Pool, settings: Settings) -> str | None:
    """The round's verdict from the recorded price at its end: "YES", "NO", or None (refunded)."""
    symbol = str(pool.meta.get("asset_symbol", ""))
    opening = pool.meta.get("asset_base_price_e8")
    closing = await assets.price_at(session, symbol, pool.finish_at, stale_seconds=settings.price_stale_seconds)
    winner = None if closing is None or not isinstance(opening, int) else ("YES" if closing > opening else "NO")
    await resolution.settle_pool(session, pool, winner)
    log.info("loop round %s of event %s: %s", pool.id, pool.event_id, winner or "cancelled, refunded")
    return winner


async def advance(session: AsyncSession, settings: Settings, event_id: int, now: datetime) -> bool:
    """Settle the event's ended rounds and open the next one; False when another process had."""
    event = await session.get(Event, event_id, with_for_update=True)  # one process at a time
    if event is None or event.asset_symbol is None or not event.is_loop_event or event.cancelled_at is not None:
        return False
    open_pools = list(
        await session.scalars(
            select(Pool)
            .where(col(Pool.event_id) == event_id, col(Pool.closed_at).is_(None))
            .order_by(col(Pool.finish_at))
            .with_for_update()
        )
    )
    if any(pool.finish_at > now for pool in open_pools):
        return False
    interval = timedelta(seconds=event.loop_interval_minutes * settings.loop_minute_seconds)
    last_end = open_pools[-1].finish_at if open_pools else None
    start = last_end if last_end is not None and now - last_end < interval else now
    # Open first: the event always has an open pool, so settling the last round never closes it.
    opening = await _fresh_price(session, price_symbol(event.asset_symbol), now, settings.price_stale_seconds)
    if opening is not None:
        await _open_round(session, event, settings, start, opening)
    for pool in open_pools:
        await _settle_round(session, pool, settings)
    return bool(open_pools) or opening is not None


async def step(db: Database, settings: Settings, now: datetime | None = None) -> int:
    """One pass over the due loop events; how many advanced."""
    now = now or utcnow()
    async with db.session() as session:
        event_ids = await due(session, now)
    advanced = 0
    for event_id in event_ids:
        try:
            async with db.transaction() as session:
                advanced += await advance(session, settings, event_id, now)
        except Exception:
            log.exception("loop event %s could not advance", event_id)
    return advanced


async def run_forever(db: Database, settings: Settings) -> None:
    await periodic.every(settings.loop_tick_seconds, lambda: step(db, settings), log, "the loop-event pass")
