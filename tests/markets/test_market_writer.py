"""Group commit per market (``services.market_writer`` + ``services.lmsr_batch``).

A batch is built deterministically: callers queued in one event-loop turn (``asyncio.gather``) are
all queued before the drainer task first runs, so it takes them as one batch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import Conflict, DomainError, InsufficientFunds, NotFound
from predictql.models import Market, Notification, Position, StreamEvent, Trade
from predictql.pricing import lmsr
from predictql.services import lmsr_batch, market_writer
from predictql.services.lmsr_trading import TradeRequest
from predictql.services.market_writer import MarketWriter
from predictql.services.pools import state_of
from predictql.settings import Settings
from predictql.subscriptions.topics import market_trades_channel
from tests.api.test_lmsr_api import FEE_BPS, balances, live_market, market_row, set_market, trade, trader
from tests.conftest import BACKEND
from tests.graphql.test_round_trips import app_client, count_statements, split
from tests.markets.test_concurrency import assert_ledger_balanced

__all__ = ["app_client"]  # a fixture, used by name below


def buy(user_id: int, market_id: int, amount: int = 1000, side: str = "buy_yes") -> lmsr_batch.TradeItem:
    return lmsr_batch.TradeItem(Actor(user_id=user_id), TradeRequest(market_id, side, "spend", amount), FEE_BPS)


async def outcomes(writer: MarketWriter, market_id: int, items: list[Any]) -> list[Any]:
    """Queue every item in one turn; each caller's result or its error."""
    return await asyncio.gather(*(writer.run(market_id, item) for item in items), return_exceptions=True)


async def trade_count(db: Database, user_id: int) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).where(col(Trade.user_id) == user_id)) or 0)


async def test_failures_in_the_middle_of_a_batch_fail_alone(db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    funded = [(await trader(db, settings, balance=50_000))[0] for _ in range(4)]
    broke = [(await trader(db, settings, balance=500))[0] for _ in range(2)]  # 500 < 1000 asked
    users = [funded[0], broke[0], funded[1], broke[1], funded[2], funded[3]]
    start = state_of(await market_row(db, mid))
    writer = MarketWriter(db)
    results = await outcomes(writer, mid, [buy(user, mid) for user in users])
    assert writer.batches == 1

    assert [type(r) for r in results] == [lmsr_batch.Traded, InsufficientFunds] * 2 + [lmsr_batch.Traded] * 2
    assert results[1].code == "INSUFFICIENT_BALANCE"
    # The successes are exactly the single trades one after the other, skipping the failed ones.
    state = start
    for result in (results[0], results[2], results[4], results[5]):
        quote = lmsr.quote_spend(state, lmsr.Side.BUY_YES, 1000, FEE_BPS)
        assert (result.result.shares, result.result.cost_or_payout) == (quote.shares, quote.total)
        assert result.result.new_position_yes == quote.shares
        state = quote.new_state
    assert state_of(await market_row(db, mid)) == state
    for user in broke:  # changed nothing
        assert (await balances(db, user)).cash == 500
        assert await trade_count(db, user) == 0
    for user, result in zip(funded, (results[0], results[2], results[4], results[5]), strict=True):
        assert (await balances(db, user)).cash == 50_000 - result.result.cost_or_payout
    async with db.session() as session:
        notified = await session.scalar(select(func.count()).where(col(Notification.user_id).in_(users)))
    assert notified == 4
    await assert_ledger_balanced(db)


async def test_a_sell_without_holding_and_a_paused_market_fail_alone(db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    a, b = [(await trader(db, settings, balance=50_000))[0] for _ in range(2)]
    writer = MarketWriter(db)
    sell = lmsr_batch.TradeItem(Actor(user_id=b), TradeRequest(mid, "sell_no", "shares", 10), FEE_BPS)
    close = lmsr_batch.CloseItem(Actor(user_id=b), FEE_BPS)
    first = await outcomes(writer, mid, [buy(a, mid), sell, close, buy(b, mid, side="buy_no"), close])
    assert isinstance(first[0], lmsr_batch.Traded) and isinstance(first[3], lmsr_batch.Traded)
    assert [(type(r), r.code) for r in (first[1], first[2])] == [(NotFound, "POSITION_NOT_FOUND")] * 2
    # The close after b's buy, in the same batch, sells exactly what that buy got.
    assert isinstance(first[4], lmsr_batch.Closed)
    (sale,) = first[4].result.trades
    assert sale.shares == first[3].result.shares and sale.new_position_no == 0
    await set_market(db, mid, paused=True)  # between batches
    second = await outcomes(writer, mid, [buy(a, mid), buy(b, mid)])
    assert [(type(r), r.code) for r in second] == [(Conflict, "MARKET_PAUSED")] * 2
    assert await trade_count(db, a) == 1
    await assert_ledger_balanced(db)


@dataclass(frozen=True)
class Probe:
    """A test item: its executor fails the whole batch on ``poison`` and waits on ``gate``."""

    name: str
    poison: bool = False
    gate: asyncio.Event | None = None
    outage: bool = False


SEEN: list[list[str]] = []


async def probe_executor(session: AsyncSession, market_id: int, items: list[Probe]) -> list[Any]:
    SEEN.append([item.name for item in items])
    for item in items:
        if item.gate is not None:
            await item.gate.wait()
    if any(item.poison for item in items):
        raise RuntimeError("poisoned")
    if any(item.outage for item in items):
        raise ConnectionError("the database is gone")
    return [DomainError("refused") if item.name.startswith("x") else item.name.upper() for item in items]


market_writer.register(Probe, probe_executor)


async def test_a_poisoned_item_fails_alone_and_a_cancelled_caller_blocks_nothing(db: Database) -> None:
    SEEN.clear()
    writer = MarketWriter(db)
    results = await outcomes(writer, 1, [Probe("a"), Probe("p", poison=True), Probe("xb"), Probe("c")])
    assert results[0] == "A" and results[3] == "C"
    assert isinstance(results[1], RuntimeError) and isinstance(results[2], DomainError)
    assert SEEN == [["a", "p", "xb", "c"], ["a"], ["p"], ["xb"], ["c"]]  # the batch, then each alone

    SEEN.clear()  # the database out of reach: everyone fails at once, nobody is retried alone
    results = await outcomes(writer, 1, [Probe("a"), Probe("o", outage=True), Probe("c")])
    assert all(isinstance(r, ConnectionError) for r in results) and SEEN == [["a", "o", "c"]]

    SEEN.clear()
    gate = asyncio.Event()
    busy = asyncio.create_task(writer.run(1, Probe("busy", gate=gate)))
    await asyncio.sleep(0)  # the drainer takes "busy" and waits on the gate
    await asyncio.sleep(0)
    queued = asyncio.create_task(writer.run(1, Probe("gone")))
    await asyncio.sleep(0)
    queued.cancel()
    gate.set()
    assert await busy == "BUSY"
    assert await writer.run(1, Probe("next")) == "NEXT"
    assert ["gone"] not in SEEN and SEEN[-1] == ["next"]
    with pytest.raises(asyncio.CancelledError):
        await queued
    await writer.aclose()
    assert not writer._drainers and not writer._queues


async def test_a_batch_starts_before_the_previous_batchs_callers_are_answered(db: Database) -> None:
    """Its first statements go out while the answers of the batch before are built and written."""
    SEEN.clear()
    writer = MarketWriter(db)
    gate = asyncio.Event()
    answered: list[str] = []

    async def run(name: str, gate: asyncio.Event | None = None) -> None:
        answered.append(await writer.run(1, Probe(name, gate=gate)))
        answered.append(f"then {len(SEEN)} batches")

    first = asyncio.create_task(run("a", gate))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    second = asyncio.create_task(run("b"))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, second)
    assert SEEN == [["a"], ["b"]] and answered == ["A", "then 2 batches", "B", "then 2 batches"]


async def test_items_queued_while_a_batch_waits_for_the_market_join_it(db: Database, settings: Settings) -> None:
    """Another process's batch holds the market (here: an open transaction that locked it); the
    trades queued meanwhile join the waiting batch once it has the lock: one batch, one commit,
    applied in arrival order."""
    market = await live_market(db)
    mid = market.id or 0
    users = [(await trader(db, settings, balance=50_000))[0] for _ in range(3)]
    start = state_of(await market_row(db, mid))
    writer = MarketWriter(db)
    async with db.transaction() as holder:
        await holder.execute(select(Market.id).where(col(Market.id) == mid).with_for_update())
        first = asyncio.create_task(writer.run(mid, buy(users[0], mid)))
        for _ in range(20):  # the drainer took the first trade and waits for the lock
            await asyncio.sleep(0.01)
        assert not first.done() and not writer._queues[mid]
        later = [asyncio.create_task(writer.run(mid, buy(user, mid))) for user in users[1:]]
        await asyncio.sleep(0.05)
        assert len(writer._queues[mid]) == 2  # queued behind the waiting batch, not taken yet
    results = [await first, *[await task for task in later]]
    assert writer.batches == 1
    state = start
    for result in results:  # in arrival order
        quote = lmsr.quote_spend(state, lmsr.Side.BUY_YES, 1000, FEE_BPS)
        assert (result.result.shares, result.result.cost_or_payout) == (quote.shares, quote.total)
        state = quote.new_state
    assert state_of(await market_row(db, mid)) == state
    await assert_ledger_balanced(db)


async def joining_executor(session: AsyncSession, market_id: int, items: list[Probe]) -> list[Any]:
    """``probe_executor`` that takes what queued meanwhile once its first item's gate opens."""
    if items[0].gate is not None:
        await items[0].gate.wait()
    return await probe_executor(session, market_id, [*items, *market_writer.joined(session)])


@dataclass(frozen=True)
class Joiner(Probe):
    pass


market_writer.register(Joiner, joining_executor)


async def test_joined_items_share_the_batch_and_its_retry_alone(db: Database) -> None:
    SEEN.clear()
    writer = MarketWriter(db)
    gate = asyncio.Event()
    first = asyncio.create_task(writer.run(1, Joiner("a", gate=gate)))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the drainer took "a" and waits on the gate
    later = [asyncio.create_task(writer.run(1, item)) for item in (Joiner("b"), Probe("other"), Joiner("c"))]
    await asyncio.sleep(0)
    gate.set()
    assert [await first, *[await task for task in later]] == ["A", "B", "OTHER", "C"]
    # "b" joined; the other executor's item stopped the join, so "c" waits for its own batch.
    assert SEEN == [["a", "b"], ["other"], ["c"]]

    SEEN.clear()  # a joined item that poisons the batch: each re-runs alone, and joins nothing then
    gate = asyncio.Event()
    first = asyncio.create_task(writer.run(1, Joiner("a", gate=gate)))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    later = [asyncio.create_task(writer.run(1, Joiner(name, poison=name == "p"))) for name in ("p", "xb")]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(first, *later, return_exceptions=True)
    assert results[0] == "A" and isinstance(results[1], RuntimeError) and isinstance(results[2], DomainError)
    assert SEEN == [["a", "p", "xb"], ["a"], ["p"], ["xb"]]
    await writer.aclose()


CONCURRENT = 64


async def test_many_concurrent_trades_on_one_market_are_all_accounted(
    app_client: tuple[httpx.AsyncClient, Database], settings: Settings
) -> None:
    http, app_db = app_client
    market = await live_market(app_db)
    mid = market.id or 0
    users = [await trader(app_db, settings, balance=100_000) for _ in range(16)]
    start = await market_row(app_db, mid)
    sides = ["buy_yes", "buy_no"]
    responses = await asyncio.gather(
        *(trade(http, users[i % 16][1], mid, sides[i % 2], 1000 + i) for i in range(CONCURRENT))
    )
    assert [r.status_code for r in responses] == [200] * CONCURRENT, [r.text for r in responses if r.is_error]
    bought = {"YES": 0, "NO": 0}
    for index, response in enumerate(responses):
        bought["YES" if index % 2 == 0 else "NO"] += response.json()["shares_delta"]
    end = await market_row(app_db, mid)
    assert (end.q_yes - start.q_yes, end.q_no - start.q_no) == (bought["YES"], bought["NO"])
    async with app_db.session() as session:
        held = dict(
            (
                await session.execute(
                    select(Position.token, func.sum(Position.amount))
                    .where(col(Position.market_id) == mid, col(Position.status) == "open")
                    .group_by(col(Position.token))
                )
            ).all()
        )
        trades = await session.scalar(select(func.count()).where(col(Trade.market_id) == mid))
        seqs = list(
            await session.scalars(
                select(StreamEvent.seq)
                .where(col(StreamEvent.channel) == market_trades_channel(mid))
                .order_by(col(StreamEvent.seq))
            )
        )
    assert held == bought and trades == CONCURRENT
    assert seqs == list(range(seqs[0], seqs[0] + CONCURRENT))  # one tick per trade, contiguous
    await assert_ledger_balanced(app_db)


@pytest.mark.parametrize("size", [4, 48])
async def test_a_batch_issues_a_constant_number_of_statements(
    app_client: tuple[httpx.AsyncClient, Database], settings: Settings, size: int
) -> None:
    _, app_db = app_client
    market = await live_market(app_db)
    mid = market.id or 0
    users = [(await trader(app_db, settings, balance=100_000))[0] for _ in range(size)]
    writer = MarketWriter(app_db)
    await outcomes(writer, mid, [buy(user, mid) for user in users])  # everyone holds a position now
    items = [buy(user, mid, side="buy_yes" if i % 3 else "buy_no") for i, user in enumerate(users)]
    items[0] = lmsr_batch.TradeItem(Actor(user_id=users[0]), TradeRequest(mid, "sell_yes", "shares", 5), FEE_BPS)
    with count_statements(app_db) as seen:
        results = await outcomes(writer, mid, items)
    assert all(not isinstance(r, BaseException) for r in results), results
    if BACKEND == "sqlite":
        # SQLAlchemy inserts row by row when it must return ids in order on SQLite (an in-process
        # call, no round trip); every other statement is one per batch there too.
        seen = [s for s in seen if not (s.startswith("INSERT") and "RETURNING" in s and "), (" not in s)]
    statements, sessions = split(seen)
    assert sessions == 1
    # Lock, traders, positions, accounts (2), one flush (trades, price points, positions in and
    # out, the market), the ledger (3), notifications, the chart's siblings, the commit hooks.
    assert statements <= 26, "\n".join(seen)
    STATEMENTS[size] = statements
    if len(STATEMENTS) == 2:
        assert abs(STATEMENTS[48] - STATEMENTS[4]) <= 2, STATEMENTS  # 12x the trades, not 12x the statements


STATEMENTS: dict[int, int] = {}


async def test_the_market_row_is_unchanged_by_a_batch_that_all_fails(db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    user, _ = await trader(db, settings, balance=0)
    before = await market_row(db, mid)
    results = await outcomes(MarketWriter(db), mid, [buy(user, mid), buy(user, mid, side="buy_no")])
    assert all(isinstance(r, InsufficientFunds) for r in results)
    after = await market_row(db, mid)
    assert (after.q_yes, after.q_no, after.volume) == (before.q_yes, before.q_no, before.volume)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).where(col(Market.id) == mid)) == 1
