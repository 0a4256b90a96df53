"""The order book and the caller's own streams over a real in-process WebSocket: the book's
snapshot then absolute level deltas, order-book trades on the trade feeds, and private streams
that carry only their owner's events."""

from __future__ import annotations

from typing import Any

from predictql.auth import Actor
from predictql.db import Database
from predictql.models import Market
from predictql.services import order_lifecycle, orderbook_trading, resolution
from predictql.services.orderbook_trading import OrderRequest, Placed
from predictql.services.resolution import Verdict
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup, creator_actor
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import MARKET, TRADES, data
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, gid

BOOK = """subscription($m: ID!, $from: Long) { orderbook(marketId: $m, fromSeq: $from) { kind seq data {
  marketId full bids { price amount } asks { price amount } } } }"""
MY_ORDERS = """subscription($from: Long) { myOrders(fromSeq: $from) { kind seq data {
  id userId marketId side tokenType price amount remaining filled status cancelReason } } }"""
MY_FILLS = """subscription { myFills { kind seq data {
  trade { id source side tokenType shares price amount fee createdAt market { id } } order { id status } } } }"""
MY_POSITIONS = """subscription { myPositions { kind seq data {
  id tokenType amount avgPrice cost realizedPnl useBonus status wonSide unrealizedPnl closedAt market { id } } } }"""
MY_BALANCE = """subscription { myBalance { kind seq data { cash bonus escrow frozen total } } }"""


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def book_market(db: Database) -> tuple[int, Market]:
    creator, _, (market,) = await create_market_setup(db, market_type="orderbook", probabilities=(0.5,))
    return creator, market


async def place(live: Live, user: int, market_id: int, side: str, token: str, amount: int, price: int) -> Placed:
    request = OrderRequest(market_id, side, token, "limit", amount, price)
    async with live.db.transaction() as session:
        return await orderbook_trading.place_order(session, Actor(user_id=user), request, fee_bps=live.settings.fee_bps)


async def cancel(live: Live, user: int, order_id: int) -> None:
    async with live.db.transaction() as session:
        await order_lifecycle.cancel_order(session, Actor(user_id=user), order_id=order_id)


async def levels(live: Live, market_id: int) -> dict[str, dict[int, int]]:
    """The book as the orderbook query reads it: side -> {YES price: units}."""
    async with live.db.session() as session:
        book = await order_lifecycle.order_book(
            session, Actor(), market_id=market_id, depth=100, fee_bps=live.settings.fee_bps
        )
    return {"bids": dict(book.bids), "asks": dict(book.asks)}


def as_levels(message: dict[str, Any]) -> dict[str, dict[int, int]]:
    return {side: {level["price"]: int(level["amount"]) for level in message[side]} for side in ("bids", "asks")}


async def test_orderbook_snapshot_then_absolute_level_deltas(live: Live, db: Database, settings: Settings) -> None:
    _, market = await book_market(db)
    mid = market.id or 0
    alice, _ = await trader(db, settings, balance=1_000_000)
    bob, _ = await trader(db, settings, balance=1_000_000)
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(BOOK, {"m": gid(Kind.MARKET, mid)})
        first = data(await ws.next(op), "orderbook")
        assert (first["kind"], first["seq"], first["full"], first["bids"], first["asks"]) == (
            "SNAPSHOT",
            0,
            True,
            [],
            [],
        )

        bid = await place(live, alice, mid, "buy", "YES", 30_000, 6000)  # rests: YES bid at 6000
        rested = data(await ws.next(op), "orderbook")
        assert (rested["kind"], rested["seq"], rested["full"]) == ("LIVE", 1, False)
        assert as_levels(rested) == {"bids": {6000: (await levels(live, mid))["bids"][6000]}, "asks": {}}

        await place(live, bob, mid, "buy", "NO", 20_000, 3000)  # rests: YES ask at 7000
        ask = data(await ws.next(op), "orderbook")
        now = await levels(live, mid)
        assert ask["seq"] == 2 and as_levels(ask) == {"bids": {}, "asks": {7000: now["asks"][7000]}}

        filled = await place(live, bob, mid, "buy", "NO", 10_000, 4000)  # crosses alice's bid: a fill
        assert filled.trades and filled.order.status == "filled"
        partial = data(await ws.next(op), "orderbook")
        now = await levels(live, mid)
        assert partial["seq"] == 3 and as_levels(partial) == {"bids": {6000: now["bids"][6000]}, "asks": {}}
        assert 0 < now["bids"][6000] < rested["bids"][0]["amount"]  # the level's total now, not a difference

        await cancel(live, alice, bid.order.id or 0)
        gone = data(await ws.next(op), "orderbook")
        assert gone["seq"] == 4 and as_levels(gone) == {"bids": {6000: 0}, "asks": {}}  # 0: the level is gone
        await ws.nothing(0.1)

        again = await ws.subscribe(BOOK, {"m": gid(Kind.MARKET, mid)})  # a new subscriber: the book as it is now
        snapshot = data(await ws.next(again), "orderbook")
        assert (snapshot["kind"], snapshot["seq"], snapshot["full"]) == ("SNAPSHOT", 4, True)
        assert as_levels(snapshot) == await levels(live, mid)


async def test_an_order_book_fill_is_one_trade_and_moves_the_market_to_its_price(
    live: Live, db: Database, settings: Settings
) -> None:
    _, market = await book_market(db)
    mid = market.id or 0
    alice, _ = await trader(db, settings, balance=1_000_000, nickname="alice")
    bob, _ = await trader(db, settings, balance=1_000_000, nickname="bob")
    async with GraphQLSocket(live.app) as ws:
        trades = await ws.subscribe(TRADES, {"m": gid(Kind.MARKET, mid)})
        everywhere = await ws.subscribe(TRADES, {})
        state = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, mid)})
        assert data(await ws.next(state), "marketUpdated")["yesPrice"] == 5000  # the prior before any fill
        await place(live, alice, mid, "buy", "YES", 30_000, 6200)
        taken = await place(live, bob, mid, "buy", "NO", 10_000, 3800)  # bob takes alice's bid at 6200 YES
        tick = data(await ws.next(trades), "trades")
        assert tick["kind"] == "LIVE" and tick["seq"] == 1
        assert (tick["id"], tick["trader"]["nickname"], tick["tokenType"], tick["side"], tick["source"]) == (
            gid(Kind.TRADE, taken.trades[0].id or 0),
            "bob",
            "NO",
            "BUY",
            "ORDERBOOK",
        )
        assert tick["price"] == 3800 and int(tick["shares"]) == taken.order.filled
        assert data(await ws.next(everywhere), "trades")["id"] == tick["id"]
        moved = data(await ws.next(state), "marketUpdated")
        assert (moved["kind"], moved["yesPrice"], moved["noPrice"], moved["qYes"]) == ("LIVE", 6200, 3800, 0)
        assert int(moved["volume"]) > 0
        await ws.nothing(0.1)  # one tick for the execution, not one per party


async def test_pausing_publishes_the_market_state(live: Live, db: Database, settings: Settings) -> None:
    creator, market = await book_market(db)
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, market.id)})
        assert data(await ws.next(op), "marketUpdated")["paused"] is False
        async with live.db.transaction() as session:
            await order_lifecycle.set_paused(
                session,
                creator_actor(creator),
                event_id=market.event_id,
                pool_id=market.pool_id,
                market_id=market.id or 0,
                paused=True,
            )
        assert data(await ws.next(op), "marketUpdated")["paused"] is True


async def test_private_streams_carry_only_their_owners_events(live: Live, db: Database, settings: Settings) -> None:
    creator, market = await book_market(db)
    mid = market.id or 0
    alice, alice_token = await trader(db, settings, balance=100_000)
    bob, bob_token = await trader(db, settings, balance=100_000)
    async with (
        GraphQLSocket(live.app, params=auth(alice_token)) as a,
        GraphQLSocket(live.app, params=auth(bob_token)) as b,
    ):
        ops = {
            ws: {
                name: await ws.subscribe(query)
                for name, query in (
                    ("myOrders", MY_ORDERS),
                    ("myFills", MY_FILLS),
                    ("myPositions", MY_POSITIONS),
                    ("myBalance", MY_BALANCE),
                )
            }
            for ws in (a, b)
        }
        for ws in (a, b):
            snapshot = data(await ws.next(ops[ws]["myBalance"]), "myBalance")
            assert (snapshot["kind"], int(snapshot["cash"]), int(snapshot["escrow"])) == ("SNAPSHOT", 100_000, 0)

        resting = await place(live, alice, mid, "buy", "YES", 30_000, 6000)
        order = data(await a.next(ops[a]["myOrders"]), "myOrders")
        assert (order["kind"], order["id"], order["userId"], order["status"]) == (
            "LIVE",
            gid(Kind.ORDER, resting.order.id or 0),
            gid(Kind.USER, alice),
            "PENDING",
        )
        balance = data(await a.next(ops[a]["myBalance"]), "myBalance")  # one message for the whole order
        assert (int(balance["cash"]), int(balance["escrow"]), balance["seq"]) == (70_000, 30_000, 1)
        assert balance["frozen"] == balance["escrow"]  # named as the payloads' Balances name it
        await b.nothing(0.2)  # bob hears nothing of alice's order or money

        taken = await place(live, bob, mid, "buy", "NO", 10_000, 4000)
        bob_order = data(await b.next(ops[b]["myOrders"]), "myOrders")
        assert (bob_order["id"], bob_order["userId"], bob_order["status"]) == (
            gid(Kind.ORDER, taken.order.id or 0),
            gid(Kind.USER, bob),
            "FILLED",
        )
        alice_order = data(await a.next(ops[a]["myOrders"]), "myOrders")
        assert (alice_order["id"], alice_order["status"]) == (gid(Kind.ORDER, resting.order.id or 0), "PARTIAL")
        alice_fill = data(await a.next(ops[a]["myFills"]), "myFills")
        bob_fill = data(await b.next(ops[b]["myFills"]), "myFills")
        # each party's side of the fill: the one Trade type, and the order that filled
        assert (alice_fill["order"], alice_fill["trade"]["tokenType"], alice_fill["trade"]["source"]) == (
            {"id": gid(Kind.ORDER, resting.order.id or 0), "status": "PARTIAL"},
            "YES",
            "ORDERBOOK",
        )
        assert (bob_fill["order"]["id"], bob_fill["trade"]["tokenType"], bob_fill["trade"]["id"]) == (
            gid(Kind.ORDER, taken.order.id or 0),
            "NO",
            gid(Kind.TRADE, taken.trades[0].id or 0),
        )
        assert alice_fill["trade"]["fee"] is not None and bob_fill["trade"]["market"] == {"id": gid(Kind.MARKET, mid)}
        alice_units, bob_units = alice_fill["trade"]["shares"], bob_fill["trade"]["shares"]
        assert alice_units == bob_units and alice_fill["trade"]["id"] != bob_fill["trade"]["id"]
        alice_position = data(await a.next(ops[a]["myPositions"]), "myPositions")
        bob_position = data(await b.next(ops[b]["myPositions"]), "myPositions")
        assert alice_position["market"] == {"id": gid(Kind.MARKET, mid)}  # the one Position type, with its link
        assert alice_position["unrealizedPnl"] is not None and alice_position["useBonus"] is False
        assert (alice_position["tokenType"], alice_position["status"], alice_position["amount"]) == (
            "YES",
            "OPEN",
            alice_units,
        )
        assert (bob_position["tokenType"], bob_position["amount"]) == ("NO", bob_units)
        assert int(data(await b.next(ops[b]["myBalance"]), "myBalance")["cash"]) < 100_000
        assert data(await a.next(ops[a]["myBalance"]), "myBalance")["seq"] == 2  # the maker's escrow paid out
        await a.nothing(0.1)
        await b.nothing(0.1)

        async with live.db.transaction() as session:  # resolution: alice's resting rest cancelled, both settled
            await resolution.close_market(
                session, creator_actor(creator), market.event_id, market.pool_id, mid, Verdict(won_side="YES")
            )
        cancelled = data(await a.next(ops[a]["myOrders"]), "myOrders")
        assert (cancelled["status"], cancelled["cancelReason"]) == ("CANCELLED", "MARKET_RESOLVED")
        settled = data(await a.next(ops[a]["myPositions"]), "myPositions")
        assert (settled["status"], settled["wonSide"], settled["id"]) == ("CLOSED", "YES", alice_position["id"])
        assert settled["unrealizedPnl"] is None and settled["closedAt"] is not None
        lost = data(await b.next(ops[b]["myPositions"]), "myPositions")
        assert (lost["status"], lost["wonSide"], int(lost["realizedPnl"]) < 0) == ("CLOSED", "YES", True)
        paid = data(await a.next(ops[a]["myBalance"]), "myBalance")
        assert int(paid["escrow"]) == 0 and int(paid["cash"]) > int(balance["cash"])


async def test_private_streams_need_a_signed_in_socket(live: Live, db: Database) -> None:
    async with GraphQLSocket(live.app) as ws:
        for query in (MY_ORDERS, MY_FILLS, MY_POSITIONS, MY_BALANCE):
            op = await ws.subscribe(query)
            failed = await ws.next(op)
            assert failed["data"] is None and failed["errors"][0]["extensions"]["code"] == "UNAUTHORIZED", failed
            assert (await ws.next(op))["type"] == "complete"
    assert live.bus.stats()["channels"] == 0


async def test_my_orders_resumes_from_seq(live: Live, db: Database, settings: Settings) -> None:
    _, market = await book_market(db)
    mid = market.id or 0
    alice, token = await trader(db, settings, balance=100_000)
    placed = [await place(live, alice, mid, "buy", "YES", 5_000, price) for price in (4000, 4100, 4200)]
    async with GraphQLSocket(live.app, params=auth(token)) as ws:
        op = await ws.subscribe(MY_ORDERS, {"from": 1})
        replayed = [data(await ws.next(op), "myOrders") for _ in range(2)]
        assert [(m["kind"], m["seq"], m["id"]) for m in replayed] == [
            ("LIVE", 2, gid(Kind.ORDER, placed[1].order.id or 0)),
            ("LIVE", 3, gid(Kind.ORDER, placed[2].order.id or 0)),
        ]
        await cancel(live, alice, placed[0].order.id or 0)
        following = data(await ws.next(op), "myOrders")
        first_order = gid(Kind.ORDER, placed[0].order.id or 0)
        assert (following["seq"], following["id"], following["status"]) == (4, first_order, "CANCELLED")
        await ws.nothing(0.1)
