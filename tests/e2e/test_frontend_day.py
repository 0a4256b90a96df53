"""A frontend's day against a real server, through the Python ``gql`` client (issue 11 point 9).

Over HTTP (aiohttp) and over a graphql-transport-ws WebSocket, the same session a trading frontend
runs: sign in, browse with ``markets(orderBy:)``, open a market with its candles and its book,
trade and read the updated position from the payload (no refetch), page through ``myTrades`` both
ways, place an order, and resolve a ``node(id)`` of each of the eleven kinds it has seen. Then the
live leg: follow the market's trade stream over the WebSocket, trade over HTTP and see each
``Trade`` arrive, drop the subscription, trade while away, resubscribe with ``fromSeq`` and receive
exactly what was missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.websockets import WebsocketsTransport

from predictql.db import Database
from predictql.schema.ids import Kind, parse
from tests.e2e.test_server import ws_url
from tests.markets.factories import create_market_setup
from tests.support import create_user, unique_email

pytestmark = pytest.mark.e2e

SIGN_IN = """mutation($email: String!, $password: String!) {
  signIn(input: {email: $email, password: $password}) {
    accessToken user { id balance } userErrors { field message code } } }"""

BROWSE = """query($first: Int!) { markets(orderBy: NEWEST, first: $first) {
  totalCount nodes { id name yesPrice event { id name } pool { id } } } }"""

OPEN_MARKET = """query($id: ID!) { market(id: $id) {
  id name yesPrice noPrice volume
  priceHistory(interval: ONE_MINUTE) { start open high low close volume tradeCount }
  orderbook(depth: 10) { tokenType bids { price amount } asks { price amount } }
  event { id } pool { id } } }"""

TRADE = """mutation($input: LmsrTradeInput!, $key: String) { lmsrTrade(input: $input, idempotencyKey: $key) {
  trade { id source side tokenType shares price amount fee market { id } }
  sharesDelta costOrPayoutCents
  market { id yesPrice volume }
  position { id status tokenType amount market { id } }
  balances { cash bonus frozen total }
  userErrors { field message code } } }"""

MY_TRADES = """query($first: Int, $after: String, $last: Int, $before: String) {
  myTrades(first: $first, after: $after, last: $last, before: $before) {
    totalCount nodes { id amount market { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""

NODE = """query($id: ID!) { node(id: $id) { __typename id } }"""

PLACE = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
  order { id status price market { id } } fills { id } userErrors { code } } }"""

MINE = """mutation { createApiToken(input: {name: "day"}) { apiToken { id } userErrors { code } }
  suggestEvent(input: {name: "Snow in May?"}) { suggestion { id } userErrors { code } } }"""

MY_LISTS = """{ notifications(first: 1) { nodes { id } } myTransactions(first: 1) { nodes { id } } }"""


def _transports(server: str, token: str) -> list[Any]:
    return [
        AIOHTTPTransport(url=f"{server}/graphql", headers={"Authorization": f"Bearer {token}"}),
        WebsocketsTransport(
            url=ws_url(server),
            init_payload={"Authorization": f"Bearer {token}"},
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        ),
    ]


async def _sign_in(server: str, email: str) -> tuple[str, str]:
    async with Client(transport=AIOHTTPTransport(url=f"{server}/graphql")) as session:
        signed = await session.execute(
            GraphQLRequest(SIGN_IN, variable_values={"email": email, "password": "password123"})
        )
    payload = signed["signIn"]
    assert payload["userErrors"] == [] and payload["accessToken"]
    assert parse(payload["user"]["id"])[0] is Kind.USER
    return payload["accessToken"], payload["user"]["id"]


async def _run(session: Any, query: str, **variables: Any) -> dict[str, Any]:
    result: dict[str, Any] = await session.execute(GraphQLRequest(query, variable_values=variables))
    return result


@pytest.mark.parametrize("face", ["http", "websocket"])
async def test_a_frontends_day(server: str, db: Database, face: str) -> None:
    _, pool, markets = await create_market_setup(db, probabilities=(0.4,), names=(f"Day over {face}",))
    _, _, (book,) = await create_market_setup(db, probabilities=(0.5,), market_type="orderbook")
    market_id = f"mkt_{markets[0].id}"
    email = unique_email("day")
    await create_user(db, email=email, balance=50_000)
    token, user_id = await _sign_in(server, email)

    transport = _transports(server, token)[0 if face == "http" else 1]
    async with Client(transport=transport) as session:
        # Browse: the newest markets come first, each linked to its event and pool.
        browse = (await _run(session, BROWSE, first=50))["markets"]
        assert browse["totalCount"] >= 1
        mine = next(m for m in browse["nodes"] if m["id"] == market_id)
        assert mine["pool"]["id"] == f"pool_{pool.id}" and parse(mine["event"]["id"])[0] is Kind.EVENT

        # Open the market: candles (none before the first trade) and an empty book.
        opened = (await _run(session, OPEN_MARKET, id=market_id))["market"]
        assert opened["yesPrice"] == 4000 and opened["orderbook"] == {"tokenType": "YES", "bids": [], "asks": []}

        # Trade three times; each payload carries the market, the position and the balances.
        cash = 50_000
        for n in range(3):
            traded = (
                await _run(
                    session,
                    TRADE,
                    input={"marketId": market_id, "side": "BUY_YES", "amountType": "SPEND", "amount": 1_000},
                    key=f"day-{face}-{n}",
                )
            )["lmsrTrade"]
            assert traded["userErrors"] == []
            trade = traded["trade"]  # the one Trade type; what it cost sits beside it
            assert (trade["source"], trade["side"], trade["tokenType"], trade["market"]) == (
                "LMSR",
                "BUY",
                "YES",
                {"id": market_id},
            )
            assert trade["shares"] == traded["sharesDelta"] > 0 and parse(trade["id"])[0] is Kind.TRADE
            assert trade["amount"] + trade["fee"] == traded["costOrPayoutCents"] == 1_000
            position = traded["position"]
            assert (position["status"], position["tokenType"], position["market"]) == (
                "OPEN",
                "YES",
                {"id": market_id},
            )
            assert position["amount"] > 0 and parse(position["id"])[0] is Kind.POSITION
            assert traded["market"]["id"] == market_id and traded["market"]["yesPrice"] > opened["yesPrice"]
            cash -= 1_000
            assert traded["balances"]["cash"] == cash and traded["balances"]["frozen"] == 0

        # A failed trade is a userError with a code from ErrorCode, and changes nothing.
        refused = (
            await _run(
                session,
                TRADE,
                input={"marketId": market_id, "side": "BUY_YES", "amountType": "SPEND", "amount": 10_000_000},
            )
        )["lmsrTrade"]
        assert [e["code"] for e in refused["userErrors"]] == ["INSUFFICIENT_BALANCE"]
        assert refused["balances"] is None or refused["balances"]["cash"] == cash

        # The candles now hold the trades' volume.
        candles = (await _run(session, OPEN_MARKET, id=market_id))["market"]["priceHistory"]
        assert sum(c["tradeCount"] for c in candles) == 3 and sum(c["volume"] for c in candles) > 0

        # Page through myTrades forward, one at a time, then back.
        forward: list[str] = []
        after = None
        while True:
            page = (await _run(session, MY_TRADES, first=1, after=after))["myTrades"]
            assert page["totalCount"] == 3
            forward += [t["id"] for t in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(forward) == 3 and len(set(forward)) == 3
        backward: list[str] = []
        before = None
        while True:
            page = (await _run(session, MY_TRADES, last=1, before=before))["myTrades"]
            backward = [t["id"] for t in page["nodes"]] + backward
            if not page["pageInfo"]["hasPreviousPage"]:
                break
            before = page["pageInfo"]["startCursor"]
        assert backward == forward

        # A resting limit order on an order-book market (nobody to fill it), an API token, an idea.
        placed = (
            await _run(
                session,
                PLACE,
                input={
                    "marketId": f"mkt_{book.id}",
                    "side": "BUY",
                    "tokenType": "YES",
                    "amount": 1_000,
                    "price": 4000,
                },
            )
        )["placeOrder"]
        assert placed["userErrors"] == [] and placed["fills"] == []
        assert (placed["order"]["status"], placed["order"]["price"]) == ("PENDING", 4000)
        created = await _run(session, MINE)
        lists = await _run(session, MY_LISTS)

        # Every id seen resolves through node(id) to its own type: one of each kind.
        seen = {
            placed["order"]["id"]: "Order",
            created["createApiToken"]["apiToken"]["id"]: "ApiToken",
            created["suggestEvent"]["suggestion"]["id"]: "EventSuggestion",
            lists["notifications"]["nodes"][0]["id"]: "Notification",
            lists["myTransactions"]["nodes"][0]["id"]: "MoneyTransaction",
            user_id: "User",
            market_id: "Market",
            mine["event"]["id"]: "Event",
            f"pool_{pool.id}": "Pool",
            position["id"]: "Position",
            forward[0]: "Trade",
        }
        assert len({parse(node_id)[0] for node_id in seen}) == len(seen) == 11  # eleven kinds, each once
        for node_id, typename in seen.items():
            node = (await _run(session, NODE, id=node_id))["node"]
            assert node == {"__typename": typename, "id": node_id}


LIVE_TRADES = """subscription($m: ID!, $from: Long) { trades(marketId: $m, fromSeq: $from) {
  kind seq data { id source side tokenType shares price fee market { id yesPrice } trader { id } } } }"""

WAIT = 20.0  # seconds for any one expected message


async def _next(stream: AsyncGenerator[dict[str, Any], None]) -> dict[str, Any]:
    message: dict[str, Any] = (await asyncio.wait_for(anext(stream), WAIT))["trades"]
    return message


async def test_a_live_trade_stream_resumes_from_seq(server: str, db: Database) -> None:
    """Subscribe through gql over graphql-transport-ws, trade over HTTP, see each Trade arrive; drop
    the subscription, trade twice while away, resubscribe with fromSeq: both arrive, in order, once."""
    _, _, markets = await create_market_setup(db, probabilities=(0.5,), names=("Live leg",))
    market_id = f"mkt_{markets[0].id}"
    email = unique_email("live")
    await create_user(db, email=email, balance=50_000)
    token, user_id = await _sign_in(server, email)
    http, websocket = _transports(server, token)

    async def buy(session: Any, n: int) -> str:
        traded = (
            await _run(
                session,
                TRADE,
                input={"marketId": market_id, "side": "BUY_YES", "amountType": "SPEND", "amount": 500},
                key=f"live-{n}",
            )
        )["lmsrTrade"]
        assert traded["userErrors"] == []
        trade_id: str = traded["trade"]["id"]
        return trade_id

    async with Client(transport=http) as trading, Client(transport=websocket) as live:
        first = await buy(trading, 0)  # committed before anyone follows: fromSeq 0 replays it
        stream = live.subscribe(GraphQLRequest(LIVE_TRADES, variable_values={"m": market_id, "from": 0}))
        replayed = await _next(stream)
        assert (replayed["seq"], replayed["data"]["id"]) == (1, first)
        second = await buy(trading, 1)  # the subscription is following now
        arrived = await _next(stream)
        assert (arrived["kind"], arrived["seq"]) == ("LIVE", 2)
        assert arrived["data"] == {
            "id": second,
            "source": "LMSR",
            "side": "BUY",
            "tokenType": "YES",
            "shares": arrived["data"]["shares"],
            "price": arrived["data"]["price"],
            "fee": arrived["data"]["fee"],
            "market": {"id": market_id, "yesPrice": arrived["data"]["market"]["yesPrice"]},
            "trader": {"id": user_id},
        }
        assert arrived["data"]["shares"] > 0 and 0 < arrived["data"]["price"] < 10_000
        assert arrived["data"]["fee"] > 0  # the trader sees their own fee
        await stream.aclose()  # the client goes away (gql sends complete) ...
        missed = [await buy(trading, 2), await buy(trading, 3)]  # ... and two trades commit meanwhile

        resumed = live.subscribe(GraphQLRequest(LIVE_TRADES, variable_values={"m": market_id, "from": 2}))
        again = [await _next(resumed), await _next(resumed)]
        assert [(m["seq"], m["data"]["id"]) for m in again] == [(3, missed[0]), (4, missed[1])]
        latest = await buy(trading, 4)
        after = await _next(resumed)
        assert (after["kind"], after["seq"], after["data"]["id"]) == ("LIVE", 5, latest)
        await resumed.aclose()
