"""``myNotifications`` over graphql-transport-ws: each user hears their own notifications live, and
nobody else's; an anonymous socket is refused."""

from __future__ import annotations

import asyncio

from predictql.db import Database
from predictql.settings import Settings
from predictql.subscriptions.bus import Bus
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import buy, data
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, gid

MINE = """subscription($from: Long) { myNotifications(fromSeq: $from) { kind seq data {
  id userId type title message read readAt createdAt relatedId relatedType } } }"""


def _streams(bus: Bus) -> int:
    """Subscribers of the streams the sockets asked for. A signed-in socket also follows its own
    access channel (``socket_watch``, ``user:N:access``) from ``connection_init`` on: counting
    those, a wait for N subscribers could end before any stream had subscribed."""
    return sum(
        len(channel.subscribers)
        for channel in bus._channels.values()
        if channel.counted and not (channel.name.startswith("user:") and channel.name.endswith(":access"))
    )


async def _until_subscribed(bus: Bus, subscribers: int) -> None:
    """Until ``subscribers`` stream subscribers (sockets' watches left out) are registered and every
    channel's backend SUBSCRIBE is done: from then on, whatever commits reaches them."""
    for _ in range(300):
        channels = list(bus._channels.values())
        ready = all(channel.subscribed is not None and channel.subscribed.done() for channel in channels)
        if _streams(bus) >= subscribers and ready:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never saw {subscribers} live stream subscribers: {bus.stats()}")


async def test_each_user_hears_only_their_own_notifications(live: Live, db: Database, settings: Settings) -> None:
    _, _, (market,) = await create_market_setup(db, names=("Team A",))
    alice, alice_token = await trader(db, settings, balance=100_000)
    bob, bob_token = await trader(db, settings, balance=100_000)
    async with (
        GraphQLSocket(live.app, params={"Authorization": f"Bearer {alice_token}"}) as alice_ws,
        GraphQLSocket(live.app, params={"token": bob_token}) as bob_ws,
    ):
        alice_op, bob_op = await alice_ws.subscribe(MINE), await bob_ws.subscribe(MINE)
        await _until_subscribed(live.bus, 2)
        await alice_ws.nothing(0.1)  # no snapshot: the notifications query gives history

        await buy(live.db, alice, market.id or 0)
        note = data(await alice_ws.next(alice_op), "myNotifications")
        assert note == {
            **note,
            "kind": "LIVE",
            "seq": 1,
            "userId": gid(Kind.USER, alice),
            "type": "TRADE_EXECUTED",
            "title": "Trade Executed",
            "read": False,
            "readAt": None,
            "relatedId": gid(Kind.MARKET, market.id or 0),
            "relatedType": "MARKET",
        }
        assert "'Team A'" in note["message"] and note["createdAt"]
        await bob_ws.nothing(0.3)  # alice's notification never reaches bob

        await buy(live.db, bob, market.id or 0, side="buy_no")
        theirs = data(await bob_ws.next(bob_op), "myNotifications")
        # per-user numbering
        assert (theirs["userId"], theirs["kind"], theirs["seq"]) == (gid(Kind.USER, bob), "LIVE", 1)
        await alice_ws.nothing(0.3)
        await alice_ws.complete(alice_op)
        await bob_ws.complete(bob_op)


async def test_a_reconnecting_user_is_replayed_what_they_missed(live: Live, db: Database, settings: Settings) -> None:
    _, _, (market,) = await create_market_setup(db)
    alice, token = await trader(db, settings, balance=100_000)
    bob, _ = await trader(db, settings, balance=100_000)
    await buy(live.db, alice, market.id or 0)  # seq 1, heard by nobody
    await buy(live.db, bob, market.id or 0)  # bob's own channel: never replayed to alice
    await buy(live.db, alice, market.id or 0, side="buy_no")  # seq 2
    async with GraphQLSocket(live.app, params={"token": token}) as ws:
        op = await ws.subscribe(MINE, {"from": 0})
        replayed = [data(await ws.next(op), "myNotifications") for _ in range(2)]
        assert [(m["kind"], m["seq"], m["userId"]) for m in replayed] == [
            ("LIVE", 1, gid(Kind.USER, alice)),
            ("LIVE", 2, gid(Kind.USER, alice)),
        ]
        assert "YES shares" in replayed[0]["message"] and "NO shares" in replayed[1]["message"]
        await _until_subscribed(live.bus, 1)
        await buy(live.db, alice, market.id or 0)
        assert data(await ws.next(op), "myNotifications")["seq"] == 3
        await ws.nothing(0.2)


async def test_an_anonymous_socket_is_refused(live: Live) -> None:
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(MINE, {"from": 0})
        failed = await ws.next(op)
        assert failed["data"] is None, failed
        assert failed["errors"][0]["extensions"]["code"] == "UNAUTHORIZED", failed
        assert (await ws.next(op))["type"] == "complete"
        assert live.bus.stats()["channels"] == 0  # nothing subscribed
