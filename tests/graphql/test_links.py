"""Links between types and per-parent connections (issue 11 points 2 and 5).

Nested paths cost a fixed number of SQL statements whatever the number of rows, on the engine the
running app built (``count_statements``); pages go both ways and count the whole list.
"""

from __future__ import annotations

from typing import Any

import httpx

from predictql.auth import Actor
from predictql.db import Database
from predictql.services import lmsr_trading
from predictql.services.lmsr_trading import TradeRequest
from predictql.settings import Settings
from tests.graphql.test_round_trips import app_client, count_statements, seed, split
from tests.markets.factories import create_market_setup
from tests.support import Kind, create_user, gid, gql, row_id, sign_in, unique_email

__all__ = ["app_client"]  # the fixture, re-exported for pytest

POSITIONS = """{ me { positions(first: 50) { totalCount pageInfo { hasNextPage hasPreviousPage }
  nodes { status tokenType amount unrealizedPnl market { name pool { name event { id name } } event { name } } }
} } }"""

EVENT_TRADES = """{ events(first: 20) { totalCount nodes { name pools { markets { id name
  trades(first: 2) { totalCount pageInfo { hasNextPage } nodes { source side tokenType shares
    trader { name } market { id } } }
} } } } }"""


async def buy(db: Database, settings: Settings, user_id: int, market_id: int, amount: int = 10_000) -> None:
    async with db.transaction() as session:
        await lmsr_trading.trade(
            session,
            Actor(user_id=user_id),
            TradeRequest(market_id, "buy_yes", "spend", amount),
            fee_bps=settings.fee_bps,
        )


async def market_ids(http: httpx.AsyncClient) -> list[int]:
    body = await gql(http, "{ events(first: 100) { nodes { pools { markets { id } } } } }")
    return [row_id(m["id"]) for e in body["data"]["events"]["nodes"] for p in e["pools"] for m in p["markets"]]


async def test_positions_to_event_cost_a_fixed_number_of_statements(
    app_client: tuple[httpx.AsyncClient, Database], db: Database, settings: Settings
) -> None:
    """``me -> positions -> market -> pool -> event`` with 1 and then 6 positions."""
    http, app_db = app_client
    await seed(db, await create_user(db, is_creator=True), 3)
    markets = await market_ids(http)
    email = unique_email("links")
    trader = await create_user(db, email=email, balance=10_000_000)
    token = await sign_in(http, email)
    http.cookies.clear()

    counts = []
    for market_id in (markets[:1], markets[1:6]):
        for one in market_id:
            await buy(db, settings, trader, one)
        with count_statements(app_db) as seen:
            body = await gql(http, POSITIONS, token=token)
        assert "errors" not in body, body
        counts.append(split(seen)[0])
    connection = body["data"]["me"]["positions"]
    assert connection["totalCount"] == 6
    assert connection["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False}
    assert {node["status"] for node in connection["nodes"]} == {"OPEN"}
    for node in connection["nodes"]:
        assert node["market"]["pool"]["event"]["name"] == node["market"]["event"]["name"]
    assert all(node["amount"] > 0 and node["tokenType"] == "YES" for node in connection["nodes"])
    print(f"\n[{app_db.engine.dialect.name}] me->positions->market->pool->event: 1 and 6 positions -> {counts}")
    assert counts[0] == counts[1], counts


async def test_events_to_trades_cost_a_fixed_number_of_statements(
    app_client: tuple[httpx.AsyncClient, Database], db: Database, settings: Settings
) -> None:
    """``events -> pools -> markets -> trades(first: 2)`` with 1 and then 4 events, trades in each market."""
    http, app_db = app_client
    creator = await create_user(db, is_creator=True)
    trader = await create_user(db, balance=100_000_000)
    counts: list[int] = []
    bodies: list[dict[str, Any]] = []
    for events in (1, 3):
        await seed(db, creator, events)
        for market_id in await market_ids(http):
            await buy(db, settings, trader, market_id, 5_000)
        with count_statements(app_db) as seen:
            body = await gql(http, EVENT_TRADES)
        assert "errors" not in body, body
        counts.append(split(seen)[0])
        bodies.append(body)
    events_page = bodies[1]["data"]["events"]
    assert events_page["totalCount"] == 4
    markets = [m for e in events_page["nodes"] for p in e["pools"] for m in p["markets"]]
    assert len(markets) == 24
    for market in markets:
        trades = market["trades"]
        # The first event's markets were traded twice (once per round), the others once.
        assert trades["totalCount"] in (1, 2)
        assert len(trades["nodes"]) == trades["totalCount"]
        assert trades["pageInfo"]["hasNextPage"] is False
        for trade in trades["nodes"]:
            assert trade["source"] == "LMSR" and trade["side"] == "BUY" and trade["tokenType"] == "YES"
            assert trade["market"]["id"] == market["id"]
            assert trade["trader"] is not None and trade["shares"] > 0
    assert sorted(m["trades"]["totalCount"] for m in markets) == [1] * 18 + [2] * 6
    print(f"\n[{app_db.engine.dialect.name}] events->pools->markets->trades: 1 and 4 events -> {counts} statements")
    assert counts[0] == counts[1], counts


async def test_market_trades_page_both_ways(
    app_client: tuple[httpx.AsyncClient, Database], db: Database, settings: Settings
) -> None:
    http, _ = app_client
    _, _, (market, other) = await create_market_setup(db, probabilities=(0.5, 0.5))
    trader = await create_user(db, balance=10_000_000)
    for amount in (1000, 2000, 3000, 4000, 5000):
        await buy(db, settings, trader, market.id or 0, amount)
    await buy(db, settings, trader, other.id or 0, 7000)  # another market's trade never shows
    query = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { market(id: $id) {
      trades(first: $first, after: $after, last: $last, before: $before) { totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id amount } } } } }"""

    async def page(**args: Any) -> dict[str, Any]:
        body = await gql(http, query, {"id": gid(Kind.MARKET, market.id or 0), **args})
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]["market"]["trades"]
        assert result["totalCount"] == 5
        return result

    first = await page(first=2)
    ids = [edge["node"]["id"] for edge in first["edges"]]
    assert first["pageInfo"]["hasNextPage"] is True and first["pageInfo"]["hasPreviousPage"] is False
    assert first["pageInfo"]["startCursor"] == first["edges"][0]["cursor"]
    second = await page(first=2, after=first["pageInfo"]["endCursor"])
    third = await page(first=2, after=second["pageInfo"]["endCursor"])
    assert second["pageInfo"]["hasPreviousPage"] is True and third["pageInfo"]["hasNextPage"] is False
    ids += [edge["node"]["id"] for page_ in (second, third) for edge in page_["edges"]]
    assert len(ids) == 5 and ids == sorted(ids, key=row_id, reverse=True)  # newest first, no repeats
    amounts = [edge["node"]["amount"] for page_ in (first, second, third) for edge in page_["edges"]]
    assert amounts == sorted(amounts, reverse=True) and len(set(amounts)) == 5  # the 5000 spend came last

    oldest = await page(last=2)
    assert [edge["node"]["id"] for edge in oldest["edges"]] == ids[3:]
    assert oldest["pageInfo"]["hasPreviousPage"] is True and oldest["pageInfo"]["hasNextPage"] is False
    back = await page(last=2, before=oldest["pageInfo"]["startCursor"])
    assert [edge["node"]["id"] for edge in back["edges"]] == ids[1:3]
    assert back["pageInfo"]["hasNextPage"] is True and back["pageInfo"]["hasPreviousPage"] is True
    start = await page(last=5, before=back["pageInfo"]["startCursor"])
    assert [edge["node"]["id"] for edge in start["edges"]] == ids[:1]
    assert start["pageInfo"]["hasPreviousPage"] is False


async def test_root_connection_pages_both_ways(app_client: tuple[httpx.AsyncClient, Database], db: Database) -> None:
    """``events`` (a root list keyset-paged in its service): last/before walks back to the newest."""
    http, _ = app_client
    await seed(db, await create_user(db, is_creator=True), 5)
    query = """query($first: Int, $after: String, $last: Int, $before: String) {
      events(first: $first, after: $after, last: $last, before: $before) { totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { name } } }"""

    async def page(**args: Any) -> dict[str, Any]:
        body = await gql(http, query, args)
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]["events"]
        assert result["totalCount"] == 5
        return result

    names = [node["name"] for node in (await page(first=5))["nodes"]]
    assert names == [f"Event {n}" for n in range(4, -1, -1)]
    oldest = await page(last=2)
    assert [node["name"] for node in oldest["nodes"]] == names[3:]
    assert oldest["pageInfo"] | {"startCursor": None, "endCursor": None} == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": None,
        "endCursor": None,
    }
    newer = await page(last=2, before=oldest["pageInfo"]["startCursor"])
    assert [node["name"] for node in newer["nodes"]] == names[1:3] and newer["pageInfo"]["hasPreviousPage"] is True
    newest = await page(last=2, before=newer["pageInfo"]["startCursor"])
    assert [node["name"] for node in newest["nodes"]] == names[:1] and newest["pageInfo"]["hasPreviousPage"] is False
    forward = await page(first=2, after=newest["pageInfo"]["endCursor"])
    assert [node["name"] for node in forward["nodes"]] == names[1:3] and forward["pageInfo"]["hasNextPage"] is True


async def test_page_bounds_are_refused(app_client: tuple[httpx.AsyncClient, Database], db: Database) -> None:
    http, _ = app_client
    _, _, (market,) = await create_market_setup(db)
    mid = gid(Kind.MARKET, market.id or 0)
    for args in ("first: 0", "first: 101", "last: 101", "first: 1, last: 1"):
        body = await gql(http, f'{{ market(id: "{mid}") {{ trades({args}) {{ totalCount }} }} }}')
        assert body["errors"][0]["extensions"]["code"] == "INVALID_REQUEST", body
        body = await gql(http, f"{{ events({args}) {{ totalCount }} }}")
        assert body["errors"][0]["extensions"]["code"] == "INVALID_REQUEST", body


async def test_links_from_orders_notifications_and_trades(
    app_client: tuple[httpx.AsyncClient, Database], db: Database, settings: Settings
) -> None:
    http, _ = app_client
    _, _, (market,) = await create_market_setup(db)
    email = unique_email("subject")
    trader = await create_user(db, email=email, balance=1_000_000)
    token = await sign_in(http, email)
    http.cookies.clear()
    await buy(db, settings, trader, market.id or 0)
    body = await gql(
        http,
        """{ notifications(first: 5) { totalCount nodes { type subject {
        __typename ... on Market { id name event { name } orderbook { bids { price } } } } } }
      me { positions { nodes { market { trades(first: 1) { nodes { fee trader { id } } } } } } } }""",
        token=token,
    )
    assert "errors" not in body, body
    notes = body["data"]["notifications"]
    assert notes["totalCount"] == 1
    subject = notes["nodes"][0]["subject"]
    assert notes["nodes"][0]["type"] == "TRADE_EXECUTED"
    assert subject["__typename"] == "Market" and subject["id"] == gid(Kind.MARKET, market.id or 0)
    assert subject["event"]["name"] == "Test event" and subject["orderbook"]["bids"] == []
    trade = body["data"]["me"]["positions"]["nodes"][0]["market"]["trades"]["nodes"][0]
    assert trade["trader"]["id"] == gid(Kind.USER, trader) and trade["fee"] > 0
    # Someone else sees the trade but not its fee.
    mid = gid(Kind.MARKET, market.id or 0)
    anonymous = await gql(http, f'{{ market(id: "{mid}") {{ trades {{ nodes {{ fee trader {{ id }} }} }} }} }}')
    assert anonymous["data"]["market"]["trades"]["nodes"] == [{"fee": None, "trader": {"id": gid(Kind.USER, trader)}}]


async def test_order_book_links_and_the_trades_connection(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    """``Order.market``, ``Market.orderbook`` equal to the ``orderbook`` query, an order-book fill as a
    ``Trade`` with source ORDERBOOK in ``Market.trades`` and the root ``trades`` connection."""
    from tests.api.test_lmsr_api import trader
    from tests.graphql.test_orders_graphql import BOOK, PLACE, order_book_event, order_input

    _, _, market = await order_book_event(client, db)
    _, a = await trader(db, settings, balance=50_000)
    _, b = await trader(db, settings, balance=50_000)
    assert "errors" not in await gql(client, PLACE, order_input(market, "buy", "YES", 6120, 6000), a)
    assert "errors" not in await gql(client, PLACE, order_input(market, "buy", "YES", 3060, 3000), a)
    mine = await gql(
        client,
        """{ myOrders { totalCount nodes { market { id marketType
      orderbook(depth: 5) { bids { price amount } asks { price } } } } } }""",
        token=a,
    )
    assert "errors" not in mine, mine
    book = (await gql(client, BOOK, {"m": market, "depth": 5, "token": "YES"}))["data"]["orderbook"]
    assert mine["data"]["myOrders"]["totalCount"] == 2
    for node in mine["data"]["myOrders"]["nodes"]:
        assert node["market"]["id"] == market and node["market"]["marketType"] == "ORDERBOOK"
        assert node["market"]["orderbook"] == {"bids": book["bids"], "asks": book["asks"]}
    assert [level["price"] for level in book["bids"]] == [6000, 3000]

    sold = await gql(client, PLACE, order_input(market, "buy", "NO", 4080, 4000), b)  # crosses the YES 6000 bid
    assert "errors" not in sold, sold
    query = """query($m: ID!) { trades(marketId: $m, first: 10) { totalCount nodes { source side tokenType shares
      market { id } } } market(id: $m) { trades { nodes { source } } } }"""
    body = await gql(client, query, {"m": market})
    assert "errors" not in body, body
    trades = body["data"]["trades"]
    assert trades["totalCount"] >= 1 and {t["source"] for t in trades["nodes"]} == {"ORDERBOOK"}
    assert all(t["market"]["id"] == market for t in trades["nodes"])
    assert body["data"]["market"]["trades"]["nodes"] == [{"source": "ORDERBOOK"} for _ in trades["nodes"]]
    everywhere = await gql(client, "{ trades(last: 100) { totalCount } }")
    assert everywhere["data"]["trades"]["totalCount"] == trades["totalCount"]
