"""The P2P GraphQL twins end to end: Nodes, connections, payload mutations with userErrors,
top-level FORBIDDEN for strangers and non-operators, the back office (audited)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import select

from predictql.db import Database
from predictql.models import AuditEntry
from tests.api.test_users import fast_user
from tests.p2p.helpers import assert_books_clean, balances
from tests.support import USER_ERRORS, failure_code, gql, ok_payload

AD = (
    "id type remainingAmount paymentMethods paymentDetails moderationStatus owner { id name completedOrders avgRating }"
)
ORDER = (
    "id status usdtAmount fiatAmount frozenBalance operatorCalled cancelReason resolution paymentDetails "
    "buyerPaymentDetails buyer { id } seller { id } ad { id }"
)
CREATE_AD = f"mutation($i: CreateP2PAdInput!) {{ createP2PAd(input: $i) {{ ad {{ {AD} }} {USER_ERRORS} }} }}"
TAKE = f"""mutation($i: CreateP2POrderInput!) {{ createP2POrder(input: $i) {{ order {{ {ORDER} }}
  balances {{ cash p2pFrozen }} {USER_ERRORS} }} }}"""


def step(name: str) -> str:
    return (
        f"mutation($id: ID!) {{ {name}(input: {{id: $id}}) {{ order {{ {ORDER} }} balances {{ cash p2pFrozen }} "
        f"{USER_ERRORS} }} }}"
    )


def ad_input(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "SELL",
        "fiatCurrency": "RUB",
        "minAmount": 1000,
        "maxAmount": 100_000,
        "paymentMethods": ["sber"],
        "paymentDetails": {"sber": {"card": "2202"}},
        **overrides,
    }


async def test_trade_through_graphql(client: httpx.AsyncClient, db: Database) -> None:
    seller, s_tok = await fast_user(db, balance=200_000)
    buyer, b_tok = await fast_user(db)
    _, x_tok = await fast_user(db)
    ad = ok_payload(await gql(client, CREATE_AD, {"i": ad_input()}, s_tok))["ad"]
    assert ad["id"].startswith("pad_") and ad["paymentDetails"] == {"sber": {"card": "2202"}}
    assert failure_code(await gql(client, CREATE_AD, {"i": ad_input()}, s_tok)) == "DUPLICATE_AD_TYPE"
    listed = (
        await gql(
            client,
            f"""query {{ p2pAds(filter: {{type: SELL, amount: 5000}}, orderBy: BEST_PRICE)
      {{ nodes {{ {AD} }} pageInfo {{ hasNextPage }} }} }}""",
        )
    )["data"]["p2pAds"]
    assert [n["id"] for n in listed["nodes"]] == [ad["id"]] and listed["nodes"][0]["paymentDetails"] is None
    assert listed["nodes"][0]["owner"]["completedOrders"] == 0

    take = {"adId": ad["id"], "usdtAmount": 50_000, "paymentMethod": "sber"}
    assert failure_code(await gql(client, TAKE, {"i": take}, s_tok)) == "OWN_AD"
    assert failure_code(await gql(client, TAKE, {"i": {**take, "usdtAmount": 10}}, b_tok)) == "AMOUNT_TOO_LOW"
    assert failure_code(await gql(client, TAKE, {"i": {**take, "adId": "mkt_1"}}, b_tok)) == "INVALID_ID"
    made = ok_payload(await gql(client, TAKE, {"i": take}, b_tok))
    order = made["order"]
    assert order["id"].startswith("pord_") and order["status"] == "PENDING" and order["frozenBalance"] == 50_000
    assert order["paymentDetails"] == {"card": "2202"} and order["ad"]["id"] == ad["id"]
    oid = order["id"]

    # A stranger sees nothing and changes nothing.
    assert (await gql(client, f'{{ p2pOrder(id: "{oid}") {{ id }} }}', token=x_tok))["data"]["p2pOrder"] is None
    assert (await gql(client, f'{{ node(id: "{oid}") {{ id }} }}', token=x_tok))["data"]["node"] is None
    body = await gql(client, f'{{ p2pOrderMessages(orderId: "{oid}") {{ nodes {{ id }} }} }}', token=x_tok)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for name in ("confirmP2POrderPaid", "cancelP2POrder", "callP2POperator", "confirmP2POrderReceived"):
        assert failure_code(await gql(client, step(name), {"id": oid}, x_tok)) == "FORBIDDEN", name

    send = f"""mutation($o: ID!, $m: String!) {{ sendP2PMessage(input: {{orderId: $o, message: $m}})
      {{ message {{ id senderType orderId }} {USER_ERRORS} }} }}"""
    message = ok_payload(await gql(client, send, {"o": oid, "m": "paying"}, b_tok))["message"]
    assert message["id"].startswith("pmsg_") and message["senderType"] == "USER"
    assert failure_code(await gql(client, send, {"o": oid, "m": " "}, b_tok)) == "INVALID_MESSAGE"
    chat = (await gql(client, f'{{ p2pOrderMessages(orderId: "{oid}") {{ nodes {{ id message }} }} }}', token=s_tok))[
        "data"
    ]["p2pOrderMessages"]["nodes"]
    assert chat == [{"id": message["id"], "message": "paying"}]

    details = f"""mutation($id: ID!) {{ setP2PPaymentDetails(input: {{id: $id, paymentDetails: {{payer: "Ivan"}}}})
      {{ order {{ buyerPaymentDetails }} {USER_ERRORS} }} }}"""
    assert ok_payload(await gql(client, details, {"id": oid}, b_tok))["order"]["buyerPaymentDetails"] == {
        "payer": "Ivan"
    }
    assert (
        ok_payload(await gql(client, step("confirmP2POrderPaid"), {"id": oid}, b_tok))["order"]["status"]
        == "PAID_BY_BUYER"
    )
    done = ok_payload(await gql(client, step("confirmP2POrderReceived"), {"id": oid}, s_tok))
    assert done["order"]["status"] == "COMPLETED" and done["balances"] == {"cash": 150_000, "p2pFrozen": 0}
    assert failure_code(await gql(client, step("cancelP2POrder"), {"id": oid}, b_tok)) == "ORDER_NOT_OPEN"
    rate = f"""mutation($id: ID!, $r: Int!) {{ rateP2POrder(input: {{id: $id, rating: $r}}) {{ order {{ id }}
      {USER_ERRORS} }} }}"""
    assert failure_code(await gql(client, rate, {"id": oid, "r": 9}, b_tok)) == "INVALID_RATING"
    ok_payload(await gql(client, rate, {"id": oid, "r": 5}, b_tok))
    assert failure_code(await gql(client, rate, {"id": oid, "r": 5}, b_tok)) == "ALREADY_RATED"

    mine = (
        await gql(
            client,
            "{ myP2POrders(first: 5, status: COMPLETED) { totalCount nodes { id seller "
            "{ completedOrders avgRating } } } }",
            token=b_tok,
        )
    )["data"]["myP2POrders"]
    assert mine["totalCount"] == 1 and mine["nodes"][0]["seller"] == {"completedOrders": 1, "avgRating": 5.0}
    assert (await balances(db, buyer)).cash == 50_000 and seller
    deleted = ok_payload(
        await gql(
            client,
            f"""mutation {{ deleteP2PAd(input: {{id: "{ad["id"]}"}})
      {{ deletedAdId {USER_ERRORS} }} }}""",
            token=s_tok,
        )
    )
    assert deleted["deletedAdId"] == ad["id"]
    await assert_books_clean(db)


DISPUTES = "{ p2pDisputes(first: 10) { nodes { id status buyer { id } } } }"
RESOLVE = f"""mutation($id: ID!, $to: P2PDisputeSide!) {{ resolveP2PDispute(input: {{id: $id, to: $to, note: "paid"}})
  {{ order {{ id status resolution cancelReason }} {USER_ERRORS} }} }}"""
MODERATE = f"""mutation($id: ID!, $s: P2PModerationStatus!) {{ moderateP2PAd(input: {{id: $id, status: $s}})
  {{ ad {{ id moderationStatus }} {USER_ERRORS} }} }}"""


async def test_back_office_resolves_disputes_and_moderates_ads(client: httpx.AsyncClient, db: Database) -> None:
    seller, s_tok = await fast_user(db, balance=100_000)
    buyer, b_tok = await fast_user(db)
    operator, o_tok = await fast_user(db, is_operator=True)
    ad = ok_payload(await gql(client, CREATE_AD, {"i": ad_input()}, s_tok))["ad"]["id"]
    take = {"adId": ad, "usdtAmount": 30_000, "paymentMethod": "sber"}
    oid = ok_payload(await gql(client, TAKE, {"i": take}, b_tok))["order"]["id"]
    called = ok_payload(await gql(client, step("callP2POperator"), {"id": oid}, b_tok))["order"]
    assert (called["status"], called["operatorCalled"]) == ("DISPUTE", True)

    for token in (b_tok, s_tok):  # participants are not operators
        assert (await gql(client, DISPUTES, token=token))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert failure_code(await gql(client, RESOLVE, {"id": oid, "to": "BUYER"}, token)) == "FORBIDDEN"
        assert failure_code(await gql(client, MODERATE, {"id": ad, "s": "HIDDEN"}, token)) == "FORBIDDEN"
    listed = (await gql(client, DISPUTES, token=o_tok))["data"]["p2pDisputes"]["nodes"]
    assert [n["id"] for n in listed] == [oid]
    seen = (await gql(client, f'{{ p2pOrder(id: "{oid}") {{ id status }} }}', token=o_tok))["data"]["p2pOrder"]
    assert seen == {"id": oid, "status": "DISPUTE"}
    send = f"""mutation($o: ID!) {{ sendP2PMessage(input: {{orderId: $o, message: "Send the receipt"}})
      {{ message {{ senderType }} {USER_ERRORS} }} }}"""
    assert ok_payload(await gql(client, send, {"o": oid}, o_tok))["message"]["senderType"] == "OPERATOR"

    resolved = ok_payload(await gql(client, RESOLVE, {"id": oid, "to": "BUYER"}, o_tok))["order"]
    assert (resolved["status"], resolved["resolution"]) == ("COMPLETED", "BUYER")
    assert failure_code(await gql(client, RESOLVE, {"id": oid, "to": "SELLER"}, o_tok)) == "ORDER_NOT_OPEN"
    assert (await gql(client, DISPUTES, token=o_tok))["data"]["p2pDisputes"]["nodes"] == []
    assert (await balances(db, buyer)).cash == 30_000 and (await balances(db, seller)).cash == 70_000

    hidden = ok_payload(await gql(client, MODERATE, {"id": ad, "s": "HIDDEN"}, o_tok))["ad"]
    assert hidden["moderationStatus"] == "HIDDEN"
    assert (await gql(client, "{ p2pAds { nodes { id } } }"))["data"]["p2pAds"]["nodes"] == []
    assert (await gql(client, f'{{ p2pAd(id: "{ad}") {{ id }} }}'))["data"]["p2pAd"] is None
    assert failure_code(await gql(client, TAKE, {"i": {**take, "usdtAmount": 5000}}, b_tok)) == "AD_NOT_ACTIVE"
    queue = (await gql(client, "{ p2pAdsForModeration(moderationStatus: HIDDEN) { nodes { id } } }", token=o_tok))[
        "data"
    ]["p2pAdsForModeration"]["nodes"]
    assert queue == [{"id": ad}]

    async with db.session() as session:
        entries = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [(e.actor_id, e.action, e.subject_type) for e in entries] == [
        (operator, "p2p_order.message", "p2p_order"),
        (operator, "p2p_dispute.resolve", "p2p_order"),
        (operator, "p2p_ad.hide", "p2p_ad"),
    ]
    assert entries[1].before == {"status": "dispute", "frozen_balance": 30_000, "resolution": None}
    assert entries[1].after == {"status": "completed", "frozen_balance": 0, "resolution": "buyer"}
    assert entries[1].note == "paid"
    await assert_books_clean(db)


async def test_p2p_notifications_read_through_graphql(client: httpx.AsyncClient, db: Database) -> None:
    _, s_tok = await fast_user(db, balance=100_000)
    _, b_tok = await fast_user(db)
    ad = ok_payload(await gql(client, CREATE_AD, {"i": ad_input()}, s_tok))["ad"]["id"]
    take = {"adId": ad, "usdtAmount": 30_000, "paymentMethod": "sber"}
    oid = ok_payload(await gql(client, TAKE, {"i": take}, b_tok))["order"]["id"]
    ok_payload(await gql(client, step("confirmP2POrderPaid"), {"id": oid}, b_tok))
    query = """{ notifications(first: 10) { nodes { type relatedType subject { __typename
      ... on P2POrder { id status } } } } }"""
    body = await gql(client, query, token=s_tok)
    assert "errors" not in body, body
    nodes = body["data"]["notifications"]["nodes"]
    assert [n["type"] for n in nodes] == ["P2P_ORDER_PAID", "P2P_ORDER_CREATED"]
    assert all(n["relatedType"] == "P2P_ORDER" for n in nodes)
    assert nodes[0]["subject"] == {"__typename": "P2POrder", "id": oid, "status": "PAID_BY_BUYER"}
