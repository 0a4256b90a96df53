"""Order-book trading over GraphQL: an order-book pool, placeOrder, cancelOrder, cancelAllOrders,
orderbook, myOrders (a Relay connection) and setMarketPaused, with the REST codes in extensions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from predictql.db import Database, utcnow
from predictql.jsonutil import rfc3339
from predictql.settings import Settings
from tests.api.test_lmsr_api import balances, trader
from tests.api.test_users import fast_user
from tests.graphql.test_trading_graphql import code, data
from tests.markets.test_orderbook_services import assert_books_balanced
from tests.support import USER_ERRORS, gql, ok_payload

CREATE_FULL = """mutation($input: CreateEventFullInput!) { createEventFull(input: $input) {
  event { id pools { id metadata markets { id marketType } } } userErrors { field message code } } }"""
ORDER = "id side tokenType kind price amount remaining filled spent fees timeInForce status cancelReason clientOrderId"
PLACE = f"""mutation($input: PlaceOrderInput!) {{ placeOrder(input: $input) {{
  order {{ {ORDER} }} fills {{ id source side tokenType shares price amount fee }} market {{ id }}
  balances {{ cash bonus frozen total }}
  {USER_ERRORS} }} }}"""
CANCEL = f"""mutation($id: ID!) {{ cancelOrder(input: {{id: $id}}) {{
  cancelledOrderId order {{ {ORDER} }} balances {{ cash frozen }} {USER_ERRORS} }} }}"""
CANCEL_ALL = f"""mutation($m: ID!) {{ cancelAllOrders(input: {{marketId: $m}}) {{
  cancelledOrderIds orders {{ id status cancelReason }} balances {{ frozen }} {USER_ERRORS} }} }}"""
BOOK = """query($m: ID!, $depth: Int!, $token: Outcome!) { orderbook(marketId: $m, depth: $depth, tokenType: $token) {
  marketId tokenType bids { price amount } asks { price amount } } }"""
MY_ORDERS = """query($first: Int!, $after: String, $status: OrderStatusFilter) {
  myOrders(first: $first, after: $after, status: $status) {
  edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }"""
PAUSE = f"""mutation($e: ID!, $p: ID!, $m: ID!, $on: Boolean!) {{
  setMarketPaused(input: {{eventId: $e, poolId: $p, marketId: $m, paused: $on}}) {{
  market {{ id paused marketType }} {USER_ERRORS} }} }}"""


def order_input(market: str, side: str, token: str, amount: int, price: int | None = None, **extra: Any) -> Any:
    """REST's lower-case side, as the GraphQL enum (BUY, SELL)."""
    fields = {"marketId": market, "side": side.upper(), "tokenType": token, "amount": amount, **extra}
    if price is not None:
        fields["price"] = price
    else:
        fields["kind"] = "MARKET"
    return {"input": fields}


async def order_book_event(client: httpx.AsyncClient, db: Database) -> tuple[str, dict[str, Any], str]:
    """(creator token, the pool, its one market id), created through GraphQL with marketType."""
    _, token = await fast_user(db, is_creator=True)
    pool = {
        "name": "Book",
        "finishAt": rfc3339(utcnow() + timedelta(days=1)),
        "marketNames": ["Yes"],
        "marketPrices": [5000],
        "marketType": "ORDERBOOK",
    }
    full = {"input": {"name": "Order-book event", "pools": [pool]}}
    created = ok_payload(await gql(client, CREATE_FULL, full, token))
    event = created["event"]
    activate = "mutation($id: ID!) { setEventActive(input: {id: $id, isActive: true}) { userErrors { code } } }"
    ok_payload(await gql(client, activate, {"id": event["id"]}, token))
    (book_pool,) = event["pools"]
    assert book_pool["metadata"]["market_type"] == "orderbook"
    assert [m["marketType"] for m in book_pool["markets"]] == ["ORDERBOOK"]
    return token, {**book_pool, "eventId": event["id"]}, book_pool["markets"][0]["id"]


async def test_place_fill_cancel_and_book(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    _, _, market = await order_book_event(client, db)
    a_id, a = await trader(db, settings, balance=50_000)
    _, b = await trader(db, settings, balance=50_000)
    rested = ok_payload(await gql(client, PLACE, order_input(market, "buy", "YES", 6120, 6000, clientOrderId="a-1"), a))
    assert rested["market"] == {"id": market}
    assert rested["balances"] == {"cash": 50_000 - 6120, "bonus": 0, "frozen": 6120, "total": 50_000 - 6120}
    assert rested["order"] | {"id": None} == {
        "id": None,
        "side": "BUY",
        "tokenType": "YES",
        "kind": "LIMIT",
        "price": 6000,
        "amount": 6120,
        "remaining": 6120,
        "filled": 0,
        "spent": 0,
        "fees": 0,
        "timeInForce": "GTC",
        "status": "PENDING",
        "cancelReason": None,
        "clientOrderId": "a-1",
    }
    dup = await gql(client, PLACE, order_input(market, "buy", "YES", 100, 5000, clientOrderId="a-1"), a)
    assert code(dup) == "DUPLICATE_CLIENT_ORDER_ID"
    book = data(await gql(client, BOOK, {"m": market, "depth": 5, "token": "YES"}))["orderbook"]
    assert book == {"marketId": market, "tokenType": "YES", "bids": [{"price": 6000, "amount": 10_000}], "asks": []}
    no_book = data(await gql(client, BOOK, {"m": market, "depth": 5, "token": "NO"}))["orderbook"]
    assert no_book["asks"] == [{"price": 4000, "amount": 10_000}] and no_book["bids"] == []

    taker = ok_payload(await gql(client, PLACE, order_input(market, "buy", "NO", 2040), b))
    assert taker["order"]["status"] == "FILLED" and taker["order"]["price"] == 0
    fills = [
        (f["source"], f["side"], f["tokenType"], f["shares"], f["price"], f["amount"], f["fee"]) for f in taker["fills"]
    ]
    assert fills == [("ORDERBOOK", "BUY", "NO", 5000, 4000, 2000, 40)]  # the one Trade type, the taker's side

    cancel_payload = ok_payload(await gql(client, CANCEL, {"id": rested["order"]["id"]}, a))
    cancelled = cancel_payload["order"]
    assert (cancelled["status"], cancelled["cancelReason"], cancelled["filled"]) == ("CANCELLED", "USER_CANCEL", 5000)
    assert cancel_payload["cancelledOrderId"] == rested["order"]["id"]
    assert (await balances(db, a_id)).cash == 50_000 - 3060
    assert cancel_payload["balances"] == {"cash": 50_000 - 3060, "frozen": 0}
    again = await gql(client, CANCEL, {"id": rested["order"]["id"]}, a)
    assert code(again) == "ORDER_NOT_OPEN"
    await assert_books_balanced(db)


async def test_errors_carry_the_rest_codes(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    _, _, market = await order_book_event(client, db)
    _, poor = await trader(db, settings, balance=100)
    assert code(await gql(client, PLACE, order_input(market, "buy", "YES", 500, 10_000), poor)) == "INVALID_PRICE"
    assert code(await gql(client, PLACE, order_input(market, "buy", "YES", 0, 5000), poor)) == "INVALID_AMOUNT"
    assert code(await gql(client, PLACE, order_input(market, "buy", "YES", 500, 5000), poor)) == "INSUFFICIENT_BALANCE"
    assert code(await gql(client, PLACE, order_input(market, "buy", "YES", 50, 5000))) == "UNAUTHORIZED"
    assert code(await gql(client, PLACE, order_input("mkt_424242", "buy", "YES", 50, 5000), poor)) == "MARKET_NOT_FOUND"
    assert code(await gql(client, BOOK, {"m": "mkt_424242", "depth": 5, "token": "YES"})) == "market_not_found"
    assert code(await gql(client, BOOK, {"m": "424242", "depth": 5, "token": "YES"})) == "INVALID_ID"
    assert code(await gql(client, BOOK, {"m": "mkt_1", "depth": 5, "token": "MAYBE"})) == "BAD_USER_INPUT"
    assert code(await gql(client, PLACE, order_input(market, "hold", "YES", 50, 5000), poor)) == "BAD_USER_INPUT"


async def test_my_orders_connection_and_cancel_all(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    _, _, market = await order_book_event(client, db)
    _, a = await trader(db, settings, balance=50_000)
    ids = []
    for price in (1000, 2000, 3000):
        placed = ok_payload(await gql(client, PLACE, order_input(market, "buy", "YES", 1000, price), a))
        ids.append(placed["order"]["id"])
    first = data(await gql(client, MY_ORDERS, {"first": 2}, a))["myOrders"]
    assert [e["node"]["id"] for e in first["edges"]] == ids[:0:-1] and first["pageInfo"]["hasNextPage"]
    rest = data(await gql(client, MY_ORDERS, {"first": 2, "after": first["pageInfo"]["endCursor"]}, a))["myOrders"]
    assert [e["node"]["id"] for e in rest["edges"]] == ids[:1] and rest["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": rest["edges"][-1]["cursor"],  # Relay: the last edge's, even at the end
    }
    all_gone = ok_payload(await gql(client, CANCEL_ALL, {"m": market}, a))
    gone = all_gone["orders"]
    assert sorted(o["id"] for o in gone) == sorted(ids) and {o["cancelReason"] for o in gone} == {"USER_CANCEL"}
    assert sorted(all_gone["cancelledOrderIds"]) == sorted(ids)
    assert all_gone["balances"] == {"frozen": 0}
    still_open = data(await gql(client, MY_ORDERS, {"first": 10, "status": "OPEN"}, a))["myOrders"]
    assert still_open["edges"] == []
    assert code(await gql(client, MY_ORDERS, {"first": 10, "status": "weird"}, a)) == "BAD_USER_INPUT"


async def test_pause_cancels_resting_orders(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    creator, pool, market = await order_book_event(client, db)
    user, token = await trader(db, settings, balance=10_000)
    ok_payload(await gql(client, PLACE, order_input(market, "buy", "NO", 2000, 3000), token))
    variables = {"e": pool["eventId"], "p": pool["id"], "m": market, "on": True}
    assert code(await gql(client, PAUSE, variables, token)) == "FORBIDDEN"
    paused = ok_payload(await gql(client, PAUSE, variables, creator))["market"]
    assert paused == {"id": market, "paused": True, "marketType": "ORDERBOOK"}
    assert (await balances(db, user)).cash == 10_000
    assert code(await gql(client, PLACE, order_input(market, "buy", "NO", 2000, 3000), token)) == "MARKET_PAUSED"
    ok_payload(await gql(client, PAUSE, {**variables, "on": False}, creator))
    ok_payload(await gql(client, PLACE, order_input(market, "buy", "NO", 2000, 3000), token))
    await assert_books_balanced(db)


async def test_fok_not_fillable_is_a_user_error_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    _, _, market = await order_book_event(client, db)
    user, token = await trader(db, settings, balance=10_000)
    body = await gql(client, PLACE, order_input(market, "buy", "YES", 1000, 5000, timeInForce="FOK"), token)
    assert "errors" not in body
    assert body["data"]["placeOrder"]["userErrors"] == [
        {"field": None, "message": "order rejected: FOK_NOT_FILLABLE", "code": "FOK_NOT_FILLABLE"}
    ]
    assert body["data"]["placeOrder"]["order"] is None
    assert (await balances(db, user)).cash == 10_000
    orders = ok_payload(await gql(client, CANCEL_ALL, {"m": market}, token))
    assert orders["orders"] == []
    await assert_books_balanced(db)
