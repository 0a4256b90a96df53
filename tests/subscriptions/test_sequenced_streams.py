"""Sequenced, resumable streams: per-channel seq in commit order, the stored log, fromSeq replay,
heartbeats, and repair of messages the bus lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database, emit
from predictql.models import StreamEvent, StreamHead
from predictql.services import lmsr_trading
from predictql.services.lmsr_trading import TradeRequest
from predictql.settings import Settings
from predictql.subscriptions import stream_log, streams, topics
from predictql.subscriptions.payloads import MarketState, TradeTick
from predictql.subscriptions.stream_log import StreamLog
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import MARKET, TRADES, data
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, gid


async def buy(db: Database, user_id: int, market_id: int, amount: int = 1_000) -> None:
    async with db.transaction() as session:
        await lmsr_trading.trade(
            session, Actor(user_id=user_id), TradeRequest(market_id, "buy_yes", "spend", amount), fee_bps=200
        )


async def logged(db: Database, channel: str) -> list[tuple[int, str]]:
    async with db.session() as session:
        rows = await session.execute(
            select(col(StreamEvent.seq), col(StreamEvent.payload))
            .where(col(StreamEvent.channel) == channel)
            .order_by(col(StreamEvent.seq))
        )
        return [(seq, payload) for seq, payload in rows]


async def test_concurrent_trades_are_numbered_one_by_one_in_commit_order(
    live: Live, db: Database, settings: Settings
) -> None:
    """Many writers at once: the market's channel gets 1..N with no hole and no repeat, and in seq
    order the volume only grows (the numbers follow the commits, not the starts)."""
    _, _, (market,) = await create_market_setup(db)
    users = [(await trader(db, settings, balance=100_000))[0] for _ in range(8)]
    mid = market.id or 0
    await asyncio.gather(*(buy(live.db, user, mid) for user in users for _ in range(3)))
    states = [(seq, MarketState.from_json(payload)) for seq, payload in await logged(db, topics.market_channel(mid))]
    assert [seq for seq, _ in states] == list(range(1, 25))
    volumes = [state.volume for _, state in states]
    assert volumes == sorted(volumes) and len(set(volumes)) == 24
    trades = await logged(db, topics.market_trades_channel(mid))
    assert [seq for seq, _ in trades] == list(range(1, 25))
    assert len({TradeTick.from_json(payload).id for _, payload in trades}) == 24
    async with db.session() as session:
        head = await session.get(StreamHead, topics.market_channel(mid))
    assert head is not None and head.seq == 24


async def test_a_rolled_back_writer_leaves_no_hole(live: Live, db: Database, settings: Settings) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    await buy(live.db, user, mid)
    try:
        async with live.db.transaction() as session:
            await lmsr_trading.trade(
                session, Actor(user_id=user), TradeRequest(mid, "buy_yes", "spend", 1_000), fee_bps=200
            )
            await stream_log.sequence(session)  # numbered, then the transaction fails
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    await buy(live.db, user, mid)
    assert [seq for seq, _ in await logged(db, topics.market_channel(mid))] == [1, 2]


async def test_from_seq_replays_what_was_missed_then_continues_live(
    live: Live, db: Database, settings: Settings
) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    for _ in range(5):
        await buy(live.db, user, mid)
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, mid), "from": 2})
        replayed = [data(await ws.next(op), "marketUpdated") for _ in range(3)]
        assert [(m["kind"], m["seq"]) for m in replayed] == [("LIVE", 3), ("LIVE", 4), ("LIVE", 5)]
        await buy(live.db, user, mid)
        following = data(await ws.next(op), "marketUpdated")
        assert (following["kind"], following["seq"]) == ("LIVE", 6)
        assert following["volume"] > replayed[-1]["volume"]
        await ws.nothing(0.1)  # nothing twice

        trades = await ws.subscribe(TRADES, {"m": gid(Kind.MARKET, mid), "from": 4})
        assert [data(await ws.next(trades), "trades")["seq"] for _ in range(2)] == [5, 6]
        up_to_date = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, mid), "from": 6})
        await ws.nothing(0.1)  # already current: no snapshot, nothing to replay
        await buy(live.db, user, mid)
        assert data(await ws.next(up_to_date), "marketUpdated")["seq"] == 7


async def test_a_resume_from_beyond_the_log_gets_a_snapshot_or_a_gap(
    live: Live, db: Database, settings: Settings
) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    for _ in range(3):
        await buy(live.db, user, mid)
    assert await StreamLog(live.db).prune(timedelta(0)) >= 3 * 4  # every channel's rows, at once
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, mid), "from": 1})
        snapshot = data(await ws.next(op), "marketUpdated")
        assert (snapshot["kind"], snapshot["seq"]) == ("SNAPSHOT", 3)
        gap = await ws.subscribe(TRADES, {"m": gid(Kind.MARKET, mid), "from": 1})
        message = (await ws.next(gap))["data"]["trades"]
        assert message == {"kind": "GAP", "seq": 3, "data": None}
        ahead = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, mid), "from": 99})  # not issued yet: a snapshot
        assert data(await ws.next(ahead), "marketUpdated")["kind"] == "SNAPSHOT"


async def test_heartbeats_carry_the_head_and_repair_a_message_the_bus_lost(
    live_with: Callable[..., AbstractAsyncContextManager[Live]], db: Database, settings: Settings
) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    async with live_with(stream_heartbeat_seconds=0.05) as app:
        stream = streams.follow(app.bus, topics.market_channel(mid), live=MarketState.from_json)
        async with aclosing(stream):
            assert (await _next_kind(stream, "HEARTBEAT")).seq == 0  # subscribed; nothing yet
            await buy(app.db, user, mid)
            first = await _next_kind(stream, "LIVE")
            assert first.seq == 1
            beat = await _next_kind(stream, "HEARTBEAT")
            assert beat.seq == 1 and beat.value is None  # quiet, not frozen
            # committed and logged, but never published: as if Redis dropped the message
            silent = Database(app.db.engine)
            silent.commit_hooks.append(stream_log.sequence)
            await buy(silent, user, mid)
            repaired = await _next_kind(stream, "LIVE")
            assert repaired.seq == 2 and repaired.value is not None and repaired.value.volume > 0
            assert (await _next_kind(stream, "HEARTBEAT")).seq == 2


async def test_a_message_committed_while_a_stream_goes_live_is_read_from_the_log_at_once(
    live_with: Callable[..., AbstractAsyncContextManager[Live]],
    db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stream with neither snapshot nor fromSeq starts at the head it read before subscribing; a
    message committed between that read and the subscription never reaches it over the bus, and is
    replayed from the log as soon as it is live (not at the next message or heartbeat)."""
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    async with live_with(stream_heartbeat_seconds=60) as app:
        subscribe = app.bus.subscribe

        @asynccontextmanager
        async def late(channel: str, **options: Any) -> AsyncIterator[Any]:
            await buy(app.db, user, mid)  # committed and published before this subscriber is live
            async with subscribe(channel, **options) as subscription:
                yield subscription

        monkeypatch.setattr(app.bus, "subscribe", late)
        stream = streams.follow(app.bus, topics.market_channel(mid), live=MarketState.from_json)
        async with aclosing(stream):
            first = await asyncio.wait_for(anext(stream), 5.0)
            assert (first.kind, first.seq) == ("LIVE", 1) and first.value is not None


def _signal_after(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> asyncio.Event:
    """An event set once ``target.name(...)`` (a coroutine method) has returned."""
    done = asyncio.Event()
    original = getattr(target, name)

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        finally:
            done.set()

    monkeypatch.setattr(target, name, wrapped)
    return done


async def _next_kind(stream: AsyncGenerator[streams.Item[Any], None], kind: str) -> streams.Item[Any]:
    for _ in range(100):
        item = await asyncio.wait_for(anext(stream), 5.0)
        if item.kind == kind:
            return item
    raise AssertionError(f"no {kind}")


async def test_out_of_order_publication_is_delivered_in_seq_order(
    live: Live, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two commits published in the opposite order (two processes, or a descheduled publisher):
    the later one is held back until the earlier one is read from the log."""
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    held: list[tuple[str, str]] = []

    class Holding:
        async def publish(self, channel: str, message: str) -> None:
            held.append((channel, message))

    holding = Database(live.db.engine, publisher=Holding())
    holding.commit_hooks.append(stream_log.sequence)
    assert live.bus.log is not None
    started = _signal_after(monkeypatch, live.bus.log, "head")
    stream = streams.follow(live.bus, topics.market_trades_channel(mid), live=TradeTick.from_json)
    async with aclosing(stream):
        task = asyncio.ensure_future(anext(stream))
        await asyncio.wait_for(started.wait(), 5.0)  # subscribed, and its starting seq read (0)
        await buy(holding, user, mid)  # seq 1, held back
        await buy(holding, user, mid)  # seq 2
        for channel, message in reversed(held):  # 2 arrives first
            await live.bus.publish(channel, message)
        first = await asyncio.wait_for(task, 5.0)
        second = await asyncio.wait_for(anext(stream), 5.0)
        assert [(first.kind, first.seq), (second.kind, second.seq)] == [("LIVE", 1), ("LIVE", 2)]
        assert first.value is not None and second.value is not None and first.value.id < second.value.id


async def test_the_log_keeps_what_retention_says(live: Live, db: Database, settings: Settings) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    await buy(live.db, user, market.id or 0)
    reader = StreamLog(live.db)
    assert await reader.prune(timedelta(hours=1)) == 0
    assert await reader.prune(timedelta(0)) > 0
    assert await logged(db, topics.market_channel(market.id or 0)) == []
    assert await reader.head(topics.market_channel(market.id or 0)) == 1  # heads are kept


async def test_a_transaction_emitting_thousands_of_messages_commits(live: Live, db: Database) -> None:
    """Resolving a market with thousands of holders emits thousands of messages in one commit:
    more rows than one statement may carry parameters for."""
    async with live.db.transaction() as session:
        for index in range(9_000):
            emit(session, f"user:{index}:test", "{}")
        emit(session, "user:0:test", "{}")
    assert await StreamLog(live.db).heads(["user:0:test", "user:8999:test"]) == {"user:0:test": 2, "user:8999:test": 1}
    assert [seq for seq, _ in await logged(db, "user:0:test")] == [1, 2]
