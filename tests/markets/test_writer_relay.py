"""Market affinity (``services.writer_relay``): a writer item for a market another worker owns is
executed by that worker's ``MarketWriter`` and its outcome comes back whole.

Two relays in one process (a private directory each test, as the supervisor makes one), so every
path is deterministic: the real items and outcomes of both faces through the wire, the owner
unreachable or stopping (the item runs here), the connection lost after the send (503, no second
execution), a caller cancelled while its relayed item waits. Both stores: the relay is only sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import DomainError, InvalidInput, NotFound
from predictql.models import Order
from predictql.services import lmsr_batch, market_writer, order_writes
from predictql.services.lmsr_trading import TradeRequest
from predictql.services.market_writer import MarketWriter
from predictql.services.orderbook_trading import OrderRequest, Placed
from predictql.services.writer_relay import Relay, WriterStopped, read_frame
from predictql.settings import Settings
from tests.api.test_lmsr_api import FEE_BPS, live_market, trader
from tests.markets.test_concurrency import assert_ledger_balanced
from tests.markets.test_orderbook_services import book_market


@dataclass(frozen=True, slots=True)
class Echo:
    """A test item: answered ``("done", value, market_id)``; or its error; or it waits for the gate."""

    value: int
    fail: bool = False
    boom: bool = False
    gate: bool = False


@dataclass(slots=True)
class _State:
    executed: list[int]
    waiting: asyncio.Event
    gate: asyncio.Event


STATE = _State([], asyncio.Event(), asyncio.Event())


async def run_echo(session: AsyncSession, market_id: int, items: list[Echo]) -> list[Any]:
    for item in items:
        if item.gate:
            STATE.waiting.set()
            await STATE.gate.wait()
        if item.boom:
            raise RuntimeError("boom")
    STATE.executed.extend(item.value for item in items)
    return [InvalidInput("no", field="value") if item.fail else ("done", item.value, market_id) for item in items]


market_writer.register(Echo, run_echo)


@pytest.fixture(autouse=True)
def fresh_state() -> None:
    STATE.executed, STATE.waiting, STATE.gate = [], asyncio.Event(), asyncio.Event()


@contextlib.asynccontextmanager
async def relay_dir() -> AsyncIterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="pq-relay-"))  # short: a socket path has ~100 bytes
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def worker(db: Database, directory: Path) -> MarketWriter:
    writer = MarketWriter(db)
    writer.relay = Relay(directory, 2, writer.submit)
    await writer.relay.start()
    return writer


async def stop(*writers: MarketWriter) -> None:
    for writer in writers:
        if writer.relay is not None:
            await writer.relay.aclose()
        await writer.aclose()


@contextlib.asynccontextmanager
async def two_workers(db: Database) -> AsyncIterator[tuple[MarketWriter, MarketWriter]]:
    async with relay_dir() as directory:
        first, second = await worker(db, directory), await worker(db, directory)
        assert first.relay is not None and second.relay is not None
        assert (first.relay.index, second.relay.index) == (0, 1)  # each claimed its own slot
        try:
            yield first, second
        finally:
            await stop(first, second)


def roles(writers: tuple[MarketWriter, MarketWriter], market_id: int) -> tuple[MarketWriter, MarketWriter]:
    """(the owner of ``market_id``, the other)."""
    owner = market_id % 2
    return writers[owner], writers[1 - owner]


async def until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_a_relayed_item_joins_the_owners_batches_and_its_outcome_comes_back(db: Database) -> None:
    async with two_workers(db) as writers:
        owner, other = roles(writers, 1)
        version = db.version
        results = await asyncio.gather(*(other.run(1, Echo(n)) for n in range(5)), owner.run(1, Echo(5)))
        assert results == [("done", n, 1) for n in range(6)]
        assert sorted(STATE.executed) == list(range(6))
        assert other.batches == 0 and owner.batches >= 1  # all committed by the owner
        assert other.relay is not None and owner.relay is not None
        assert (other.relay.counts.sent, owner.relay.counts.served, other.relay.counts.local) == (5, 5, 0)
        assert db.version > version  # this process's caches know the owner committed
        # The item's own error, whole; the owner's other failures as they would be here.
        with pytest.raises(InvalidInput) as failed:
            await other.run(1, Echo(6, fail=True))
        assert (failed.value.code, failed.value.field, str(failed.value)) == ("INVALID_REQUEST", "value", "no")
        with pytest.raises(RuntimeError, match="RuntimeError: boom"):
            await other.run(1, Echo(7, boom=True))
        # The owner runs its own markets' items itself.
        assert await owner.run(1, Echo(8)) == ("done", 8, 1)
        assert owner.relay.counts.sent == 0


async def test_real_items_and_outcomes_of_both_faces_round_trip(db: Database, settings: Settings) -> None:
    lmsr_market = await live_market(db)
    lmsr_id = lmsr_market.id or 0
    _, book = await book_market(db)
    book_id = book.id or 0
    user, _ = await trader(db, settings, balance=500_000)
    actor = Actor(user_id=user)
    async with two_workers(db) as writers:
        _, lmsr_other = roles(writers, lmsr_id)
        _, book_other = roles(writers, book_id)
        traded = await lmsr_batch.trade(
            lmsr_other, actor, TradeRequest(lmsr_id, "buy_yes", "spend", 1000), fee_bps=FEE_BPS, want_after=True
        )
        assert isinstance(traded, lmsr_batch.Traded) and traded.result.shares > 0
        assert traded.after is not None and traded.after.market.id == lmsr_id  # the ORM row came across
        (view,) = traded.after.positions  # ORM rows with their relations, as the GraphQL face reads them
        assert (view.position.token, view.pool.id, view.event.id) == ("YES", lmsr_market.pool_id, view.pool.event_id)
        assert view.current_price > 0 and traded.after.balances.cash < 500_000
        closed = await lmsr_batch.close_holding(lmsr_other, actor, market_id=lmsr_id, fee_bps=FEE_BPS, want_after=True)
        assert isinstance(closed, lmsr_batch.Closed) and closed.result.proceeds > 0 and len(closed.result.trades) == 1
        with pytest.raises(DomainError):  # nothing left to close: its error, from the owner
            await lmsr_batch.close_holding(lmsr_other, actor, market_id=lmsr_id, fee_bps=FEE_BPS)

        request = OrderRequest(book_id, "buy", "YES", "limit", 1000, 40)
        placed = await order_writes.place(book_other, actor, request, fee_bps=FEE_BPS)
        assert isinstance(placed, Placed) and placed.order.status == "pending" and placed.order.price == 40
        cancelled = await order_writes.cancel(book_other, actor, order_id=placed.order.id or 0, fee_bps=FEE_BPS)
        assert isinstance(cancelled, Order) and cancelled.status == "cancelled"
        await order_writes.place(book_other, actor, request, fee_bps=FEE_BPS)
        every = await order_writes.cancel_all(book_other, actor, market_id=book_id, fee_bps=FEE_BPS)
        assert [order.status for order in every] == ["cancelled"]
        with pytest.raises(DomainError):
            await order_writes.close(book_other, actor, market_id=book_id, fee_bps=FEE_BPS)
        with pytest.raises(NotFound):  # an unknown order fails before it is queued, here
            await order_writes.cancel(book_other, actor, order_id=10**9, fee_bps=FEE_BPS)
        relayed = sum(w.relay.counts.sent for w in writers if w.relay is not None)
        assert relayed == 8  # every write above went to its market's owner
        assert sum(w.relay.counts.local for w in writers if w.relay is not None) == 0
    await assert_ledger_balanced(db)


def test_item_and_outcome_types_pickle_whole() -> None:
    actor = Actor(user_id=7, session_id="s", api_token_id=3, can_write=True)
    items = [
        lmsr_batch.TradeItem(actor, TradeRequest(1, "buy_yes", "spend", 1000), FEE_BPS, True),
        lmsr_batch.CloseItem(actor, FEE_BPS, True),
        order_writes.Queued(
            order_writes.orderbook_batch.Place(actor, OrderRequest(2, "buy", "YES", "limit", 9, 40)), 1
        ),
        order_writes.Queued(order_writes.orderbook_batch.Cancel(actor, 5), 1),
        order_writes.Queued(order_writes.orderbook_batch.CancelAll(actor), 1),
        order_writes.Queued(order_writes.orderbook_batch.Close(actor), 1),
        WriterStopped(),
    ]
    for item in items:
        again = pickle.loads(pickle.dumps(item, pickle.HIGHEST_PROTOCOL))
        if isinstance(item, DomainError):
            assert (type(again), again.args, again.__dict__) == (type(item), item.args, item.__dict__)
        else:
            assert again == item


async def test_an_unreachable_owner_leaves_the_item_to_run_here(db: Database) -> None:
    async with relay_dir() as directory:
        alone = await worker(db, directory)  # index 0; nobody listens for index 1
        try:
            assert await alone.run(1, Echo(1)) == ("done", 1, 1)
            assert await alone.run(1, Echo(2)) == ("done", 2, 1)  # not retried for a second: at once
            assert alone.relay is not None and (alone.relay.counts.local, alone.relay.counts.sent) == (2, 0)
            assert alone.batches == 2 and STATE.executed == [1, 2]
        finally:
            await stop(alone)


async def test_an_owner_stopping_refuses_and_a_stopped_one_is_unreachable(db: Database) -> None:
    async with two_workers(db) as writers:
        owner, other = roles(writers, 1)
        assert await other.run(1, Echo(1)) == ("done", 1, 1)  # the connection is open
        assert owner.relay is not None and other.relay is not None
        owner.relay._stopping = True  # what aclose does first: new items refused
        assert await other.run(1, Echo(2)) == ("done", 2, 1)
        assert (other.relay.counts.sent, other.relay.counts.local, other.batches) == (1, 1, 1)
        await owner.relay.aclose()  # its socket gone, its connections closed
        await until(lambda: all(c.closed for c in other.relay._connections.values()))
        assert await other.run(1, Echo(3)) == ("done", 3, 1)
        assert (other.relay.counts.local, other.batches) == (2, 2)
        assert STATE.executed == [1, 2, 3]


async def test_a_connection_lost_after_the_send_answers_503_and_never_runs_twice(db: Database) -> None:
    async with relay_dir() as directory:
        here = await worker(db, directory)
        assert here.relay is not None and here.relay.index == 0
        received: list[int] = []

        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.append((await read_frame(reader))[0])  # took the item, then died
            writer.close()

        owner = await asyncio.start_unix_server(swallow, path=str(here.relay.socket_path(1)))
        try:
            with pytest.raises(WriterStopped) as stopped:
                await here.run(1, Echo(1))
            assert stopped.value.code == "SERVICE_UNAVAILABLE" and stopped.value.retry_after
            assert len(received) == 1
            assert STATE.executed == [] and here.batches == 0  # not run here as well
            assert (here.relay.counts.lost, here.relay.counts.local) == (1, 0)
        finally:
            owner.close()
            await stop(here)


async def test_a_cancelled_caller_is_skipped_by_the_owner_while_queued(db: Database) -> None:
    async with two_workers(db) as writers:
        owner, other = roles(writers, 1)
        assert owner.relay is not None
        busy = asyncio.create_task(owner.run(1, Echo(1, gate=True)))  # the owner's batch holds the market
        await STATE.waiting.wait()
        relayed = asyncio.create_task(other.run(1, Echo(2)))
        await until(lambda: len(owner._queues.get(1, ())) == 1)  # queued at the owner behind it
        relayed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await relayed
        await until(lambda: not owner.relay._serving)  # the CANCEL arrived: its caller there is gone
        STATE.gate.set()
        assert await busy == ("done", 1, 1)
        await until(lambda: 1 not in owner._drainers)
        assert STATE.executed == [1] and owner.batches == 1  # the cancelled item never ran


async def test_one_process_has_no_relay(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from predictql.services import writer_relay

    monkeypatch.delenv(writer_relay.RELAY_DIR_ENV, raising=False)
    assert writer_relay.from_environment(True, lambda *_: asyncio.sleep(0)) is None
    monkeypatch.setenv(writer_relay.RELAY_DIR_ENV, "/nonexistent")
    monkeypatch.setenv(writer_relay.WORKERS_ENV, "2")
    assert writer_relay.from_environment(False, lambda *_: asyncio.sleep(0)) is None  # the setting off
    assert writer_relay.from_environment(True, lambda *_: asyncio.sleep(0)) is not None


def test_the_relay_works_on_uvloop_as_served() -> None:
    """``serve`` runs uvloop, whose transports are not ``asyncio.Transport`` subclasses."""
    import uvloop

    async def both_ends() -> list[Any]:
        async with relay_dir() as directory:

            def answer(market_id: int, item: Echo) -> asyncio.Future[Any]:
                future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                future.set_result(InvalidInput("no") if item.fail else ("done", item.value, market_id))
                return future

            relays = [Relay(directory, 2, answer), Relay(directory, 2, answer)]
            for relay in relays:
                await relay.start()
            try:
                first = await relays[0].call(1, Echo(1))
                failed = await relays[1].call(0, Echo(2, fail=True))
                return [first, type(failed), relays[0].counts.sent, relays[1].counts.served]
            finally:
                for relay in relays:
                    await relay.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(both_ends()) == [("done", 1, 1), InvalidInput, 1, 1]
