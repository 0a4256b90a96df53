"""``node(id)`` / ``nodes(ids)``: every kind of global id resolves to its type through the loaders;
another user's private rows are null; a string that is not an id is ``INVALID_ID``; closed sets are
enums, so a value outside them is refused before anything runs (issue 11 points 1 and 3)."""

from __future__ import annotations

from typing import Any

import httpx

from predictql.db import Database
from predictql.schema.ids import Kind
from predictql.services import users
from predictql.settings import Settings
from tests.api.test_lmsr_api import live_market, trader
from tests.graphql.test_orders_graphql import PLACE, order_book_event, order_input
from tests.graphql.test_trading_graphql import TRADE, code, data, trade_input
from tests.support import gid, gql

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


async def every_kind(client: httpx.AsyncClient, db: Database, settings: Settings) -> tuple[str, dict[str, str]]:
    """A trader's token and one global id of each kind, by the type it resolves to."""
    _, book_market = (await order_book_event(client, db))[1:]
    market = await live_market(db)
    user_id, token = await trader(db, settings, balance=100_000)
    async with db.transaction() as session:
        await users.deposit(session, user_id=user_id, amount=500)
    traded = data(await gql(client, TRADE, trade_input(market.id or 0, "buy_yes", 1000), token))["lmsrTrade"]
    placed = data(await gql(client, PLACE, order_input(book_market, "buy", "YES", 1000, 4000), token))
    create_token = 'mutation { createApiToken(input: {name: "bot"}) { apiToken { id } } }'
    created = data(await gql(client, create_token, token=token))
    query = """query($m: ID!) { me { id } myPositions { nodes { id } } myTransactions { nodes { id } }
      notifications(first: 1) { edges { node { id } } } market(id: $m) { id pool { id event { id } } } }"""
    mine = data(await gql(client, query, {"m": gid(Kind.MARKET, market.id or 0)}, token))
    suggest = 'mutation { suggestEvent(input: {name: "Rain?"}) { suggestion { id } } }'
    suggested = data(await gql(client, suggest, token=token))["suggestEvent"]["suggestion"]
    return token, {
        "User": mine["me"]["id"],
        "Event": mine["market"]["pool"]["event"]["id"],
        "Pool": mine["market"]["pool"]["id"],
        "Market": mine["market"]["id"],
        "Order": placed["placeOrder"]["order"]["id"],
        "Trade": traded["trade"]["id"],
        "Position": mine["myPositions"]["nodes"][0]["id"],
        "Notification": mine["notifications"]["edges"][0]["node"]["id"],
        "ApiToken": created["createApiToken"]["apiToken"]["id"],
        "MoneyTransaction": mine["myTransactions"]["nodes"][0]["id"],
        "EventSuggestion": suggested["id"],
    }


async def test_node_resolves_every_kind_and_hides_others_private_rows(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    token, ids = await every_kind(client, db, settings)
    assert {value.split("_")[0] for value in ids.values()} == {kind.value for kind in Kind}
    for typename, value in ids.items():
        assert data(await gql(client, NODE, {"id": value}, token)) == {"node": {"__typename": typename, "id": value}}

    _, stranger = await trader(db, settings)
    public = {"User", "Event", "Pool", "Market", "Trade"}
    for typename, value in ids.items():
        seen = data(await gql(client, NODE, {"id": value}, stranger))["node"]
        assert seen == ({"__typename": typename, "id": value} if typename in public else None), typename
        anonymous = data(await gql(client, NODE, {"id": value}))["node"]
        assert (anonymous is not None) == (typename in public), typename

    order = list(ids.values())
    asked = [order[3], "mkt_999999", order[0], "ord_999999", order[3]]
    answered = data(await gql(client, NODES, {"ids": asked}, token))["nodes"]
    assert [n and n["id"] for n in answered] == [order[3], None, order[0], None, order[3]]


async def test_a_string_that_is_not_an_id_is_invalid_id(client: httpx.AsyncClient, db: Database) -> None:
    for bad in ("42", "foo_1", "mkt_0", "mkt_x", "mkt_01", "MKT_1", "mkt_1 ", "", f"usr_{2**63}"):
        body = await gql(client, NODE, {"id": bad})
        assert body["data"] == {"node": None} and code(body) == "INVALID_ID", bad
        assert body["errors"][0]["path"] == ["node"]
    body = await gql(client, NODES, {"ids": ["mkt_1", "nope"]})
    assert code(body) == "INVALID_ID"
    assert code(await gql(client, NODES, {"ids": []})) == "TOO_MANY_IDS"
    assert code(await gql(client, NODES, {"ids": ["mkt_1"] * 101})) == "TOO_MANY_IDS"


async def test_enum_values_are_refused_at_validation(client: httpx.AsyncClient, db: Database) -> None:
    def refused(body: dict[str, Any], expected: str = "GRAPHQL_VALIDATION_FAILED") -> bool:
        return "data" not in body and code(body) == expected

    # the values issue 11 names: a token "MAYBE" was answered as YES before
    assert refused(await gql(client, '{ orderbook(marketId: "mkt_1", tokenType: MAYBE) { tokenType } }'))
    assert refused(await gql(client, '{ orderbook(marketId: "mkt_1", tokenType: "NO") { tokenType } }'))
    trade = 'mutation { lmsrTrade(input: {marketId: "mkt_1", side: %s, amountType: SPEND, amount: 5}) { fee } }'
    assert refused(await gql(client, trade % "BUY_MAYBE"))
    assert refused(await gql(client, trade % "buy_yes"))
    variables = {"s": "SELL_SIDEWAYS"}
    body = await gql(client, "query($s: LmsrSide!) { lmsrPreview(marketId: \"mkt_1\", side: $s, amountType: SPEND,"
                             " amount: 5) { fee } }", variables)
    assert refused(body, "BAD_USER_INPUT")
