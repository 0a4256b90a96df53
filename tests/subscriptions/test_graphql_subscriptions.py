"""GraphQL subscriptions over graphql-transport-ws, in process: snapshot first, then live changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from predictql.auth import Actor
from predictql.db import Database
from predictql.graphql_server.root import build_schema
from predictql.models import Event
from predictql.schema.context import Context
from predictql.services import lmsr_trading, pools
from predictql.services.lmsr_trading import TradeRequest
from predictql.settings import Settings
from predictql.subscriptions import stream_log
from predictql.subscriptions.bus import Bus
from tests.api.test_lmsr_api import market_row, trader
from tests.markets.factories import create_market_setup, creator_actor
from tests.subscriptions.conftest import Live
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, gid

MARKET = """subscription($m: ID!, $from: Long) { marketUpdated(marketId: $m, fromSeq: $from) { kind seq data {
  marketId eventId poolId yesProbability noProbability yesPrice noPrice qYes qNo volume paused resolved
  winningOutcome at } } }"""
CHART = """subscription($e: ID!, $p: ID) {
  eventChart(eventId: $e, poolId: $p) { kind seq data { eventId poolId timestamp values } } }"""
TRADES = """subscription($m: ID, $from: Long) { trades(marketId: $m, fromSeq: $from) { kind seq data {
  id source side tokenType shares price amount fee createdAt market { id name event { name } }
  trader { nickname avatarUrl } } } }"""


async def buy(db: Database, user_id: int, market_id: int, amount: int = 5_000, side: str = "buy_yes") -> int:
    async with db.transaction() as session:
        result = await lmsr_trading.trade(
            session, Actor(user_id=user_id), TradeRequest(market_id, side, "spend", amount), fee_bps=200
        )
    return result.trade_id or 0


def data(payload: dict[str, Any], field: str) -> Any:
    """The stream message, its payload's fields flattened next to ``kind`` and ``seq``."""
    assert "errors" not in payload, payload
    message = payload["data"][field]
    return {**(message["data"] or {}), "kind": message["kind"], "seq": message["seq"]}


async def test_market_updated_starts_with_the_market_then_follows_each_trade(
    live: Live, db: Database, settings: Settings
) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)})
        first = data(await ws.next(op), "marketUpdated")
        assert first["kind"] == "SNAPSHOT" and first["marketId"] == gid(Kind.MARKET, mid) and first["qYes"] == 0
        assert first["yesPrice"] == 6500 and first["resolved"] is False

        await buy(live.db, user, mid)
        update_ = data(await ws.next(op), "marketUpdated")
        assert update_["kind"] == "LIVE" and update_["qYes"] > 0 and update_["volume"] > 0
        assert update_["yesPrice"] > 6500 and update_["yesPrice"] + update_["noPrice"] == 10_000
        await ws.complete(op)
        await ws.nothing()


async def test_event_chart_follows_the_main_pool(live: Live, db: Database, settings: Settings) -> None:
    creator, pool, markets = await create_market_setup(db, probabilities=(0.5, 0.5), names=("A", "B"))
    event_id = markets[0].event_id
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(CHART, {"e": gid(Kind.EVENT, event_id)})
        first = data(await ws.next(op), "eventChart")
        assert first["kind"] == "SNAPSHOT" and first["poolId"] == gid(Kind.POOL, pool.id or 0)
        assert first["values"] == [0.5, 0.5]
        async with live.db.transaction() as session:
            await pools.set_probabilities(session, creator_actor(creator), event_id, pool.id or 0, [0.8, 0.2])
        point = data(await ws.next(op), "eventChart")
        assert point["kind"] == "LIVE" and [round(v, 6) for v in point["values"]] == [0.8, 0.2]


async def test_trades_platform_wide_and_per_market(live: Live, db: Database, settings: Settings) -> None:
    _, _, (one, two) = await create_market_setup(db, probabilities=(0.5, 0.5), names=("A", "B"))
    user, _ = await trader(db, settings, balance=100_000, nickname="bob")
    async with GraphQLSocket(live.app) as ws:
        everything = await ws.subscribe(TRADES, {})
        only_two = await ws.subscribe(TRADES, {"m": gid(Kind.MARKET, two.id)})
        await ws.nothing(0.1)  # no snapshot: use the latestTrades query for history
        first = await buy(live.db, user, one.id or 0)
        second = await buy(live.db, user, two.id or 0, side="buy_no")
        seen = [data(await ws.next(everything), "trades") for _ in range(2)]
        assert [item["id"] for item in seen] == [gid(Kind.TRADE, first), gid(Kind.TRADE, second)]
        assert [item["seq"] for item in seen] == [1, 2]  # the platform-wide channel's own numbering
        assert seen[1] == {  # the one Trade type, with its links loaded per message
            **seen[1],
            "kind": "LIVE",
            "source": "LMSR",
            "side": "BUY",
            "tokenType": "NO",
            "fee": None,  # the socket is anonymous: only the trader sees the fee
            "market": {"id": gid(Kind.MARKET, two.id), "name": "B", "event": {"name": "Test event"}},
            "trader": {"nickname": "bob", "avatarUrl": None},
        }
        per_market = data(await ws.next(only_two), "trades")
        assert per_market["id"] == gid(Kind.TRADE, second) and per_market["seq"] == 1
        await ws.nothing(0.1)


async def test_hidden_or_unknown_markets_cannot_be_followed(live: Live, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    async with db.transaction() as session:
        await session.execute(update(Event).where(col(Event.id) == market.event_id).values(is_active=False))
    async with GraphQLSocket(live.app) as ws:
        for query, variables in (
            (MARKET, {"m": gid(Kind.MARKET, market.id)}),
            (TRADES, {"m": gid(Kind.MARKET, market.id)}),
            (MARKET, {"m": "mkt_999999"}),
            (CHART, {"e": gid(Kind.EVENT, market.event_id)}),
        ):
            op = await ws.subscribe(query, variables)
            failed = await ws.next(op)
            assert failed["data"] is None, failed
            assert failed["errors"][0]["extensions"]["code"] in ("market_not_found", "NOT_FOUND"), failed
            assert (await ws.next(op))["type"] == "complete"
        assert live.bus.stats()["channels"] == 0  # nothing left subscribed


async def test_the_creator_follows_a_hidden_event_when_signed_in(live: Live, db: Database, settings: Settings) -> None:
    creator_id, token = await trader(db, settings)
    _, _, (market,) = await create_market_setup(db, creator_id=creator_id)
    async with db.transaction() as session:
        await session.execute(update(Event).where(col(Event.id) == market.event_id).values(is_active=False))
    async with GraphQLSocket(live.app, params={"Authorization": f"Bearer {token}"}) as ws:
        op = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, market.id)})
        assert data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"


async def test_a_reader_left_behind_skips_to_a_fresh_snapshot_without_reading_the_log(
    live_with: Callable[..., AbstractAsyncContextManager[Live]],
    db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the channel's buffer a reader gets one gap, answered by a snapshot of now: replaying
    what it missed from the log would only keep it behind (and cost a read per reader)."""
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=1_000_000)
    mid = market.id or 0
    schema = build_schema(settings)
    async with live_with(bus_queue_size=2) as app:
        reads: list[tuple[int, int]] = []
        original = stream_log.StreamLog.after

        async def after(self: stream_log.StreamLog, channel: str, seq: int, upto: int) -> stream_log.Replay:
            reads.append((seq, upto))
            return await original(self, channel, seq, upto)

        monkeypatch.setattr(stream_log.StreamLog, "after", after)
        context = Context(
            request=None,
            response=None,
            db=app.db,
            settings=app.settings,
            mailer=None,  # type: ignore[arg-type]
            http=None,
            bus=app.bus,
        )  # type: ignore[arg-type]
        stream = await schema.subscribe(MARKET, variable_values={"m": gid(Kind.MARKET, mid)}, context_value=context)
        assert not isinstance(stream, type(None))
        first = await anext(stream)  # type: ignore[arg-type]
        assert first.data is not None and first.data["marketUpdated"]["kind"] == "SNAPSHOT"
        assert first.data["marketUpdated"]["seq"] == 0
        for _ in range(4):  # four changes while nobody reads: the buffer of two leaves the reader behind
            await buy(app.db, user, mid, 1_000)
        await until_buffered(app.bus, 4)
        volume = (await market_row(db, mid)).volume
        after_gap = await anext(stream)  # type: ignore[arg-type]
        assert after_gap.data is not None
        snapshot = after_gap.data["marketUpdated"]
        assert (snapshot["kind"], snapshot["seq"]) == ("SNAPSHOT", 4) and snapshot["data"]["volume"] == volume
        assert reads == []
        await buy(app.db, user, mid, 1_000)
        live = await anext(stream)  # type: ignore[arg-type]
        assert live.data is not None and (live.data["marketUpdated"]["kind"], live.data["marketUpdated"]["seq"]) == (
            "LIVE",
            5,
        )
        await stream.aclose()  # type: ignore[union-attr]


async def until_buffered(bus: Bus, messages: int) -> None:
    """Until ``messages`` messages reached the bus's channels (the last, at least, is buffered)."""
    for _ in range(200):
        if any(channel.count >= messages for channel in bus._channels.values()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{messages} messages never reached the bus")
