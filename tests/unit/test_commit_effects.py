"""``CommitEffects``: what a transaction sets off is one object the commit hands on. A savepoint that
rolls back restores it as it was; a transaction that rolls back publishes nothing and runs nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.commit_effects import AfterCommit, CommitEffects, effects
from predictql.db import Database, after_commit, emit
from predictql.errors import Conflict
from predictql.models import Order, Position
from predictql.services import accounts, live, lmsr_trading, order_lifecycle, orderbook_trading
from predictql.services.lmsr_trading import TradeRequest
from predictql.services.orderbook_trading import OrderRequest
from predictql.settings import Settings
from predictql.subscriptions import stream_log, topics
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup
from tests.subscriptions.test_topics import Recorder
from tests.support import unique_email


def _order(market_id: int, price: int, side: str = "buy") -> Order:
    return Order(
        user_id=1, market_id=market_id, event_id=1, side=side, token="YES", kind="limit", price=price, amount=1, seq=1
    )


async def _noop() -> None:
    return None


def _state(queued: CommitEffects) -> tuple[object, ...]:
    return (
        list(queued.messages),
        list(queued.callbacks),
        dict(queued.orders),
        dict(queued.positions),
        set(queued.balances),
        {market: set(levels) for market, levels in queued.book.items()},
    )


def test_restore_returns_every_field_to_its_snapshot() -> None:
    queued = CommitEffects()
    kept_order = _order(7, 4000)
    queued.messages.append(("a", "1"))
    queued.callbacks.append(_noop)
    queued.orders[id(kept_order)] = kept_order
    queued.balances.add(1)
    queued.book[7] = {(True, 4000)}
    before = _state(queued)
    saved = queued.snapshot()

    later = _order(8, 3000)
    queued.messages.append(("b", "2"))
    queued.callbacks.append(_noop)
    queued.orders[id(later)] = later
    queued.balances.add(2)
    queued.book[7].add((False, 6000))  # a set that existed at the snapshot, changed in place
    queued.book[8] = {(True, 3000)}
    assert _state(queued) != before

    queued.restore(saved)
    assert _state(queued) == before


def test_the_marking_functions_fill_the_sessions_object() -> None:
    session = AsyncSession()  # never bound: nothing here touches a database
    order = _order(5, 2500, side="sell")
    topics.orders_changed(session, [order])
    topics.book_changed(session, [order])
    topics.balances_changed(session, [3, 4])
    emit(session, "c", "m")
    queued = effects(session)
    assert queued is effects(session)  # one object per session
    assert list(queued.orders.values()) == [order]
    assert queued.book == {5: {(False, 2500)}}  # a YES sell is an ask
    assert queued.balances == {3, 4}
    assert queued.messages == [("c", "m")]
    marked = topics.take_marked(session)
    assert marked.orders == [order] and marked.balances == {3, 4}
    assert not topics.take_marked(session)  # taken once
    assert [key for key in session.info if isinstance(key, str)] == []


@pytest.fixture
def streamed(db: Database) -> tuple[Database, Recorder]:
    """The app's commit hooks: marked states emitted as they are at the end, then numbered."""
    recorder = Recorder()
    database = Database(db.engine, publisher=recorder)
    database.commit_hooks.append(live.final_states(0))
    database.commit_hooks.append(stream_log.sequence)
    return database, recorder


async def _new_user(database: Database) -> int:
    async with database.transaction() as session:
        user = await accounts.create_user(session, email=unique_email("fx"), password=None, verified=True)
        assert user.id is not None
        return user.id


async def test_a_failed_savepoint_drops_only_its_own_effects(streamed: tuple[Database, Recorder]) -> None:
    database, recorder = streamed
    kept_user, dropped_user = await _new_user(database), await _new_user(database)
    recorder.published.clear()
    ran: list[str] = []

    def callback(name: str) -> AfterCommit:
        async def run() -> None:
            ran.append(name)

        return run

    async with database.unit() as unit:
        async with database.transaction() as session:
            topics.balances_changed(session, [kept_user])
            emit(session, "test:effects", "kept")
            after_commit(session, callback("kept"))
        with pytest.raises(Conflict):
            async with database.transaction() as session:
                topics.balances_changed(session, [dropped_user])
                emit(session, "test:effects", "dropped")
                after_commit(session, callback("dropped"))
                raise Conflict("refused after queueing")
        async with database.transaction() as session:
            emit(session, "test:effects", "after")
        assert recorder.published == [] and ran == []  # nothing before the commit

        async def nothing(_session: AsyncSession) -> None:
            return None

        assert await database.commit_unit(unit, nothing)

    assert ran == ["kept"]
    balances = [channel for channel, _ in recorder.published if channel.endswith(":balance")]
    assert balances == [topics.user_balance_channel(kept_user)]
    ours = [stream_log.split(message) for channel, message in recorder.published if channel == "test:effects"]
    assert [payload for _, payload, _ in ours] == ["kept", "after"]
    first, second = (seq for seq, _, _ in ours)
    assert first > 0 and second == first + 1  # numbered, with no hole where the dropped one was


async def test_a_rolled_back_transaction_publishes_nothing_and_runs_nothing(
    streamed: tuple[Database, Recorder],
) -> None:
    database, recorder = streamed
    user_id = await _new_user(database)
    recorder.published.clear()
    ran: list[str] = []

    async def callback() -> None:
        ran.append("ran")

    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            topics.balances_changed(session, [user_id])
            emit(session, "test:effects", "never")
            after_commit(session, callback)
            raise RuntimeError("rolled back")
    async with database.transaction() as session:
        emit(session, "test:effects", "next")
    assert ran == []
    assert [stream_log.split(message)[1] for _, message in recorder.published] == ["next"]


async def test_an_order_marked_before_a_failed_savepoint_is_sent_as_it_is_at_the_commit(
    db: Database, settings: Settings, streamed: tuple[Database, Recorder]
) -> None:
    """The failed savepoint had cancelled the order (and so expired the instance): the message
    carries the order as the commit leaves it, resting (``pending``), once."""
    database, recorder = streamed
    _, _, (market,) = await create_market_setup(db, market_type="orderbook", probabilities=(0.5,))
    user, _ = await trader(db, settings, balance=1_000_000)
    recorder.published.clear()
    request = OrderRequest(market.id or 0, "buy", "YES", "limit", 30_000, 6000)
    async with database.unit() as unit:
        async with database.transaction() as session:
            placed = await orderbook_trading.place_order(session, Actor(user_id=user), request, fee_bps=0)
        with pytest.raises(Conflict):
            async with database.transaction() as session:
                await order_lifecycle.cancel_order(session, Actor(user_id=user), order_id=placed.order.id or 0)
                await session.flush()
                raise Conflict("refused after cancelling")

        async def nothing(_session: AsyncSession) -> None:
            return None

        assert await database.commit_unit(unit, nothing)

    orders = _payloads(recorder, topics.user_orders_channel(user))
    assert [(order["id"], order["status"], order["remaining"]) for order in orders] == [
        (placed.order.id, "pending", 30_000)
    ]
    (book,) = _payloads(recorder, topics.market_book_channel(market.id or 0))
    assert book["bids"] and not book["asks"]


async def test_a_position_marked_before_a_failed_savepoint_is_sent_as_it_is_at_the_commit(
    db: Database, settings: Settings, streamed: tuple[Database, Recorder]
) -> None:
    """A second buy grew the position, then failed: the instance was expired by the rollback, and
    the one message says what the first buy left (nothing else reads the position back)."""
    database, recorder = streamed
    _, _, (market,) = await create_market_setup(db, probabilities=(0.5,))
    user, _ = await trader(db, settings, balance=1_000_000)
    recorder.published.clear()
    buy = TradeRequest(market.id or 0, "buy_yes", "spend", 10_000, False)
    async with database.unit() as unit:
        async with database.transaction() as session:
            await lmsr_trading.trade(session, Actor(user_id=user), buy, fee_bps=0)
        async with database.session() as session:
            (amount,) = await session.scalars(select(col(Position.amount)).where(col(Position.user_id) == user))
        with pytest.raises(Conflict):
            async with database.transaction() as session:
                await lmsr_trading.trade(session, Actor(user_id=user), buy, fee_bps=0)
                await session.flush()
                raise Conflict("refused after buying again")

        async def nothing(_session: AsyncSession) -> None:
            return None

        assert await database.commit_unit(unit, nothing)

    positions = _payloads(recorder, topics.user_positions_channel(user))
    assert [int(position["amount"]) for position in positions] == [amount]


def _payloads(recorder: Recorder, channel: str) -> list[dict[str, Any]]:
    return [json.loads(stream_log.split(message)[1]) for name, message in recorder.published if name == channel]
