"""One execution and one JSON encoding per event for all subscribers sending the same operation."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from predictql.db import Database
from predictql.graphql_server import stream_execution
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import MARKET, buy, data
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, gid

OTHER = """subscription($m: ID!) { marketUpdated(marketId: $m) { kind seq data { yesPrice } } }"""


async def test_subscribers_of_one_operation_share_each_event_s_execution(
    live: Live, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    mid = market.id or 0
    executed: list[object] = []
    original = StrawberryGraphQLCoreExecutionContext.execute_operation

    def counting(self: Any, serially: bool | None = None) -> Any:
        executed.append(self.root_value)
        return original(self, serially)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_operation", counting)
    async with GraphQLSocket(live.app) as one, GraphQLSocket(live.app) as two, GraphQLSocket(live.app) as three:
        ops = [
            await one.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)}),
            await two.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)}),
        ]
        other = await three.subscribe(OTHER, {"m": gid(Kind.MARKET, mid)})
        for ws, op in ((one, ops[0]), (two, ops[1]), (three, other)):
            assert data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
        executed.clear()
        await buy(live.db, user, mid)
        first = data(await one.next(ops[0]), "marketUpdated")
        second = data(await two.next(ops[1]), "marketUpdated")
        changed = data(await three.next(other), "marketUpdated")
    assert first == second and first["kind"] == "LIVE" and first["seq"] == 1
    assert changed == {"kind": "LIVE", "seq": 1, "yesPrice": first["yesPrice"]}
    assert len(executed) == 2  # one per operation text, not one per subscriber


VIEWED = """subscription($m: ID) { trades(marketId: $m) { kind seq data { id fee trader { id } } } }"""


async def test_a_trade_s_result_is_shared_only_among_one_viewer_s_sockets(
    live: Live, db: Database, settings: Settings
) -> None:
    """A Trade's fee and trader depend on who asks: the trader (hidden profile) sees both, anyone
    else neither, whichever socket's execution ran first."""
    _, _, (market,) = await create_market_setup(db)
    mid = market.id or 0
    user, token = await trader(db, settings, balance=100_000, hidden=True)
    variables = {"m": gid(Kind.MARKET, mid)}
    async with (
        GraphQLSocket(live.app, params={"Authorization": f"Bearer {token}"}) as mine,
        GraphQLSocket(live.app) as anon,
        GraphQLSocket(live.app) as other,
    ):
        ops = [
            (mine, await mine.subscribe(VIEWED, variables)),
            (anon, await anon.subscribe(VIEWED, variables)),
            (other, await other.subscribe(VIEWED, variables)),
        ]
        for _ in range(200):  # until all three follow the channel (no snapshot to wait for)
            if live.bus.stats()["subscribers"] >= 3:
                break
            await asyncio.sleep(0.01)
        trade_id = await buy(live.db, user, mid)
        seen = [data(await ws.next(op), "trades") for ws, op in ops]
    assert [m["id"] for m in seen] == [gid(Kind.TRADE, trade_id)] * 3
    assert seen[0]["fee"] > 0 and seen[0]["trader"] == {"id": gid(Kind.USER, user)}
    assert [(m["fee"], m["trader"]) for m in seen[1:]] == [(None, None), (None, None)]


def test_a_result_s_data_is_encoded_once_and_spliced_per_operation() -> None:
    data = {"marketUpdated": {"kind": "LIVE", "seq": 3, "data": None}}
    first = stream_execution.encode_message({"id": "1", "type": "next", "payload": {"data": data}})
    second = stream_execution.encode_message({"id": "2", "type": "next", "payload": {"data": data}})
    assert first == '{"id":"1","type":"next","payload":{"data":{"marketUpdated":{"kind":"LIVE","seq":3,"data":null}}}}'
    assert second == first.replace('"id":"1"', '"id":"2"')
    with_errors = {"id": "1", "type": "next", "payload": {"data": None, "errors": [{"message": "x"}]}}
    assert stream_execution.encode_message(with_errors) == (
        '{"id":"1","type":"next","payload":{"data":null,"errors":[{"message":"x"}]}}'
    )


async def test_a_subscription_s_memory_does_not_grow_with_its_events(
    live: Live, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """graphql-core's per-event executor shared its subscription's subfield memo, which kept every
    event's field lists: memory grew by each message for as long as the subscription lived."""
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=1_000_000)
    mid = market.id or 0
    executors: list[Any] = []
    original = StrawberryGraphQLCoreExecutionContext.execute_operation

    def keeping(self: Any, serially: bool | None = None) -> Any:
        executors.append(self)
        return original(self, serially)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_operation", keeping)
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)})
        assert data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
        for seq in range(1, 21):
            await buy(live.db, user, mid, amount=1_000)
            assert data(await ws.next(op), "marketUpdated")["seq"] == seq
    assert len(executors) == 21
    # Each event's memo holds that event's few field groups, not those of every earlier event.
    assert max(len(executor._relevant_sub_fields) for executor in executors) <= 2


async def test_a_shared_result_lives_only_as_long_as_its_event(live: Live, db: Database, settings: Settings) -> None:
    """After a burst the memo of shared results empties with the channel's buffer (it used to keep
    the last 4,096 results, and the server's memory, for good)."""
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=1_000_000)
    mid = market.id or 0
    before = set(stream_execution._results)
    async with GraphQLSocket(live.app) as one, GraphQLSocket(live.app) as two:
        ops = [
            await one.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)}),
            await two.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)}),
        ]
        for ws, op in zip((one, two), ops, strict=True):
            assert data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
        for seq in range(1, 4):
            await buy(live.db, user, mid, amount=1_000)
            for ws, op in zip((one, two), ops, strict=True):
                assert data(await ws.next(op), "marketUpdated")["seq"] == seq
        # events both sockets read, and the channel's buffer let go of, are forgotten already
        assert 1 <= len(set(stream_execution._results) - before) <= 2
    for _ in range(100):  # the sockets' tasks finish
        gc.collect()
        if not [key for key in set(stream_execution._results) - before if key[2].value == "LIVE"]:
            break
        await asyncio.sleep(0.02)
    live_left = [key for key in set(stream_execution._results) - before if key[2].value == "LIVE"]
    assert not live_left
