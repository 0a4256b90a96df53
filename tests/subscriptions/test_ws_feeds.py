"""The legacy raw feeds: documented messages, text frames, the cap, refusals; views of the same bus."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from predictql.auth import Actor
from predictql.db import Database
from predictql.services import lmsr_trading, pools
from predictql.services.lmsr_trading import TradeRequest
from predictql.settings import Settings
from predictql.subscriptions import topics
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup, creator_actor
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import until_buffered
from tests.subscriptions.wsclient import AsgiSocket, Closed

SIMPLE_TRADE = {"amount", "name", "token", "event", "market", "avatar"}


async def buy(db: Database, user_id: int, market_id: int, side: str = "buy_yes") -> int:
    async with db.transaction() as session:
        result = await lmsr_trading.trade(
            session, Actor(user_id=user_id), TradeRequest(market_id, side, "spend", 2_000), fee_bps=200
        )
    return result.cost_or_payout


async def test_trades_feed_sends_init_then_each_trade(live: Live, db: Database, settings: Settings) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000, nickname="carol")
    async with live.bus.subscribe(topics.TRADES) as published:
        await buy(live.db, user, market.id or 0)
        await anext(published)  # delivered (on Redis, publishing is asynchronous): not seen live again
    async with AsgiSocket(live.app, "/api/v1/ws/trades") as ws:
        init = await ws.receive_json()
        assert init["type"] == "init" and len(init["trades"]) == 1 and set(init["trades"][0]) == SIMPLE_TRADE
        assert init["trades"] == (await live.http.get("/api/v1/market/trades/latest")).json()
        await buy(live.db, user, market.id or 0, side="buy_no")
        frame = await ws.receive_json()
        assert frame == {
            "type": "trade",
            "trade": {
                "amount": frame["trade"]["amount"],
                "name": "carol",
                "token": "NO",
                "event": "Test event",
                "market": "Outcome 0",
                "avatar": None,
            },
        }
        assert 0 < frame["trade"]["amount"] < 2_000
    assert live.app.state["sockets"].open == 0 and live.bus.stats()["channels"] == 0


async def test_chart_feed_sends_the_main_pool_history_then_updates(live: Live, db: Database) -> None:
    creator, pool, markets = await create_market_setup(db, probabilities=(0.6, 0.4), names=("A", "B"))
    event_id = markets[0].event_id
    async with AsgiSocket(live.app, f"/api/v1/ws/events/{event_id}/chart") as ws:
        init = await ws.receive_json()
        assert init["type"] == "init" and init["event_id"] == event_id
        assert init["ratios"] and init["ratios"][-1]["values"] == [0.6, 0.4]
        assert set(init["ratios"][-1]) == {"timestamp", "values"}
        # another pool of the event is not shown; the main pool is
        async with live.db.transaction() as session:
            other = await pools.create_pool(
                session,
                creator_actor(creator),
                event_id,
                pools.PoolFields(
                    name="Other",
                    finish_at=pool.finish_at,
                    market_names=["X", "Y"],
                    market_probabilities=[0.5, 0.5],
                ),
            )
            await pools.set_probabilities(session, creator_actor(creator), event_id, other.id or 0, [0.9, 0.1])
        await ws.nothing(0.1)
        async with live.db.transaction() as session:
            await pools.set_probabilities(session, creator_actor(creator), event_id, pool.id or 0, [0.3, 0.7])
        update = await ws.receive_json()
        assert update["type"] == "chart_update" and update["event_id"] == event_id
        (point,) = update["ratios"]
        assert [round(v, 6) for v in point["values"]] == [0.3, 0.7] and point["timestamp"].endswith("Z")


async def test_unknown_or_hidden_events_are_refused(live: Live, db: Database) -> None:
    async with AsgiSocket(live.app, "/api/v1/ws/events/999999/chart") as ws:
        assert ws.accepted is None
        status, body = ws.denied
        assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    async with AsgiSocket(live.app, "/api/v1/ws/events/999999/chart", denial_extension=False) as ws:
        assert ws.accepted is not None
        with pytest.raises(Closed) as closed:
            await ws.receive_text()
        assert closed.value.code == 4404
    assert live.app.state["sockets"].open == 0


async def test_the_connection_cap_answers_1013_for_feeds_and_graphql(
    live_with: Callable[..., AbstractAsyncContextManager[Live]], db: Database
) -> None:
    async with live_with(ws_max_connections=1) as app:
        async with AsgiSocket(app.app, "/api/v1/ws/trades") as first:
            assert (await first.receive_json())["type"] == "init"
            async with AsgiSocket(app.app, "/api/v1/ws/trades") as second:
                with pytest.raises(Closed) as closed:
                    await second.receive_text()
                assert closed.value.code == 1013
            async with AsgiSocket(app.app, "/graphql", subprotocols=("graphql-transport-ws",)) as third:
                assert third.accepted is not None and third.accepted.get("subprotocol") == "graphql-transport-ws"
                with pytest.raises(Closed) as closed:
                    await third.receive_text()
                assert closed.value.code == 1013
        async with AsgiSocket(app.app, "/api/v1/ws/trades") as again:  # a slot is free again
            assert (await again.receive_json())["type"] == "init"


async def test_an_oversized_client_message_closes_the_feed(live: Live, db: Database) -> None:
    async with AsgiSocket(live.app, "/api/v1/ws/trades") as ws:
        await ws.receive_json()
        await ws.send("ignored")  # client messages are not expected, and ignored
        await ws.nothing(0.05)
        await ws.send("x" * 513)
        with pytest.raises(Closed) as closed:
            await ws.receive_text()
        assert closed.value.code == 1009


async def test_a_feed_reader_left_behind_gets_a_fresh_init(
    live_with: Callable[..., AbstractAsyncContextManager[Live]], db: Database, settings: Settings
) -> None:
    _, _, (market,) = await create_market_setup(db)
    user, _ = await trader(db, settings, balance=100_000)
    async with live_with(bus_queue_size=1) as app, AsgiSocket(app.app, "/api/v1/ws/trades", buffer=1) as ws:
        assert (await ws.receive_json())["trades"] == []
        # trade 1 waits in the network and the send of trade 2 blocks; the channel keeps one
        # message, so trades 3 and 4 leave this reader behind: it gets the state of now instead
        for side in ("buy_yes", "buy_no") * 2:
            await buy(app.db, user, market.id or 0, side)
        await until_buffered(app.bus, 4)
        frames = [await ws.receive_json() for _ in range(3)]
        assert [frame["type"] for frame in frames] == ["trade", "trade", "init"]
        assert [frame["trade"]["token"] for frame in frames[:2]] == ["YES", "NO"]
        assert [trade["token"] for trade in frames[2]["trades"]] == ["NO", "YES", "NO", "YES"]  # newest first
        await ws.nothing(0.1)
        await buy(app.db, user, market.id or 0, "buy_yes")
        assert (await ws.receive_json())["trade"]["token"] == "YES"
