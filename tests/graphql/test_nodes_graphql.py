"""``node(id)`` / ``nodes(ids)``: every kind of global id resolves to its type through the loaders;
another user's private rows are null; a string that is not an id is ``INVALID_ID``; closed sets are
enums, so a value outside them is refused before anything runs (issue 11 points 1 and 3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from predictql.db import Database
from predictql.models import User
from predictql.schema.ids import Kind
from predictql.services import alerts, assets, users
from predictql.settings import Settings
from tests.api.test_lmsr_api import live_market, trader
from tests.api.test_users import fast_user
from tests.graphql.test_orders_graphql import PLACE, order_book_event, order_input
from tests.graphql.test_trading_graphql import TRADE, code, data, trade_input
from tests.money.helpers import EVM
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
    money = await money_kinds(client, db, settings, user_id, token)
    chat = data(await gql(client, "mutation { startSupportChat { session { id } } }", token=token))
    said = 'mutation { sendSupportMessage(input: {text: "help"}) { message { id } } }'
    support_message = data(await gql(client, said, token=token))["sendSupportMessage"]["message"]
    comment = 'mutation($e: ID!) { createComment(input: {eventId: $e, text: "hi"}) { comment { id } } }'
    event_id = mine["market"]["pool"]["event"]["id"]
    commented = data(await gql(client, comment, {"e": event_id}, token))["createComment"]["comment"]
    alert = (
        'mutation { createPriceAlert(input: {direction: ABOVE, symbol: "BTCUSDT", assetLevel: 10}) { alert { id } } }'
    )
    alerted = data(await gql(client, alert, token=token))["createPriceAlert"]["alert"]
    async with db.transaction() as session:
        await alerts.asset_price_moved(session, "BTCUSDT", Decimal(5), Decimal(20))
    fired = data(await gql(client, "{ myAlertFirings { nodes { id } } }", token=token))["myAlertFirings"]["nodes"]
    async with db.transaction() as session:
        asset = await assets.set_price(session, None, symbol="BTCUSDT", price="84532.17", record_seconds=1.0)
    return token, {
        **money,
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
        "SupportChatSession": chat["startSupportChat"]["session"]["id"],
        "SupportMessage": support_message["id"],
        "Comment": commented["id"],
        "PriceAlert": alerted["id"],
        "AlertFiring": fired[0]["id"],
        **await p2p_kinds(db, user_id),
        "AssetPrice": gid(Kind.ASSET, asset.id or 0),
    }


async def money_kinds(
    client: httpx.AsyncClient, db: Database, settings: Settings, user_id: int, token: str
) -> dict[str, str]:
    """A card order (with a chat message), a withdrawal and an audit entry of the trader's, who is
    made an operator (the audit log is for operators only; another operator settles the order)."""
    async with db.transaction() as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.is_operator = True
    card = "mutation { createCardOrder(input: {type: DEPOSIT, amount: 10000}) { cardOrder { id } } }"
    card_id = data(await gql(client, card, token=token))["createCardOrder"]["cardOrder"]["id"]
    say = 'mutation($o: ID!) { sendCardOrderMessage(input: {orderId: $o, message: "paid"}) { message { id } } }'
    message = data(await gql(client, say, {"o": card_id}, token))["sendCardOrderMessage"]["message"]["id"]
    out = """mutation($a: String!) { requestWithdrawal(input: {token: USDT, network: BSC, amount: 1000, address: $a})
      { withdrawal { id } } }"""
    withdrawal = data(await gql(client, out, {"a": EVM}, token))["requestWithdrawal"]["withdrawal"]["id"]
    _, operator = await fast_user(db, is_operator=True)
    done = "mutation($o: ID!) { completeCardOrder(input: {id: $o}) { cardOrder { id } } }"
    data(await gql(client, done, {"o": card_id}, operator))
    audit = data(await gql(client, "{ auditLog(first: 1) { nodes { id } } }", token=token))["auditLog"]["nodes"][0]
    return {"CardOrder": card_id, "CardMessage": message, "Withdrawal": withdrawal, "AuditEntry": audit["id"]}


async def p2p_kinds(db: Database, user_id: int) -> dict[str, str]:
    """A sell ad of the user's, an order on it (the user sells) and a message of theirs on it."""
    from predictql.auth import Actor
    from predictql.services import p2p_ads, p2p_chat, p2p_orders
    from predictql.services.p2p_ads import AdFields
    from tests.api.test_users import new_user

    buyer = await new_user(db)
    async with db.transaction() as session:
        ad = await p2p_ads.create_ad(
            session,
            Actor(user_id=user_id),
            AdFields(
                type="sell",
                fiat_currency="RUB",
                min_amount=100,
                max_amount=1000,
                payment_methods=["sber"],
                payment_details={"sber": "card"},
            ),
        )
        order = await p2p_orders.create_order(
            session, Actor(user_id=buyer), p2p_orders.OrderRequest(ad.id or 0, 100, "sber")
        )
        message = await p2p_chat.post(session, Actor(user_id=user_id), order_id=order.id or 0, message="hi")
    return {
        "P2PAd": gid(Kind.P2P_AD, ad.id or 0),
        "P2POrder": gid(Kind.P2P_ORDER, order.id or 0),
        "P2PMessage": gid(Kind.P2P_MESSAGE, message.id or 0),
    }


async def test_node_resolves_every_kind_and_hides_others_private_rows(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    token, ids = await every_kind(client, db, settings)
    assert {value.split("_")[0] for value in ids.values()} == {kind.value for kind in Kind}
    for typename, value in ids.items():
        assert data(await gql(client, NODE, {"id": value}, token)) == {"node": {"__typename": typename, "id": value}}

    _, stranger = await trader(db, settings)
    public = {"User", "Event", "Pool", "Market", "Trade", "Comment", "P2PAd", "AssetPrice"}
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
    body = await gql(
        client,
        'query($s: LmsrSide!) { lmsrPreview(marketId: "mkt_1", side: $s, amountType: SPEND, amount: 5) { fee } }',
        variables,
    )
    assert refused(body, "BAD_USER_INPUT")
