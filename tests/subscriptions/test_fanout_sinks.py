"""A live shared subscription is handed over to a sink fed by its channel (``graphql_server.sinks``):
its task ends, frames keep their seq, and whatever the sink cannot send in sequence takes the
ordinary path again (replay, repair, gap), which hands over again once caught up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from predictql.db import Database
from predictql.graphql_server import sinks
from predictql.schema.subscriptions import StreamEventKind, StreamMessage
from predictql.settings import Settings
from predictql.subscriptions import topics
from predictql.subscriptions.bus import Bus, Heartbeat
from predictql.subscriptions.payloads import MarketState
from predictql.subscriptions.stream_log import wire
from predictql.subscriptions.streams import delivered
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup
from tests.ops.test_bus_lag import lag
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_fanout_fast_path import PRICE, pipeline_results
from tests.subscriptions.test_graphql_subscriptions import MARKET, buy, data, until_buffered
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, gid

DEADLINE = 20.0  # seconds a condition may take on a loaded machine


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def sink_of(op: str) -> sinks.Sink | None:
    """The live sink of the operation ``op`` (one socket per test holds it)."""
    found = [sink for operation, sink in sinks._sinks.items() if operation.id == op and not sink.stopped]
    assert len(found) <= 1
    return found[0] if found else None


def subscribers(bus: Bus) -> int:
    return bus.stats()["subscribers"]


def kinds(messages: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(m["kind"], m["seq"]) for m in messages]


async def test_a_live_subscription_becomes_a_sink_and_its_task_ends(
    live: Live, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    handled = pipeline_results(monkeypatch)
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)})
        assert data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
        await until(lambda: sink_of(op) is not None, "the sink")
        sink = sink_of(op)
        assert sink is not None and sink.operation.task is not None
        await until(lambda: sink.operation.task is not None and sink.operation.task.done(), "the task's end")
        assert subscribers(live.bus) == 1  # the sink alone reads the channel
        for seq in (1, 2, 3):
            await buy(live.db, user, mid)
            message = data(await ws.next(op), "marketUpdated")
            assert (message["kind"], message["seq"]) == ("LIVE", seq)
        assert sink_of(op) is sink  # the same sink sent all three
        assert handled == []
        await ws.nothing(0.2)


async def test_a_resumed_subscription_replays_then_a_sink_follows(live: Live, db: Database, settings: Settings) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    for _ in range(3):
        await buy(live.db, user, mid)
    query = (
        "subscription($m: ID!, $s: Long) { marketUpdated(marketId: $m, fromSeq: $s) { kind seq data { yesPrice } } }"
    )
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(query, {"m": gid(Kind.MARKET, mid), "s": 1})
        replayed = [data(await ws.next(op), "marketUpdated") for _ in range(2)]
        assert kinds(replayed) == [("LIVE", 2), ("LIVE", 3)]
        # A replay is not handed over mid-way: the next live message is sent by the ordinary
        # path, and the stream is handed over after it.
        await buy(live.db, user, mid)
        assert kinds([data(await ws.next(op), "marketUpdated")]) == [("LIVE", 4)]
        await until(lambda: sink_of(op) is not None, "the sink")
        await buy(live.db, user, mid)
        assert kinds([data(await ws.next(op), "marketUpdated")]) == [("LIVE", 5)]
        await ws.nothing(0.2)


async def test_complete_mid_stream_stops_the_sink_and_the_socket_s_close_stops_the_rest(
    live: Live, db: Database, settings: Settings
) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    async with GraphQLSocket(live.app) as ws:
        first = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)})
        second = await ws.subscribe(PRICE, {"m": gid(Kind.MARKET, mid)})
        for op in (first, second):
            assert data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
            await until(lambda op=op: sink_of(op) is not None, "the sink")
        await buy(live.db, user, mid)
        assert data(await ws.next(first), "marketUpdated")["seq"] == 1
        assert data(await ws.next(second), "marketUpdated")["seq"] == 1
        await ws.complete(first)
        await until(lambda: sink_of(first) is None, "the first sink's end")
        assert subscribers(live.bus) == 1
        await buy(live.db, user, mid)
        assert data(await ws.next(second), "marketUpdated")["seq"] == 2
        await ws.nothing(0.2)
        assert not ws.pending.get(first)  # nothing more for the completed operation
        # the id is free again: a new operation with it runs
        again = await ws.subscribe(PRICE, {"m": gid(Kind.MARKET, mid)})
        assert again == "3"
        assert data(await ws.next(again), "marketUpdated")["kind"] == "SNAPSHOT"
        await until(lambda: sink_of(again) is not None, "the third sink")
    await until(lambda: subscribers(live.bus) == 0, "the channel's end with the socket")
    assert sink_of(second) is None and sink_of(again) is None
    assert topics.market_channel(mid) not in {channel.name for channel in live.bus._channels.values()}


async def test_a_skipped_seq_takes_the_ordinary_path_then_a_sink_again(live: Live, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    mid = market.id or 0
    channel = topics.market_channel(mid)

    def state(yes_price: int) -> str:
        return MarketState(
            mid, 1, 1, 0.5, yes_price, 10_000 - yes_price, 0, 0, 0, False, False, None, datetime.now(UTC)
        ).to_json()

    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(PRICE, {"m": gid(Kind.MARKET, mid)})
        assert kinds([data(await ws.next(op), "marketUpdated")]) == [("SNAPSHOT", 0)]
        await until(lambda: sink_of(op) is not None, "the sink")
        first = sink_of(op)
        await live.bus.publish(channel, wire(1, state(6_000)))
        assert kinds([data(await ws.next(op), "marketUpdated")]) == [("LIVE", 1)]
        # seq 2 never came and the log has not got it: the ordinary path reads a snapshot
        await live.bus.publish(channel, wire(3, state(6_100)))
        repaired = [data(await ws.next(op), "marketUpdated") for _ in range(2)]
        assert [m["kind"] for m in repaired] == ["SNAPSHOT", "LIVE"] and repaired[1]["seq"] == 3
        await until(lambda: sink_of(op) is not None and sink_of(op) is not first, "a new sink")
        await live.bus.publish(channel, wire(4, state(6_200)))
        message = data(await ws.next(op), "marketUpdated")
        assert (message["kind"], message["seq"], message["yesPrice"]) == ("LIVE", 4, 6_200)
        assert subscribers(live.bus) == 1  # the first sink's cursor went to the ordinary path, then on
        await ws.nothing(0.2)


@pytest.mark.parametrize("send_now", [False, True], ids=["send", "send_now"])
async def test_a_slow_reader_s_sink_waits_then_is_left_behind_by_the_buffer(
    live_with: Callable[..., AbstractAsyncContextManager[Live]], db: Database, settings: Settings, send_now: bool
) -> None:
    """A sink whose socket takes no more waits for it in a task; the channel's buffer (2 messages
    here) leaves it behind like any subscriber, and the ordinary path sends one fresh snapshot.
    With ``SEND_NOW`` (``predictql serve``), a full socket refuses the pre-built frame and the sink
    waits on the ordinary ``send`` the same way."""
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=1_000_000)
    mid = market.id or 0
    async with live_with(bus_queue_size=2) as app:
        ws = GraphQLSocket(app.app, send_now=send_now)
        ws.from_app = asyncio.Queue(4)  # the "network" holds 4 frames, then the server's send waits
        async with ws:
            op = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)})
            assert data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
            await until(lambda: sink_of(op) is not None, "the sink")
            sink = sink_of(op)
            assert sink is not None
            for _ in range(8):  # nobody reads: four frames fit, the fifth waits, the rest pile up
                await buy(app.db, user, mid, 1_000)
            await until_buffered(app.bus, 8)
            assert sink.task is not None and not sink.task.done()  # waiting for room
            received = [data(await ws.next(op), "marketUpdated") for _ in range(6)]
            assert kinds(received[:5]) == [("LIVE", seq) for seq in range(1, 6)]
            assert kinds(received[5:]) == [("SNAPSHOT", 8)]  # 6 and 7 were dropped by the buffer
            await until(lambda: sink_of(op) is not None and sink_of(op) is not sink, "a new sink")
            await buy(app.db, user, mid, 1_000)
            assert kinds([data(await ws.next(op), "marketUpdated")]) == [("LIVE", 9)]
            await ws.nothing(0.2)


async def test_sinks_send_one_prebuilt_frame_per_message_straight_to_the_socket(
    live: Live, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the server offers ``SEND_NOW`` (``predictql serve``), a sink's LIVE frame goes to the
    socket as bytes built once per message for every sink of the same operation, variables and id."""
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    built: list[str] = []
    real = sinks.text_frame

    def counting(text: str) -> bytes:
        built.append(text)
        return real(text)

    monkeypatch.setattr(sinks, "text_frame", counting)
    async with GraphQLSocket(live.app, send_now=True) as one, GraphQLSocket(live.app, send_now=True) as two:
        ops = [await ws.subscribe(PRICE, {"m": gid(Kind.MARKET, mid)}) for ws in (one, two)]
        assert ops[0] == ops[1]  # the same id: the same frame
        for ws, op in ((one, ops[0]), (two, ops[1])):
            assert kinds([data(await ws.next(op), "marketUpdated")]) == [("SNAPSHOT", 0)]
        await until(lambda: len([s for s in sinks._sinks.values() if not s.stopped]) == 2, "two sinks")
        before = (one.frames_now, two.frames_now)
        for seq in (1, 2, 3):
            await buy(live.db, user, mid)
            for ws, op in ((one, ops[0]), (two, ops[1])):
                assert kinds([data(await ws.next(op), "marketUpdated")]) == [("LIVE", seq)]
        assert (one.frames_now - before[0], two.frames_now - before[1]) == (3, 3)
        assert len(built) == 3  # once per message, not per socket
        await one.nothing(0.2)


async def test_a_heartbeat_is_executed_once_for_every_subscriber(
    live: Live, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages without data (HEARTBEAT) are the same for every subscriber of one operation: they
    were executed per subscriber, a cost that grows with the subscribers, not the messages."""
    _, _, (market,) = await create_market_setup(db)
    mid = market.id or 0
    executed: list[Any] = []
    original = StrawberryGraphQLCoreExecutionContext.execute_operation

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        root = self.root_value
        if isinstance(root, StreamMessage) and root.kind is StreamEventKind.HEARTBEAT:
            executed.append(root.seq)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_operation", counting)
    async with GraphQLSocket(live.app) as one, GraphQLSocket(live.app) as two:
        ops = [await ws.subscribe(PRICE, {"m": gid(Kind.MARKET, mid)}) for ws in (one, two)]
        for ws, op in ((one, ops[0]), (two, ops[1])):
            assert kinds([data(await ws.next(op), "marketUpdated")]) == [("SNAPSHOT", 0)]
        await until(lambda: len([s for s in sinks._sinks.values() if not s.stopped]) == 2, "two sinks")
        channel = next(c for c in live.bus._channels.values() if c.name == topics.market_channel(mid))
        channel.fan_out(Heartbeat(0))
        for ws, op in ((one, ops[0]), (two, ops[1])):
            assert kinds([data(await ws.next(op), "marketUpdated")]) == [("HEARTBEAT", 0)]
        assert executed == [0]


async def test_a_sink_that_fails_hands_its_stream_back_and_the_bus_goes_on(
    live: Live, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sink runs inside the channel's fan-out: an error there must not stop the bus listener."""
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    failures: list[object] = []
    real = sinks.encoded

    def failing(value: object) -> str:
        if not failures:
            failures.append(value)
            raise RuntimeError("boom")
        return real(value)

    monkeypatch.setattr(sinks, "encoded", failing)
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(PRICE, {"m": gid(Kind.MARKET, mid)})
        assert kinds([data(await ws.next(op), "marketUpdated")]) == [("SNAPSHOT", 0)]
        await until(lambda: sink_of(op) is not None, "the sink")
        await buy(live.db, user, mid)  # the sink fails on it: the ordinary path sends it
        assert kinds([data(await ws.next(op), "marketUpdated")]) == [("LIVE", 1)]
        assert len(failures) == 1
        await until(lambda: sink_of(op) is not None, "a new sink")
        await buy(live.db, user, mid)
        assert kinds([data(await ws.next(op), "marketUpdated")]) == [("LIVE", 2)]
        await ws.nothing(0.2)


async def test_the_bus_s_shutdown_records_the_deliveries_of_its_last_fan_out(
    live: Live, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fan-out's LIVE deliveries are recorded one loop step after it (``sinks._tally``): a loop that
    ends with the process may never run that step, so the bus's shutdown records them at once."""
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)})
        assert data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
        await until(lambda: sink_of(op) is not None, "the sink")
        sink = sink_of(op)
        assert sink is not None
        channel = sink._channel

        def recorded() -> tuple[float, float]:
            """LIVE deliveries counted on the sink's stream, and lags observed."""
            return delivered(sink.stream, "LIVE")._value.get(), lag()[0]

        before = recorded()
        at_close: list[tuple[float, float]] = []
        receive = channel.receive

        def receive_then_close(text: str) -> None:
            receive(text)  # the fan-out: the sink sends the message
            channel.close()  # and the bus shuts down in the same loop step (``Bus.disconnect``)
            at_close.append(recorded())

        monkeypatch.setattr(channel, "receive", receive_then_close)
        await buy(live.db, user, mid)
        assert kinds([data(await ws.next(op), "marketUpdated")]) == [("LIVE", 1)]
        assert at_close == [(before[0] + 1, before[1] + 1)]
        assert (await ws.next(op))["type"] == "complete"
