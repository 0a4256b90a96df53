"""Shared subscription results go straight to the socket as pre-encoded frames (``stream_execution``
fast path), on both WebSocket protocols; a result with errors still takes Strawberry's pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from predictql.db import Database
from predictql.graphql_server.root import PredictSchema
from predictql.schema.subscriptions import MarketUpdate
from predictql.settings import Settings
from predictql.subscriptions import topics
from predictql.subscriptions.payloads import MarketState
from predictql.subscriptions.stream_log import wire
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import MARKET, buy, data
from tests.subscriptions.wsclient import AsgiSocket, GraphQLSocket
from tests.support import Kind, gid

PRICE = "subscription($m: ID!) { marketUpdated(marketId: $m) { kind seq data { yesPrice } } }"


def pipeline_results(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every result that passes Strawberry's per-result handling from now on."""
    seen: list[Any] = []
    original = PredictSchema._handle_execution_result

    async def counting(self: Any, context: Any, result: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(result)
        return await original(self, context, result, *args, **kwargs)

    monkeypatch.setattr(PredictSchema, "_handle_execution_result", counting)
    return seen


async def test_shared_results_skip_the_per_result_pipeline(
    live: Live, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    handled = pipeline_results(monkeypatch)
    async with GraphQLSocket(live.app) as one, GraphQLSocket(live.app) as two:
        first = await one.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)})
        await two.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)})
        await one.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)})  # a second operation on one socket
        snapshots = [data(await ws.next(op), "marketUpdated") for ws, op in ((one, "1"), (two, "1"), (one, "2"))]
        assert [s["kind"] for s in snapshots] == ["SNAPSHOT"] * 3
        await buy(live.db, user, mid)
        lives = [data(await ws.next(op), "marketUpdated") for ws, op in ((one, "1"), (two, "1"), (one, "2"))]
        assert lives[0] == lives[1] == lives[2] and lives[0]["kind"] == "LIVE" and lives[0]["seq"] == 1
        assert handled == []  # no result went through Strawberry's per-result handling
        await one.complete(first)  # the other operation of that socket goes on
        await buy(live.db, user, mid)
        assert data(await one.next("2"), "marketUpdated")["seq"] == 2
        assert data(await two.next("1"), "marketUpdated")["seq"] == 2
        assert not one.pending.get(first)


async def test_a_result_with_errors_takes_the_ordinary_path_between_fast_ones(
    live: Live, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, (market,) = await create_market_setup(db)
    mid = market.id or 0
    handled = pipeline_results(monkeypatch)
    channel = topics.market_channel(mid)

    def state(yes_price: int) -> str:
        return MarketState(
            mid, 1, 1, 0.5, yes_price, 10_000 - yes_price, 0, 0, 0, False, False, None, datetime.now(UTC)
        ).to_json()

    real_of = MarketUpdate.of.__func__  # type: ignore[attr-defined]

    def failing_of(cls: type[MarketUpdate], market: MarketState) -> Any:
        """An update whose yesPrice cannot be read when the price is 1 bp: a field error."""
        update = real_of(cls, market)
        if market.yes_price != 1:
            return update
        return SimpleNamespace(**{name: getattr(update, name) for name in vars(update) if name != "yes_price"})

    monkeypatch.setattr(MarketUpdate, "of", classmethod(failing_of))
    query = PRICE
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(query, {"m": gid(Kind.MARKET, mid)})
        assert data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
        await live.bus.publish(channel, wire(1, state(1)))  # its yesPrice fails
        await live.bus.publish(channel, wire(2, state(6_000)))
        broken = await ws.next(op)
        assert broken["data"]["marketUpdated"] == {"kind": "LIVE", "seq": 1, "data": None}
        assert broken["errors"][0]["extensions"]["code"] == "INTERNAL_ERROR"  # masked, as ever
        assert data(await ws.next(op), "marketUpdated") == {"kind": "LIVE", "seq": 2, "yesPrice": 6_000}
    assert len(handled) == 1 and handled[0].errors  # only the failed result took Strawberry's path


async def receive(ws: AsgiSocket) -> Any:
    """The next graphql-ws message but keep-alives."""
    while (message := await ws.receive_json())["type"] == "ka":
        pass
    return message


async def test_legacy_graphql_ws_gets_the_same_frames(
    live: Live, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    handled = pipeline_results(monkeypatch)
    async with AsgiSocket(live.app, "/graphql", subprotocols=("graphql-ws",)) as ws, GraphQLSocket(live.app) as new:
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert (await receive(ws))["type"] == "connection_ack"
        start = {"query": PRICE, "variables": {"m": gid(Kind.MARKET, mid)}}
        await ws.send_json({"id": "a", "type": "start", "payload": start})
        snapshot = await receive(ws)
        assert snapshot["type"] == "data" and snapshot["id"] == "a"
        op = await new.subscribe(PRICE, {"m": gid(Kind.MARKET, mid)})
        await new.next(op)
        await buy(live.db, user, mid)
        frame = await receive(ws)
        assert frame["type"] == "data" and frame["id"] == "a"
        assert frame["payload"] == await new.next(op)  # the same result as graphql-transport-ws's
        assert frame["payload"]["data"]["marketUpdated"]["seq"] == 1
        await ws.send_json({"id": "a", "type": "stop"})
        assert await receive(ws) == {"type": "complete", "id": "a"}
    assert handled == []


def test_the_frame_is_the_transport_message_as_json() -> None:
    from predictql.graphql_server.stream_execution import FRAME_SUFFIX, encoded, frame_prefix

    result = {"marketUpdated": {"kind": "LIVE", "seq": 7, "data": {"yesPrice": 5}}}
    for op, kind in (("1", "next"), ('we"ird', "data")):
        text = frame_prefix(op, kind) + encoded(result) + FRAME_SUFFIX
        assert json.loads(text) == {"id": op, "type": kind, "payload": {"data": result}}
