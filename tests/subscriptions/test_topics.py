"""What the services publish, and when: only after the commit, nothing on a rollback."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import update
from sqlmodel import col

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import InsufficientFunds
from predictql.models import Event
from predictql.services import lmsr_trading, pools, resolution
from predictql.services.lmsr_trading import TradeRequest
from predictql.settings import Settings
from predictql.subscriptions import topics
from predictql.subscriptions.payloads import ChartTick, MarketState, NotificationTick, TradeTick
from tests.api.test_lmsr_api import set_market, trader
from tests.markets.factories import create_market_setup, creator_actor


@dataclass
class Recorder:
    published: list[tuple[str, str]] = field(default_factory=list)

    async def publish(self, channel: str, message: str) -> None:
        self.published.append((channel, message))

    def on(self, channel: str) -> list[str]:
        return [message for name, message in self.published if name == channel]


@pytest.fixture
def recorded(db: Database) -> tuple[Database, Recorder]:
    recorder = Recorder()
    return Database(db.engine, publisher=recorder), recorder


async def buy(db: Database, user_id: int, market_id: int, amount: int = 5_000) -> lmsr_trading.TradeResult:
    async with db.transaction() as session:
        return await lmsr_trading.trade(
            session, Actor(user_id=user_id), TradeRequest(market_id, "buy_yes", "spend", amount), fee_bps=200
        )


async def test_a_trade_publishes_its_trade_market_state_and_chart_point_after_commit(
    db: Database, settings: Settings, recorded: tuple[Database, Recorder]
) -> None:
    database, recorder = recorded
    _, pool, markets = await create_market_setup(db, probabilities=(0.5, 0.3, 0.2), names=("A", "B", "C"))
    user, _ = await trader(db, settings, balance=100_000, nickname="alice")
    market = markets[1]
    assert market.id is not None and pool.id is not None

    result = await buy(database, user, market.id)

    assert [channel for channel, _ in recorder.published] == [
        topics.market_trades_channel(market.id),
        topics.TRADES,
        topics.user_fills_channel(user),
        topics.market_channel(market.id),
        topics.event_chart_channel(market.event_id),
        topics.user_notifications_channel(user),
    ]  # no commit hook on this Database: the position and balance (marked, emitted at the end) are not here
    note = NotificationTick.from_json(recorder.on(topics.user_notifications_channel(user))[0])
    assert (note.user_id, note.type, note.related_type, note.related_id) == (
        user,
        "trade_executed",
        "market",
        market.id,
    )
    assert note.read is False and note.read_at is None and note.created_at.tzinfo is not None
    tick = TradeTick.from_json(recorder.on(topics.TRADES)[0])
    assert (tick.id, tick.market_id, tick.pool_id, tick.side, tick.token) == (
        result.trade_id,
        market.id,
        pool.id,
        "buy",
        "YES",
    )
    assert (tick.name, tick.market, tick.event, tick.shares) == ("alice", "B", "Test event", result.shares)
    assert tick.simple() == {
        "amount": tick.amount,
        "name": "alice",
        "token": "YES",
        "event": "Test event",
        "market": "B",
        "avatar": None,
    }
    state = MarketState.from_json(recorder.on(topics.market_channel(market.id))[0])
    assert (state.q_yes, state.volume) == (result.market.q_yes, result.market.volume)
    assert state.yes_price + state.no_price == 10_000 and state.yes_probability > 0.3
    chart = ChartTick.from_json(recorder.on(topics.event_chart_channel(market.event_id))[0])
    assert chart.pool_id == pool.id and len(chart.values) == 3
    assert chart.values[1] == pytest.approx(state.yes_probability) and chart.values[0] == pytest.approx(0.5)


async def test_a_rolled_back_trade_publishes_nothing(
    db: Database, settings: Settings, recorded: tuple[Database, Recorder]
) -> None:
    database, recorder = recorded
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=10)
    with pytest.raises(InsufficientFunds):
        await buy(database, user, market.id or 0)
    assert recorder.published == []


async def test_hidden_events_and_profiles_stay_off_the_platform_wide_feed(
    db: Database, settings: Settings, recorded: tuple[Database, Recorder]
) -> None:
    database, recorder = recorded
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000, hidden=True)
    assert market.id is not None
    await buy(database, user, market.id)
    assert TradeTick.from_json(recorder.on(topics.TRADES)[0]).name == "Anonymous"  # as latestTrades shows it

    recorder.published.clear()
    async with db.transaction() as session:  # the event is hidden; its holders may still sell
        await session.execute(update(Event).where(col(Event.id) == market.event_id).values(is_active=False))
    async with database.transaction() as session:
        await lmsr_trading.close_position(session, Actor(user_id=user), market_id=market.id, fee_bps=200)
    assert recorder.on(topics.TRADES) == []
    assert len(recorder.on(topics.market_trades_channel(market.id))) == 1


async def test_retargeting_and_resolving_publish_market_states_and_points(
    db: Database, recorded: tuple[Database, Recorder]
) -> None:
    database, recorder = recorded
    creator, pool, markets = await create_market_setup(db, probabilities=(0.6, 0.4))
    actor = creator_actor(creator)
    event_id, pool_id = markets[0].event_id, pool.id or 0

    async with database.transaction() as session:
        await pools.set_probabilities(session, actor, event_id, pool_id, [0.7, 0.3])
    states = [MarketState.from_json(recorder.on(topics.market_channel(m.id or 0))[0]) for m in markets]
    assert [round(s.yes_probability, 6) for s in states] == [0.7, 0.3]
    (point,) = recorder.on(topics.event_chart_channel(event_id))
    assert [round(v, 6) for v in ChartTick.from_json(point).values] == [0.7, 0.3]

    recorder.published.clear()
    async with database.transaction() as session:
        await resolution.close_pool(session, actor, event_id, pool_id, resolution.Verdict(outcome=1))
    final = [MarketState.from_json(recorder.on(topics.market_channel(m.id or 0))[-1]) for m in markets]
    assert [(s.resolved, s.winning_outcome) for s in final] == [(True, "NO"), (True, "YES")]
    assert ChartTick.from_json(recorder.on(topics.event_chart_channel(event_id))[-1]).values == (0.0, 1.0)


async def test_cancelling_an_event_publishes_resolved_markets(
    db: Database, recorded: tuple[Database, Recorder]
) -> None:
    database, recorder = recorded
    creator, _, (market,) = await create_market_setup(db)
    await set_market(db, market.id or 0, paused=True)
    async with database.transaction() as session:
        await resolution.cancel_event(session, creator_actor(creator), market.event_id)
    state = MarketState.from_json(recorder.on(topics.market_channel(market.id or 0))[0])
    assert (state.resolved, state.winning_outcome, state.paused) == (True, None, True)
