"""Loop events run themselves (``services.loops``): rounds open at the recorded price, settle from
the recorded price at their end (YES strictly above, NO otherwise), a missing or stale price
cancels and refunds, each round happens once; ``/events/asset-timeframes/{symbol}`` lists them."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

import httpx
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.models import Event, Market, Notification, Pool, Position
from predictql.schema.enums import NotificationType
from predictql.schema.notifications import Notification as GraphNotification
from predictql.services import assets, events, ledger, ledger_check, lmsr_trading, loops
from predictql.services.events import EventFields
from predictql.services.lmsr_trading import TradeRequest
from predictql.settings import Settings
from predictql.subscriptions import topics
from predictql.subscriptions.bus import Message
from predictql.subscriptions.payloads import ChartTick
from tests.conftest import make_settings
from tests.subscriptions.conftest import Live
from tests.support import create_user

MINUTE = 600.0  # seconds per loop minute in the stepped tests: rounds far longer than a test


async def loop_event(db: Database, *, symbol: str = "BTC", minutes: int = 1, name: str = "BTC 1m") -> int:
    creator = await create_user(db, is_creator=True)
    async with db.transaction() as session:
        event = await events.create_event(
            session,
            Actor(user_id=creator, is_creator=True),
            EventFields(name=name, name_ru=name + " ru", loop_interval_minutes=minutes, asset_symbol=symbol),
        )
        event.is_active = True
        assert event.id is not None
        return event.id


async def price(db: Database, value: str, at: datetime, symbol: str = "BTCUSDT") -> None:
    async with db.transaction() as session:
        await assets.record_price(
            session, symbol=symbol, price_e8=assets.parse_e8(value), source="bybit", as_of=at, record_seconds=1.0
        )


async def rounds(db: Database, event_id: int) -> list[Pool]:
    async with db.session() as session:
        return list(await session.scalars(select(Pool).where(col(Pool.event_id) == event_id).order_by(col(Pool.id))))


async def market_of(db: Database, pool_id: int) -> Market:
    async with db.session() as session:
        market = await session.scalar(select(Market).where(col(Market.pool_id) == pool_id))
    assert market is not None
    return market


async def buy_yes(db: Database, user_id: int, market_id: int, amount: int = 10_000) -> int:
    async with db.transaction() as session:
        result = await lmsr_trading.trade(
            session, Actor(user_id=user_id), TradeRequest(market_id, "buy_yes", "spend", amount), fee_bps=0
        )
    return result.cost_or_payout


async def cash(db: Database, user_id: int) -> int:
    async with db.session() as session:
        return (await ledger.balances(session, user_id)).cash


async def ledger_ok(db: Database) -> bool:
    async with db.session() as session:
        return (await ledger_check.check(session)).ok


def stepped(settings: Settings) -> Settings:
    return make_settings(settings.resolved_database_url, settings.data_dir, loop_minute_seconds=MINUTE)


async def test_three_rounds_resolve_from_recorded_prices(db: Database, settings: Settings) -> None:
    config = stepped(settings)
    event_id = await loop_event(db)
    interval = timedelta(seconds=MINUTE)
    t0 = utcnow() - timedelta(seconds=1)  # round 1 is live now, so it can be traded
    await price(db, "100", t0)
    assert await loops.step(db, config, now=t0) == 1
    assert await loops.step(db, config, now=t0) == 0  # the round is open: nothing to do twice
    (first,) = await rounds(db, event_id)
    assert first.live_at == t0 and first.finish_at == t0 + interval and first.closed_at is None
    assert first.name.startswith("BTCUSDT above 100 at ") and first.name.endswith(" UTC?")
    assert first.meta["asset_base_price"] == 100.0 and first.meta["loop_round"] is True
    market = await market_of(db, first.id or 0)
    trader = await create_user(db, balance=50_000)
    await buy_yes(db, trader, market.id or 0)
    units = await _units(db, trader, market.id or 0)

    # Round 1 ends above its opening price: YES; round 2 opens at its end, at 105.
    await price(db, "105", t0 + interval - timedelta(seconds=1))
    assert await loops.step(db, config, now=t0 + interval) == 1
    first, second = await rounds(db, event_id)
    assert first.closed_at is not None and first.won_side == 0
    assert second.live_at == first.finish_at and second.meta["asset_base_price_e8"] == assets.parse_e8("105")
    assert await cash(db, trader) == 50_000 - 10_000 + units  # one kopeck per winning unit
    async with db.session() as session:
        event = await session.get(Event, event_id)
    assert event is not None and event.closed_at is None and event.main_pool_id == second.id

    # Round 2 ends below (104 < 105): NO; round 3 opens at 104.
    await price(db, "104", t0 + 2 * interval - timedelta(seconds=1))
    assert await loops.step(db, config, now=t0 + 2 * interval) == 1
    _, second, third = await rounds(db, event_id)
    assert second.won_side == 1 and third.live_at == second.finish_at and third.meta["asset_base_price"] == 104.0

    # Round 3 ends equal to its opening price: not above, NO; round 4 opens.
    await price(db, "104", t0 + 3 * interval - timedelta(seconds=2))
    assert await loops.step(db, config, now=t0 + 3 * interval) == 1
    closed = [pool for pool in await rounds(db, event_id) if pool.closed_at is not None]
    assert [pool.won_side for pool in closed] == [0, 1, 1]
    assert len(await rounds(db, event_id)) == 4 and await ledger_ok(db)


async def _units(db: Database, user_id: int, market_id: int) -> int:
    async with db.session() as session:
        position = await session.scalar(
            select(Position).where(col(Position.user_id) == user_id, col(Position.market_id) == market_id)
        )
    assert position is not None
    return position.amount


async def test_a_missing_or_stale_price_cancels_and_refunds(db: Database, settings: Settings) -> None:
    config = stepped(settings)
    event_id = await loop_event(db)
    interval = timedelta(seconds=MINUTE)
    t0 = utcnow() - timedelta(seconds=1)
    await price(db, "100", t0)
    await loops.step(db, config, now=t0)
    (first,) = await rounds(db, event_id)
    trader = await create_user(db, balance=50_000)
    await buy_yes(db, trader, (await market_of(db, first.id or 0)).id or 0, amount=7_000)
    assert await cash(db, trader) == 43_000

    # Nothing recorded within the stale age (60 s) before the end: no verdict, refunded; and no
    # fresh price to open the next round at either.
    assert await loops.step(db, config, now=t0 + interval) == 1
    (first,) = await rounds(db, event_id)
    assert first.closed_at is not None and first.won_side is None
    market = await market_of(db, first.id or 0)
    assert market.resolved and market.winning_outcome is None
    assert await cash(db, trader) == 50_000 and await ledger_ok(db)
    async with db.session() as session:
        event = await session.get(Event, event_id)
        notes = (await session.scalars(select(Notification).where(col(Notification.user_id) == trader))).all()
    assert event is not None and event.closed_at is None and event.cancelled_at is None  # the loop goes on
    # The holder is told, like a holder of a cancelled event (no bet_won/bet_lost: nothing was decided).
    assert [(n.type, n.related_type, n.related_id) for n in notes if n.type != "trade_executed"] == [
        ("loop_round_refunded", "market", market.id)
    ]
    assert first.name in notes[-1].message
    shown = GraphNotification.from_row(notes[-1])  # the GraphQL face knows the type and the subject's kind
    assert shown.type is NotificationType.LOOP_ROUND_REFUNDED and str(shown.related_id).startswith("mkt_")

    # A fresh price again: the next round opens.
    later = t0 + interval + timedelta(seconds=30)
    await price(db, "99", later)
    assert await loops.step(db, config, now=later) == 1
    _, second = await rounds(db, event_id)
    assert second.closed_at is None and second.meta["asset_base_price"] == 99.0


async def test_hidden_cancelled_and_one_off_events_do_not_loop(db: Database, settings: Settings) -> None:
    config = stepped(settings)
    now = utcnow()
    await price(db, "100", now)
    hidden = await loop_event(db)
    async with db.transaction() as session:
        row = await session.get(Event, hidden)
        assert row is not None
        row.is_active = False
    one_off = await loop_event(db, minutes=0)
    assert await loops.step(db, config, now=now) == 0
    assert await rounds(db, hidden) == [] and await rounds(db, one_off) == []


async def test_asset_timeframes_lists_the_live_loops(client: httpx.AsyncClient, db: Database) -> None:
    five = await loop_event(db, minutes=5, name="BTC 5m")
    hour = await loop_event(db, symbol="BTCUSDT", minutes=60, name="BTC 1h")
    await loop_event(db, symbol="ETH", minutes=5, name="ETH 5m")
    response = await client.get("/api/v1/events/asset-timeframes/btcusdt")
    assert response.status_code == 200
    assert response.json() == [
        {"event_id": five, "loop_interval_minutes": 5, "name": "BTC 5m", "name_ru": "BTC 5m ru"},
        {"event_id": hour, "loop_interval_minutes": 60, "name": "BTC 1h", "name_ru": "BTC 1h ru"},
    ]
    assert (await client.get("/api/v1/events/asset-timeframes/DOGEUSDT")).json() == []
    bad = await client.get("/api/v1/events/asset-timeframes/BTC-USDT")
    assert bad.status_code == 400
    assert bad.json() == {"error": {"code": "INVALID_REQUEST", "message": "invalid symbol"}}  # the envelope


async def test_the_app_runs_a_loop_through_three_intervals(
    live_with: Callable[..., AbstractAsyncContextManager[Live]], db: Database
) -> None:
    """Real time: one loop minute lasts 0.3 s and the app's own runner ticks every 0.05 s."""
    event_id = await loop_event(db)
    settled: list[ChartTick] = []
    fast = {"loop_minute_seconds": 0.3, "loop_tick_seconds": 0.05, "price_record_seconds": 0.05}
    async with live_with(**fast) as live, live.bus.subscribe(topics.event_chart_channel(event_id)) as published:
        async with live.db.transaction() as session:  # one fresh price for all rounds: each ends NO
            await assets.set_price(session, None, symbol="BTCUSDT", price="100", record_seconds=0.05)

        async def three() -> None:
            # Each message on the event's chart channel (a round opened or settled; published after
            # its commit) is a cue to count the settled rounds in the database: chart points may be
            # coalesced on a loaded machine, so the test does not rely on seeing every one.
            while True:
                item = await anext(published)
                if isinstance(item, Message):
                    tick = ChartTick.from_json(item.text)
                    if tick.values in ((0.0,), (1.0,)):  # a resolved market's point
                        settled.append(tick)
                if sum(pool.closed_at is not None for pool in await rounds(db, event_id)) >= 3:
                    return

        await asyncio.wait_for(three(), 60)  # a guard: on a loaded 2-core machine rounds lag far behind 0.3 s
    pools = await rounds(db, event_id)
    closed = [pool for pool in pools if pool.closed_at is not None]
    assert len(closed) >= 3 and all(pool.won_side == 1 for pool in closed)  # 100 is not above 100
    assert all(tick.values == (0.0,) for tick in settled)  # each resolved point the chart showed is NO
    for before, after in itertools.pairwise(pools):
        assert after.live_at >= before.finish_at  # never overlapping (back to back unless the runner was late)
    assert len({pool.live_at for pool in pools}) == len(pools)
