"""REST group ``p2p``: every route's documented shape and error codes, through the in-process app."""

from __future__ import annotations

import httpx

from predictql.db import Database
from predictql.models import Trade
from predictql.services import users
from predictql.settings import Settings
from tests.p2p.helpers import (
    AD_BODY,
    ADS,
    ORDERS,
    assert_books_clean,
    balances,
    error,
    ok,
    post_ad,
    take,
    trader,
)

AD_KEYS = {
    "id",
    "user_id",
    "type",
    "fiat_currency",
    "exchange_rate",
    "min_amount",
    "max_amount",
    "remaining_amount",
    "payment_methods",
    "instructions",
    "is_active",
    "moderation_status",
    "is_platform_ad",
    "created_at",
    "updated_at",
    "user",
    "user_avg_rating",
}
ORDER_KEYS = {
    "id",
    "ad_id",
    "buyer_id",
    "seller_id",
    "usdt_amount",
    "fiat_amount",
    "fiat_currency",
    "exchange_rate",
    "payment_method",
    "status",
    "frozen_balance",
    "operator_called",
    "created_at",
    "updated_at",
}
EXTENSIONS = {"expires_at", "buyer_paid_at", "cancel_reason", "resolution"}


async def test_ad_lifecycle_shapes_and_codes(client: httpx.AsyncClient, db: Database) -> None:
    owner, auth = await trader(db, balance=1_000_000)
    ad_id = await post_ad(client, auth)
    listed = ok(await client.get(ADS))["ads"]
    assert [ad["id"] for ad in listed] == [ad_id]
    (ad,) = listed
    assert set(ad) == AD_KEYS | {"max_payment_duration"}
    assert ad["exchange_rate"] == 100 and ad["remaining_amount"] == 500_000 and ad["moderation_status"] == "approved"
    assert set(ad["user"]) == {"id", "name", "nickname", "avatar_url", "completed_orders", "p2p_avg_rating"}
    assert "payment_details" not in ok(await client.get(f"{ADS}/{ad_id}"))
    assert ok(await client.get(f"{ADS}/{ad_id}", headers=auth))["payment_details"] == AD_BODY["payment_details"]

    assert error(await client.post(ADS, json=AD_BODY, headers=auth)) == (400, "DUPLICATE_AD_TYPE")
    assert error(await client.post(ADS, json={**AD_BODY, "min_amount": "x"}, headers=auth)) == (400, "INVALID_REQUEST")
    for bad in (
        {"exchange_rate": 10**8},
        {"max_amount": 10**14},
        {"payment_methods": []},
        {"payment_details": 5},
        {"max_payment_duration": 1},
        {"type": "swap"},
        {"fiat_currency": "rub"},
        {"extra": 1},
    ):
        assert error(await client.post(ADS, json={**AD_BODY, **bad}, headers=auth)) == (400, "INVALID_REQUEST"), bad
    assert error(await client.post(ADS, json={**AD_BODY, "type": "buy", "fiat_currency": "USD"}, headers=auth)) == (
        400,
        "INVALID_REQUEST",
    )  # non-RUB needs exchange_rate
    buy_id = await post_ad(client, auth, type="buy", fiat_currency="USD", exchange_rate=9350)
    assert buy_id != ad_id

    _, stranger = await trader(db)
    update = {"exchange_rate": 101, "is_active": False}
    assert error(await client.put(f"{ADS}/{ad_id}", json=update, headers=stranger)) == (403, "FORBIDDEN")
    assert error(await client.put(f"{ADS}/999999", json=update, headers=auth)) == (404, "NOT_FOUND")
    assert error(await client.put(f"{ADS}/{ad_id}", json={"min_amount": 0}, headers=auth)) == (400, "INVALID_REQUEST")
    assert ok(await client.put(f"{ADS}/{ad_id}", json=update, headers=auth)) == {"success": True}
    assert ok(await client.get(ADS + "?type=sell"))["ads"] == []
    assert [a["id"] for a in ok(await client.get(ADS + "?is_active=false"))["ads"]] == [ad_id]
    assert error(await client.get(ADS + "?type=swap")) == (400, "INVALID_REQUEST")
    assert error(await client.get(ADS + "?sort_by=age")) == (400, "INVALID_REQUEST")

    assert error(await client.delete(f"{ADS}/{ad_id}", headers=stranger)) == (403, "FORBIDDEN")
    assert ok(await client.delete(f"{ADS}/{ad_id}", headers=auth)) == {"success": True}
    assert error(await client.get(f"{ADS}/{ad_id}")) == (404, "NOT_FOUND")
    assert error(await client.delete(f"{ADS}/{ad_id}", headers=auth)) == (404, "NOT_FOUND")
    assert owner


async def test_browse_filters_and_sorts(client: httpx.AsyncClient, db: Database) -> None:
    _, a = await trader(db)
    _, b = await trader(db)
    cheap = await post_ad(client, a, exchange_rate=95, payment_methods=["sber"], max_payment_duration=30)
    dear = await post_ad(client, b, exchange_rate=105, payment_methods=["tinkoff"], min_amount=200_000)
    ids = lambda body: [ad["id"] for ad in body["ads"]]  # noqa: E731
    assert ids(ok(await client.get(ADS + "?sort_by=best_price"))) == [cheap, dear]
    assert ids(ok(await client.get(ADS + "?payment_method=tinkoff"))) == [dear]
    assert ids(ok(await client.get(ADS + "?amount=50000"))) == [cheap]
    assert ids(ok(await client.get(ADS + "?max_payment_duration=20"))) == [dear]
    assert ids(ok(await client.get(ADS + "?fiat_currency=RUB&limit=1&offset=1&sort_by=best_price"))) == [dear]
    assert ids(ok(await client.get(ADS + "?type=buy"))) == []
    low = await post_ad(client, a, type="buy", exchange_rate=90)
    high = await post_ad(client, b, type="buy", exchange_rate=110)
    assert ids(ok(await client.get(ADS + "?type=buy&sort_by=best_price"))) == [high, low]  # best for a seller

    # The owner of `dear` completes an order and is rated 5: first by orders and by rating.
    _, buyer = await trader(db, balance=0)
    async with db.transaction() as session:
        await users.deposit(session, user_id=int(ok(await client.get(f"{ADS}/{dear}"))["user_id"]), amount=300_000)
    order_id = ok(await take(client, buyer, dear, 200_000, payment_method="tinkoff"))["id"]
    ok(await client.post(f"{ORDERS}/{order_id}/confirm-received", headers=b))
    ok(await client.post(f"{ORDERS}/{order_id}/rate", json={"rating": 5}, headers=buyer))
    assert ids(ok(await client.get(ADS + "?type=sell&sort_by=orders_count"))) == [dear, cheap]
    assert ids(ok(await client.get(ADS + "?type=sell"))) == [dear, cheap]  # rating, the default
    assert ids(ok(await client.get(ADS + "?author_nickname=nobody"))) == []


async def test_order_happy_path_moves_escrow_once(client: httpx.AsyncClient, db: Database) -> None:
    seller, s_auth = await trader(db, balance=1_000_000)
    buyer, b_auth = await trader(db)
    ad_id = await post_ad(client, s_auth)
    created = ok(await take(client, b_auth, ad_id, 100_000))
    assert set(created) == {"id"}
    order_id = created["id"]
    assert (await balances(db, seller)).cash == 900_000 and (await balances(db, seller)).p2p_frozen == 100_000
    assert ok(await client.get(f"{ADS}/{ad_id}"))["remaining_amount"] == 400_000

    (mine,) = ok(await client.get(ORDERS + "/my", headers=b_auth))["orders"]
    assert set(mine) == ORDER_KEYS | EXTENSIONS
    assert {
        k: mine[k] for k in ("buyer_id", "seller_id", "usdt_amount", "fiat_amount", "status", "frozen_balance")
    } == {
        "buyer_id": buyer,
        "seller_id": seller,
        "usdt_amount": 100_000,
        "fiat_amount": 100_000,
        "status": "pending",
        "frozen_balance": 100_000,
    }
    detail = ok(await client.get(f"{ORDERS}/{order_id}", headers=b_auth))
    assert detail["payment_details"] == {"card": "2202 0000 0000 0001"} and detail["counterpart"]["id"] == seller
    assert ok(await client.get(ORDERS + "/my?status=completed", headers=b_auth))["orders"] == []
    assert error(await client.get(ORDERS + "/my?status=open", headers=b_auth)) == (400, "INVALID_REQUEST")

    assert ok(
        await client.patch(f"{ORDERS}/{order_id}", json={"payment_details": {"payer": "I. Ivanov"}}, headers=b_auth)
    ) == {"success": True}
    assert error(await client.patch(f"{ORDERS}/{order_id}", json={}, headers=b_auth)) == (400, "INVALID_REQUEST")
    assert error(await client.post(f"{ORDERS}/{order_id}/confirm-paid", headers=s_auth)) == (403, "FORBIDDEN")
    assert ok(await client.post(f"{ORDERS}/{order_id}/confirm-paid", headers=b_auth)) == {"success": True}
    assert error(await client.post(f"{ORDERS}/{order_id}/confirm-paid", headers=b_auth)) == (409, "CONFLICT")
    assert error(await client.post(f"{ORDERS}/{order_id}/rate", json={"rating": 5}, headers=b_auth)) == (
        400,
        "ORDER_NOT_COMPLETED",
    )
    assert error(await client.post(f"{ORDERS}/{order_id}/cancel", headers=s_auth)) == (409, "CONFLICT")
    assert error(await client.post(f"{ORDERS}/{order_id}/confirm-received", headers=b_auth)) == (403, "FORBIDDEN")
    assert ok(await client.post(f"{ORDERS}/{order_id}/confirm-received", headers=s_auth)) == {"success": True}
    assert error(await client.post(f"{ORDERS}/{order_id}/confirm-received", headers=s_auth)) == (409, "ORDER_NOT_OPEN")
    assert error(await client.post(f"{ORDERS}/{order_id}/cancel", headers=b_auth)) == (409, "ORDER_NOT_OPEN")
    assert error(await client.patch(f"{ORDERS}/{order_id}", json={"payment_details": {}}, headers=b_auth)) == (
        400,
        "ORDER_NOT_OPEN",
    )

    assert (await balances(db, buyer)).cash == 100_000
    assert (await balances(db, seller)).cash == 900_000 and (await balances(db, seller)).p2p_frozen == 0
    detail = ok(await client.get(f"{ORDERS}/{order_id}", headers=s_auth))
    assert detail["status"] == "completed" and detail["buyer_payment_details"] == {"payer": "I. Ivanov"}
    assert detail["buyer_paid_at"] is not None and detail["frozen_balance"] == 0

    for bad in (0, 6, "5", True):
        assert error(await client.post(f"{ORDERS}/{order_id}/rate", json={"rating": bad}, headers=b_auth)) == (
            400,
            "INVALID_RATING",
        )
    assert ok(await client.post(f"{ORDERS}/{order_id}/rate", json={"rating": 4}, headers=b_auth)) == {"success": True}
    assert error(await client.post(f"{ORDERS}/{order_id}/rate", json={"rating": 5}, headers=b_auth)) == (
        400,
        "ALREADY_RATED",
    )
    assert ok(await client.post(f"{ORDERS}/{order_id}/rate", json={"rating": 5}, headers=s_auth)) == {"success": True}
    owner = ok(await client.get(f"{ADS}/{ad_id}"))
    assert owner["user"]["completed_orders"] == 1 and owner["user"]["p2p_avg_rating"] == 4.0
    assert owner["user_avg_rating"] == 4.0 and owner["remaining_amount"] == 400_000
    assert ok(await client.delete(f"{ADS}/{ad_id}", headers=s_auth)) == {"success": True}  # kept as the record
    assert error(await client.get(f"{ADS}/{ad_id}")) == (404, "NOT_FOUND")
    assert ok(await client.get(f"{ORDERS}/{order_id}", headers=b_auth))["ad_id"] == ad_id
    await assert_books_clean(db)


async def test_order_validation_codes(client: httpx.AsyncClient, db: Database) -> None:
    seller, s_auth = await trader(db, balance=150_000)
    _, b_auth = await trader(db)
    ad_id = await post_ad(client, s_auth)
    assert error(await take(client, s_auth, ad_id, 50_000)) == (400, "OWN_AD")
    assert error(await take(client, b_auth, ad_id, 50_000, payment_method="cash")) == (400, "INVALID_PAYMENT_METHOD")
    assert error(await take(client, b_auth, ad_id, 0)) == (400, "AMOUNT_TOO_SMALL")
    assert error(await take(client, b_auth, ad_id, 9_999)) == (400, "AMOUNT_TOO_LOW")
    assert error(await take(client, b_auth, ad_id, 500_001)) == (400, "AMOUNT_TOO_HIGH")
    assert error(await take(client, b_auth, ad_id, 200_000)) == (400, "SELLER_INSUFFICIENT_BALANCE")
    assert error(await take(client, b_auth, 987_654, 50_000)) == (404, "NOT_FOUND")
    first = ok(await take(client, b_auth, ad_id, 100_000))["id"]
    assert error(await take(client, b_auth, ad_id, 10_000)) == (400, "ACTIVE_DEPOSIT_ORDER_EXISTS")
    _, other = await trader(db)
    ok(await client.put(f"{ADS}/{ad_id}", json={"max_amount": 150_000}, headers=s_auth))  # 50_000 left
    assert error(await take(client, other, ad_id, 60_000)) == (400, "AMOUNT_EXCEEDS_AVAILABLE")
    assert error(await client.delete(f"{ADS}/{ad_id}", headers=s_auth)) == (409, "HAS_OPEN_ORDERS")
    ok(await client.put(f"{ADS}/{ad_id}", json={"is_active": False}, headers=s_auth))
    assert error(await take(client, other, ad_id, 10_000)) == (400, "AD_NOT_ACTIVE")
    assert ok(await client.post(f"{ORDERS}/{first}/cancel", headers=b_auth)) == {"success": True}
    assert (await balances(db, seller)).cash == 150_000
    await assert_books_clean(db)


async def test_selling_into_a_buy_ad_is_a_withdrawal(client: httpx.AsyncClient, db: Database) -> None:
    owner, o_auth = await trader(db)
    seller, s_auth = await trader(db, balance=99_999)
    ad_id = await post_ad(client, o_auth, type="buy")
    card = {"card_number": "2200 1111 2222 3333"}
    assert error(await take(client, s_auth, ad_id, 50_000, payment_details=card)) == (400, "MIN_DEPOSIT_REQUIRED")
    rich, r_auth = await trader(db, balance=300_000)
    assert error(await take(client, r_auth, ad_id, 50_000)) == (400, "INVALID_REQUEST")  # where to pay?
    order_id = ok(await take(client, r_auth, ad_id, 50_000, payment_details=card))["id"]
    detail = ok(await client.get(f"{ORDERS}/{order_id}", headers=o_auth))
    assert (detail["buyer_id"], detail["seller_id"], detail["payment_details"]) == (owner, rich, card)
    assert (await balances(db, rich)).cash == 250_000
    ok(await client.post(f"{ORDERS}/{order_id}/confirm-paid", headers=o_auth))
    ok(await client.post(f"{ORDERS}/{order_id}/confirm-received", headers=r_auth))
    assert (await balances(db, owner)).cash == 50_000 and seller
    await assert_books_clean(db)


async def test_chat_dispute_and_non_participants(client: httpx.AsyncClient, db: Database) -> None:
    _, s_auth = await trader(db, balance=200_000)
    buyer, b_auth = await trader(db)
    _, stranger = await trader(db)
    order_id = ok(await take(client, b_auth, await post_ad(client, s_auth), 20_000))["id"]
    base = f"{ORDERS}/{order_id}"
    message_id = ok(await client.post(base + "/messages", json={"message": " Paying now "}, headers=b_auth))["id"]
    body = ok(await client.get(base + "/messages", headers=s_auth))
    assert body["status"] == "pending"
    (message,) = body["messages"]
    assert message["id"] == message_id and message["message"] == "Paying now" and message["sender_type"] == "user"
    assert set(message) == {"id", "order_id", "user_id", "sender_type", "message", "created_at", "user"}
    assert message["user"]["id"] == buyer
    for bad in ("", "   ", 5, "x" * 2001):
        assert error(await client.post(base + "/messages", json={"message": bad}, headers=b_auth)) == (
            400,
            "INVALID_MESSAGE",
        )

    # A stranger can read or change nothing of the order.
    for method, path, json in (
        ("GET", base, None),
        ("GET", base + "/messages", None),
        ("POST", base + "/messages", {"message": "hi"}),
        ("PATCH", base, {"payment_details": {"a": 1}}),
        ("POST", base + "/confirm-paid", None),
        ("POST", base + "/confirm-received", None),
        ("POST", base + "/cancel", None),
        ("POST", base + "/call-operator", None),
        ("POST", base + "/rate", {"rating": 5}),
    ):
        response = await client.request(method, path, json=json, headers=stranger)
        assert error(response) == (403, "FORBIDDEN"), (method, path)
    assert ok(await client.get(ORDERS + "/my", headers=stranger))["orders"] == []
    assert error(await client.get(f"{ORDERS}/99999", headers=b_auth)) == (404, "NOT_FOUND")
    assert error(await client.post(f"{ORDERS}/99999/call-operator", headers=b_auth)) == (404, "ORDER_NOT_FOUND")
    assert error(await client.get(f"{ORDERS}/99999/messages", headers=b_auth)) == (404, "ORDER_NOT_FOUND")

    assert ok(await client.post(base + "/call-operator", headers=s_auth)) == {"success": True}
    detail = ok(await client.get(base, headers=b_auth))
    assert detail["status"] == "dispute" and detail["operator_called"] is True
    assert error(await client.post(base + "/call-operator", headers=b_auth)) == (409, "CONFLICT")
    assert error(await client.post(base + "/cancel", headers=b_auth)) == (409, "CONFLICT")
    assert error(await client.post(base + "/confirm-received", headers=s_auth)) == (409, "CONFLICT")
    await assert_books_clean(db)


async def test_wagering_requirement_gates_p2p_withdrawals(client: httpx.AsyncClient, db: Database) -> None:
    """The one money-out rule (services.money_out.check_gates): traded volume >= 3x all bonus credited."""
    from tests.api.test_lmsr_api import live_market

    _, o_auth = await trader(db)
    seller, s_auth = await trader(db, balance=200_000)
    async with db.transaction() as session:
        await users.deposit(session, user_id=seller, amount=10_000, bonus=True)
    ad_id = await post_ad(client, o_auth, type="buy")
    card = {"card_number": "2200"}
    assert error(await take(client, s_auth, ad_id, 50_000, payment_details=card)) == (
        400,
        "WAGERING_REQUIREMENT_NOT_MET",
    )
    assert (await balances(db, seller)).cash == 200_000  # refused before any escrow
    market = await live_market(db)
    async with db.transaction() as session:  # 3x the bonus traded (the row is enough here)
        session.add(
            Trade(
                market_id=market.id or 0,
                event_id=market.event_id,
                user_id=seller,
                kind="lmsr",
                side="buy",
                token="YES",
                shares=1,
                price=5000,
                amount=29_999,
                fee=0,
            )
        )
    assert error(await take(client, s_auth, ad_id, 50_000, payment_details=card)) == (
        400,
        "WAGERING_REQUIREMENT_NOT_MET",
    )
    async with db.transaction() as session:
        session.add(
            Trade(
                market_id=market.id or 0,
                event_id=market.event_id,
                user_id=seller,
                kind="lmsr",
                side="buy",
                token="YES",
                shares=1,
                price=5000,
                amount=1,
                fee=0,
            )
        )
    assert ok(await take(client, s_auth, ad_id, 50_000, payment_details=card))["id"] > 0
    await assert_books_clean(db)


async def test_daily_limit_counts_p2p_sells_with_card_and_crypto(db: Database, settings: Settings) -> None:
    """One rolling 24 h money-out limit: P2P sells (not cancelled), card withdraws and crypto count together."""
    from tests.conftest import make_settings
    from tests.money.helpers import CARD
    from tests.support import lifespan_client

    strict = make_settings(settings.resolved_database_url, settings.data_dir, withdraw_daily_limit_kopecks=100_000)
    owner, o_auth = await trader(db)
    seller, s_auth = await trader(db, balance=300_000)
    async with lifespan_client(strict) as http:
        ad_id = await post_ad(http, o_auth, type="buy")
        card = {"card_number": "2200"}
        first = ok(await take(http, s_auth, ad_id, 60_000, payment_details=card))["id"]
        withdraw = {"type": "withdraw", "amount_kopecks": 50_000, "payment_details": {"card_number": CARD}}
        assert error(await http.post("/api/v1/card/orders", json=withdraw, headers=s_auth)) == (
            400,
            "WITHDRAWAL_LIMIT_EXCEEDED",
        )
        ok(await http.post(f"{ORDERS}/{first}/cancel", headers=o_auth))  # a cancelled sell no longer counts
        assert ok(await http.post("/api/v1/card/orders", json=withdraw, headers=s_auth))["id"] > 0
        assert error(await take(http, s_auth, ad_id, 60_000, payment_details=card)) == (
            400,
            "WITHDRAWAL_LIMIT_EXCEEDED",
        )
        assert ok(await take(http, s_auth, ad_id, 50_000, payment_details=card))["id"] > 0
    assert (await balances(db, seller)).cash == 300_000 - 50_000 - 50_000 and owner
    await assert_books_clean(db)


async def test_hidden_ads_leave_listings_and_take_no_orders(client: httpx.AsyncClient, db: Database) -> None:
    from predictql.auth import Actor
    from predictql.services import p2p_backoffice

    operator, o_auth = await trader(db, is_operator=True)
    _, s_auth = await trader(db, balance=100_000)
    _, b_auth = await trader(db)
    ad_id = await post_ad(client, s_auth)
    async with db.transaction() as session:
        await p2p_backoffice.moderate(session, Actor(user_id=operator, is_operator=True), ad_id=ad_id, status="hidden")
    assert ok(await client.get(ADS))["ads"] == []
    assert error(await client.get(f"{ADS}/{ad_id}")) == (404, "NOT_FOUND")
    assert ok(await client.get(f"{ADS}/{ad_id}", headers=s_auth))["moderation_status"] == "hidden"
    assert ok(await client.get(f"{ADS}/{ad_id}", headers=o_auth))["moderation_status"] == "hidden"
    assert error(await take(client, b_auth, ad_id, 50_000)) == (400, "AD_NOT_ACTIVE")
