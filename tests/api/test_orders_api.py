"""REST group ``trading`` (order-book orders), ``GET /market/orderbook/{market_id}`` and our pause
route, through the in-process app: shapes as routes.yaml shows them, every documented error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from predictql.db import Database
from predictql.models import Market
from predictql.services import sessions
from predictql.settings import Settings
from tests.api.test_lmsr_api import balances, error, live_market, ok, set_market, trader
from tests.markets.factories import create_market_setup
from tests.markets.test_orderbook_services import assert_books_balanced
from tests.support import bearer, gql

ORDERS = "/api/v1/market/orders"
DOCUMENTED = {
    "id",
    "user_id",
    "market_id",
    "type",
    "kind",
    "token_type",
    "price",
    "amount",
    "filled",
    "status",
    "use_bonus",
    "created_at",
}
EXTENSIONS = {
    "remaining",
    "spent",
    "received",
    "fees",
    "time_in_force",
    "expires_at",
    "client_order_id",
    "cancel_reason",
}


async def book_market(db: Database, **overrides: Any) -> tuple[int, Market]:
    creator, _, (market,) = await create_market_setup(db, market_type="orderbook", **overrides)
    return creator, market


async def post_order(
    client: httpx.AsyncClient,
    token: str | None,
    market_id: int,
    side: str,
    token_type: str,
    amount: Any,
    price: Any = None,
    **extra: Any,
) -> httpx.Response:
    body = {
        "market_id": market_id,
        "type": side,
        "kind": "limit" if price is not None else "market",
        "token_type": token_type,
        "amount": amount,
        **({"price": price} if price is not None else {}),
        **extra,
    }
    return await client.post(ORDERS, json=body, headers=bearer(token) if token else {})


async def test_place_list_and_cancel(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    _, market = await book_market(db)
    user, token = await trader(db, settings, balance=10_000)
    placed = ok(await post_order(client, token, market.id or 0, "buy", "YES", 1000, 6500, amount_type="cents"))
    assert set(placed) == DOCUMENTED | EXTENSIONS
    assert {k: placed[k] for k in DOCUMENTED - {"id", "created_at"}} == {
        "user_id": user,
        "market_id": market.id,
        "type": "buy",
        "kind": "limit",
        "token_type": "YES",
        "price": 6500,
        "amount": 1000,
        "filled": 0,
        "status": "pending",
        "use_bonus": False,
    }
    assert placed["time_in_force"] == "GTC" and placed["remaining"] == 1000
    assert (await balances(db, user)).cash == 9000

    mine = ok(await client.get(ORDERS + "/my", headers=bearer(token)))
    current = ok(await client.get(ORDERS + "/my/current", headers=bearer(token)))
    assert [o["id"] for o in mine] == [o["id"] for o in current] == [placed["id"]]

    cancelled = await client.delete(f"{ORDERS}/{placed['id']}", headers=bearer(token))
    assert ok(cancelled) == {"message": "Order cancelled successfully"}
    assert (await balances(db, user)).cash == 10_000
    assert error(await client.delete(f"{ORDERS}/{placed['id']}", headers=bearer(token))) == (409, "ORDER_NOT_OPEN")
    assert error(await client.delete(f"{ORDERS}/999999", headers=bearer(token))) == (404, "ORDER_NOT_FOUND")
    _, other = await trader(db, settings)
    assert error(await client.delete(f"{ORDERS}/{placed['id']}", headers=bearer(other))) == (404, "ORDER_NOT_FOUND")
    assert ok(await client.get(ORDERS + "/my/current", headers=bearer(token))) == []
    assert ok(await client.get(ORDERS + "/my", headers=bearer(token)))[0]["status"] == "cancelled"
    await assert_books_balanced(db)


async def test_crossing_orders_fill_and_show_in_the_book(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    _, market = await book_market(db)
    mid = market.id or 0
    _, a = await trader(db, settings, balance=50_000, nickname="alice")
    _, b = await trader(db, settings, balance=50_000)
    ok(await post_order(client, a, mid, "buy", "YES", 5100, 5000))  # bid 5000: 10_000 units
    ok(await post_order(client, a, mid, "buy", "YES", 2040, 4000))  # bid 4000: 5000 units
    ok(await post_order(client, b, mid, "buy", "NO", 3060, 3000))  # NO 3000 = ask 7000: 10_000 units
    book = ok(await client.get(f"/api/v1/market/orderbook/{mid}"))
    assert book == {
        "market_id": mid,
        "bids": [{"price": 5000, "amount": 10_000}, {"price": 4000, "amount": 5000}],
        "asks": [{"price": 7000, "amount": 10_000}],
    }
    no_view = ok(await client.get(f"/api/v1/market/orderbook/{mid}", params={"token": "NO", "depth": 1}))
    assert no_view["bids"] == [{"price": 3000, "amount": 10_000}]
    assert no_view["asks"] == [{"price": 5000, "amount": 10_000}]
    taker = ok(await post_order(client, b, mid, "buy", "NO", 8160))  # market order: mints with the best bids
    assert (taker["kind"], taker["price"], taker["status"]) == ("market", 0, "filled")
    assert taker["filled"] == 15_000 and taker["spent"] == 5000 + 100 + 3000 + 60 and taker["fees"] == 160
    latest = ok(await client.get("/api/v1/market/trades/latest"))
    assert {(t["name"], t["token"]) for t in latest} >= {("alice", "YES")}
    await assert_books_balanced(db)


async def test_place_order_errors(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    creator, market = await book_market(db)
    mid = market.id or 0
    user, token = await trader(db, settings, balance=1000)
    cases: list[tuple[dict[str, Any], tuple[int, str]]] = [
        ({"price": 0}, (400, "INVALID_PRICE")),
        ({"price": 10_000}, (400, "INVALID_PRICE")),
        ({"price": 65.5}, (400, "INVALID_PRICE")),
        ({"price": "6500"}, (400, "INVALID_PRICE")),
        ({"price": 5000, "amount": 0}, (400, "INVALID_AMOUNT")),
        ({"price": 5000, "amount": -5}, (400, "INVALID_AMOUNT")),
        ({"price": 5000, "amount": "100"}, (400, "INVALID_AMOUNT")),
        ({"price": 5000, "amount_type": "shares"}, (400, "INVALID_AMOUNT")),
        ({"price": 5000, "type": "hold"}, (400, "INVALID_SIDE")),
        ({"price": 5000, "token_type": "MAYBE"}, (400, "INVALID_SIDE")),
        ({"price": 5000, "amount": 5000}, (400, "INSUFFICIENT_BALANCE")),
        ({"price": 5000, "type": "sell", "amount": 10}, (400, "INSUFFICIENT_BALANCE")),
        ({"price": 5000, "market_id": 10**12}, (404, "MARKET_NOT_FOUND")),
        ({"price": 5000, "time_in_force": "GTD"}, (400, "INVALID_REQUEST")),
        ({"price": 5000, "expires_at": "tomorrow"}, (400, "INVALID_REQUEST")),
        ({"kind": "limit"}, (400, "INVALID_PRICE")),
    ]
    for changes, expected in cases:
        body = {"market_id": mid, "type": "buy", "kind": "limit", "token_type": "YES", "amount": 500, **changes}
        assert error(await client.post(ORDERS, json=body, headers=bearer(token))) == expected, changes
    assert error(await post_order(client, None, mid, "buy", "YES", 500, 5000)) == (401, "UNAUTHORIZED")
    lmsr = await live_market(db)
    assert error(await post_order(client, token, lmsr.id or 0, "buy", "YES", 500, 5000)) == (400, "INVALID_REQUEST")
    await set_market(db, mid, paused=True)
    assert error(await post_order(client, token, mid, "buy", "YES", 500, 5000)) == (409, "MARKET_PAUSED")
    await set_market(db, mid, paused=False, resolved=True)
    assert error(await post_order(client, token, mid, "buy", "YES", 500, 5000)) == (409, "MARKET_RESOLVED")
    assert creator and (await balances(db, user)).cash == 1000


async def test_orderbook_errors(client: httpx.AsyncClient) -> None:
    assert error(await client.get("/api/v1/market/orderbook/abc")) == (400, "invalid_market_id")
    assert error(await client.get("/api/v1/market/orderbook/424242")) == (404, "market_not_found")


@pytest.mark.parametrize(
    "token",
    [
        "%ED%A0%80",
        "x%ED%BF%BFy",
        "%00",
        "%C3%9F",
        "%EF%AC%83",
        "nO%CC%81",
        "YES&token=NO",
        "maybe",
    ],
)
async def test_orderbook_token_is_checked_text_then_a_choice(
    client: httpx.AsyncClient, db: Database, token: str
) -> None:
    """A lone surrogate (UTF-8 encoded), NUL, a letter whose upper case is longer ("ß", "ﬃ"), a
    combining mark, a repeat, a word: the route's 400, never a 500 (a fuzz run once got a 500
    UnicodeEncodeError here); "yes"/"no" in any case still choose."""
    _, market = await book_market(db)
    path = f"/api/v1/market/orderbook/{market.id}"
    assert error(await client.get(f"{path}?token={token}")) == (400, "invalid_body")
    assert ok(await client.get(f"{path}?token=nO"))["market_id"] == market.id
    assert ok(await client.get(f"{path}?token="))["market_id"] == market.id


@pytest.mark.parametrize("paused", [True, False])
async def test_pause_route(client: httpx.AsyncClient, db: Database, settings: Settings, paused: bool) -> None:
    creator, market = await book_market(db)
    user, token = await trader(db, settings, balance=10_000)
    ok(await post_order(client, token, market.id or 0, "buy", "YES", 3000, 4000))
    path = f"/api/v1/events/{market.event_id}/pools/{market.pool_id}/markets/{market.id}/pause"
    assert error(await client.post(path, json={"paused": True}, headers=bearer(token))) == (403, "FORBIDDEN")
    async with db.transaction() as session:
        owner = (await sessions.open_session(session, settings, creator)).access_token
    body = ok(await client.post(path, json={"paused": paused}, headers=bearer(owner)))
    assert body["paused"] is paused and body["market_type"] == "orderbook"
    expected = 10_000 if paused else 7000  # pausing cancelled the resting order and released its escrow
    assert (await balances(db, user)).cash == expected
    await assert_books_balanced(db)


async def test_close_position_on_the_book_rest_and_graphql(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    """Both faces close an order-book holding through one service: market sells into the bids."""
    _, market = await book_market(db)
    (yes, yes_token), (no, no_token), (_, bidder) = [await trader(db, settings, balance=50_000) for _ in range(3)]
    market_id = market.id or 0
    ok(await post_order(client, yes_token, market_id, "buy", "YES", 6120, 6000))
    ok(await post_order(client, no_token, market_id, "buy", "NO", 4080, 4000))  # mints 10_000 pairs
    close = f"/api/v1/market/positions/{market_id}/close"
    assert error(await client.post(close, headers=bearer(yes_token))) == (409, "NO_LIQUIDITY")
    ok(await post_order(client, bidder, market_id, "buy", "YES", 40_000, 7000))
    before = (await balances(db, yes)).cash
    assert ok(await client.post(close, headers=bearer(yes_token))) == {"message": "Position closed successfully"}
    assert (await balances(db, yes)).cash == before + 7000 - 140  # 10_000 units at 7000, 2 % fee
    ok(await post_order(client, bidder, market_id, "buy", "NO", 3000, 2500))  # a bid for NO at 2500
    mutation = """mutation($m: ID!) { closePosition(input: {marketId: $m}) {
      proceeds trades { side tokenType shares source } } }"""
    body = await gql(client, mutation, {"m": f"mkt_{market_id}"}, no_token)
    assert "errors" not in body, body
    closed = body["data"]["closePosition"]
    assert closed["trades"][0] == {
        "side": "SELL",
        "tokenType": "NO",
        "shares": closed["trades"][0]["shares"],
        "source": "ORDERBOOK",
    }
    assert closed["trades"][0]["shares"] > 0 and closed["proceeds"] > 0
    assert (await balances(db, no)).cash == 50_000 - 4080 + closed["proceeds"]
    assert ok(await client.get("/api/v1/market/positions/my", headers=bearer(yes_token))) == []
    await assert_books_balanced(db)
