"""REST group ``card``: every route's shape and codes, ownership, operators settling orders once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import DomainError
from predictql.models import AuditEntry, CardOrder, Notification
from predictql.services import card_orders
from tests.api.test_users import fast_user
from tests.money.helpers import CARD, assert_ledger_clean, cash
from tests.support import bearer

API = "/api/v1"


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def create(client: httpx.AsyncClient, token: str, **body: Any) -> httpx.Response:
    return await client.post(f"{API}/card/orders", json=body, headers=bearer(token))


async def test_limits_show_the_platform_card(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db)
    response = await client.get(f"{API}/card/limits", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"platform_card", "min_amount_kopecks", "max_amount_kopecks"}
    assert set(body["platform_card"]) == {"bank_name", "card_number", "holder_name"}
    assert (body["min_amount_kopecks"], body["max_amount_kopecks"]) == (10000, 5000000)
    assert (await client.get(f"{API}/card/limits")).status_code == 401


async def test_deposit_flow_credits_once_through_the_ledger(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db)
    operator_id, _ = await fast_user(db, is_operator=True)
    created = await create(client, token, type="deposit", amount_kopecks=50000)
    assert created.status_code == 200 and set(created.json()) == {"id"}
    order_id = created.json()["id"]
    again = await create(client, token, type="deposit", amount_kopecks=20000)
    assert (again.status_code, code(again)) == (409, "ACTIVE_DEPOSIT_ORDER_EXISTS")

    paid = await client.post(f"{API}/card/orders/{order_id}/confirm-paid", headers=bearer(token))
    assert paid.status_code == 200 and paid.json()["status"] == "paid_by_user" and paid.json()["paid_at"]
    twice = await client.post(f"{API}/card/orders/{order_id}/confirm-paid", headers=bearer(token))
    assert (twice.status_code, code(twice)) == (409, "INVALID_ORDER_STATUS")
    late_cancel = await client.post(f"{API}/card/orders/{order_id}/cancel", headers=bearer(token))
    assert (late_cancel.status_code, code(late_cancel)) == (409, "INVALID_ORDER_STATUS")
    assert await cash(db, user_id) == 0

    async with db.transaction() as session:
        await card_orders.complete(session, Actor(user_id=operator_id, is_operator=True), order_id=order_id)
    assert await cash(db, user_id) == 50000
    mine = await client.get(f"{API}/card/orders/my", headers=bearer(token))
    assert [(o["id"], o["status"], o["amount_kopecks"]) for o in mine.json()] == [(order_id, "completed", 50000)]
    assert mine.json()[0]["completed_at"] is not None
    async with db.session() as session:
        kinds = [
            n.type
            for n in await session.scalars(
                select(Notification).where(col(Notification.user_id) == user_id).order_by(col(Notification.id))
            )
        ]
        audit = list(await session.scalars(select(AuditEntry).where(col(AuditEntry.subject_id) == order_id)))
    assert kinds == ["card_order_updated"] * 3
    assert [(a.action, a.actor_id, a.before, a.after) for a in audit] == [
        ("card_order.complete", operator_id, {"status": "paid_by_user"}, {"status": "completed"})
    ]
    await assert_ledger_clean(db)


async def test_amount_limits_and_bad_bodies(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, balance=200000)
    low = await create(client, token, type="deposit", amount_kopecks=9999)
    high = await create(client, token, type="deposit", amount_kopecks=5000001)
    assert (low.status_code, code(low)) == (400, "AMOUNT_TOO_LOW")
    assert (high.status_code, code(high)) == (400, "AMOUNT_TOO_HIGH")
    kind = await create(client, token, type="swap", amount_kopecks=10000)
    assert (kind.status_code, code(kind)) == (400, "INVALID_REQUEST")
    no_card = await create(client, token, type="withdraw", amount_kopecks=10000)
    assert (no_card.status_code, code(no_card)) == (400, "INVALID_REQUEST")
    bad_card = await create(
        client, token, type="withdraw", amount_kopecks=10000, payment_details={"card_number": "4111 1111 1111 1112"}
    )
    assert (bad_card.status_code, code(bad_card)) == (400, "INVALID_CARD_NUMBER")
    string_amount = await create(client, token, type="deposit", amount_kopecks="10000")
    assert string_amount.status_code == 400


async def test_withdraw_is_debited_at_creation_and_refunded_on_cancel(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db, balance=150000)
    details = {"card_number": CARD, "bank": "Tinkoff", "holder_name": "IVAN PETROV"}
    created = await create(client, token, type="withdraw", amount_kopecks=100000, payment_details=details)
    assert created.status_code == 200, created.text
    order_id = created.json()["id"]
    assert await cash(db, user_id) == 50000
    broke = await create(client, token, type="withdraw", amount_kopecks=60000, payment_details=details)
    assert (broke.status_code, code(broke)) == (400, "INSUFFICIENT_BALANCE")
    not_deposit = await client.post(f"{API}/card/orders/{order_id}/confirm-paid", headers=bearer(token))
    assert (not_deposit.status_code, code(not_deposit)) == (409, "INVALID_ORDER_STATUS")
    cancelled = await client.post(f"{API}/card/orders/{order_id}/cancel", headers=bearer(token))
    assert cancelled.status_code == 200
    order = cancelled.json()
    assert order["status"] == "cancelled"
    assert order["payment_details"] == {
        "card_number": "4111111111111111",
        "bank_name": "Tinkoff",
        "holder_name": "IVAN PETROV",
    }
    assert await cash(db, user_id) == 150000
    await assert_ledger_clean(db)


async def test_withdraw_gates(client: httpx.AsyncClient, db: Database) -> None:
    _, small = await fast_user(db, balance=50000)  # deposited less than 1000 RUB
    refused = await create(client, small, type="withdraw", amount_kopecks=10000, payment_details={"card_number": CARD})
    assert (refused.status_code, code(refused)) == (400, "MIN_DEPOSIT_REQUIRED")


async def test_operator_rejects_a_withdraw_and_it_is_refunded(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db, balance=100000)
    operator_id, _ = await fast_user(db, is_operator=True)
    created = await create(client, token, type="withdraw", amount_kopecks=40000, payment_details={"card_number": CARD})
    order_id = created.json()["id"]
    operator = Actor(user_id=operator_id, is_operator=True)
    async with db.transaction() as session:
        await card_orders.reject(session, operator, order_id=order_id, note="card blocked")
    assert await cash(db, user_id) == 100000
    again = None
    try:
        async with db.transaction() as session:
            await card_orders.complete(session, operator, order_id=order_id)
    except DomainError as error:
        again = error.code
    assert again == "INVALID_ORDER_STATUS"
    await assert_ledger_clean(db)


async def test_another_user_can_neither_see_nor_change_an_order(client: httpx.AsyncClient, db: Database) -> None:
    _, owner = await fast_user(db)
    _, stranger = await fast_user(db)
    order_id = (await create(client, owner, type="deposit", amount_kopecks=10000)).json()["id"]
    for method, path, body in (
        ("POST", f"/card/orders/{order_id}/confirm-paid", None),
        ("POST", f"/card/orders/{order_id}/cancel", None),
        ("GET", f"/card/orders/{order_id}/messages", None),
        ("POST", f"/card/orders/{order_id}/messages", {"message": "hi"}),
    ):
        response = await client.request(method, API + path, json=body, headers=bearer(stranger))
        assert (response.status_code, code(response)) == (404, "ORDER_NOT_FOUND"), (path, response.text)
    assert (await client.get(f"{API}/card/orders/my", headers=bearer(stranger))).json() == []
    async with db.session() as session:
        order = await session.get(CardOrder, order_id)
        assert order is not None and order.status == "pending"


async def test_chat_between_owner_and_operator(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db)
    _, operator = await fast_user(db, is_operator=True)
    order_id = (await create(client, token, type="deposit", amount_kopecks=10000)).json()["id"]
    first = await client.post(
        f"{API}/card/orders/{order_id}/messages", json={"message": "paid from Sber"}, headers=bearer(token)
    )
    assert first.status_code == 200 and set(first.json()) == {"id"}
    answer = await client.post(
        f"{API}/card/orders/{order_id}/messages", json={"message": "checking"}, headers=bearer(operator)
    )
    assert answer.status_code == 200
    empty = await client.post(f"{API}/card/orders/{order_id}/messages", json={"message": "  "}, headers=bearer(token))
    assert (empty.status_code, code(empty)) == (400, "INVALID_MESSAGE")
    listed = await client.get(f"{API}/card/orders/{order_id}/messages?limit=50", headers=bearer(token))
    assert [(m["sender"], m["message"]) for m in listed.json()] == [
        ("user", "paid from Sber"),
        ("operator", "checking"),
    ]
    assert set(listed.json()[0]) == {"id", "order_id", "sender", "sender_id", "message", "created_at"}
    async with db.session() as session:
        types = list(await session.scalars(select(Notification.type).where(col(Notification.user_id) == user_id)))
    assert "card_order_message" in types


async def test_double_complete_credits_once(db: Database) -> None:
    user_id, _ = await fast_user(db)
    operators = [Actor(user_id=(await fast_user(db, is_operator=True))[0], is_operator=True) for _ in range(2)]
    async with db.transaction() as session:
        order = await card_orders.create(session, Actor(user_id=user_id), _settings(), type="deposit", amount=70000)
    assert order.id is not None
    order_id = order.id

    async def complete(actor: Actor) -> str:
        try:
            async with db.transaction() as session:
                await card_orders.complete(session, actor, order_id=order_id)
        except DomainError as error:
            return error.code
        return "ok"

    results = await asyncio.gather(*(complete(actor) for actor in operators * 2))
    assert sorted(results) == ["INVALID_ORDER_STATUS"] * 3 + ["ok"]
    assert await cash(db, user_id) == 70000
    await assert_ledger_clean(db)


async def test_non_operators_cannot_complete_or_reject(db: Database) -> None:
    user_id, _ = await fast_user(db)
    async with db.transaction() as session:
        order = await card_orders.create(session, Actor(user_id=user_id), _settings(), type="deposit", amount=10000)
    for verb in (card_orders.complete, card_orders.reject):
        try:
            async with db.transaction() as session:
                await verb(session, Actor(user_id=user_id), order_id=order.id or 0)
        except DomainError as error:
            assert error.code == "FORBIDDEN"
        else:
            raise AssertionError("a plain user settled a card order")


def _settings() -> Any:
    from predictql.settings import Settings

    return Settings(environment="test", jwt_secret="x" * 40)


async def test_my_orders_filter_and_paging(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, balance=300000)
    ids = []
    for body in (
        {"type": "deposit", "amount_kopecks": 10000},
        {"type": "withdraw", "amount_kopecks": 10000, "payment_details": {"card_number": CARD}},
        {"type": "withdraw", "amount_kopecks": 20000, "payment_details": {"card_number": CARD}},
    ):
        ids.append((await create(client, token, **body)).json()["id"])
    mine = f"{API}/card/orders/my"
    withdraws = (await client.get(mine, params={"type": "withdraw"}, headers=bearer(token))).json()
    assert [o["id"] for o in withdraws] == [ids[2], ids[1]]
    page = (await client.get(mine, params={"limit": 1, "offset": 1}, headers=bearer(token))).json()
    assert [o["id"] for o in page] == [ids[1]]
    for params in ({"type": "swap"}, {"limit": 0}, {"limit": 101}, {"offset": -1}):
        response = await client.get(mine, params=params, headers=bearer(token))
        assert (response.status_code, code(response)) == (400, "INVALID_REQUEST"), params


async def test_cancel_racing_an_operator_settles_once(db: Database) -> None:
    user_id, _ = await fast_user(db, balance=200000)
    operator = Actor(user_id=(await fast_user(db, is_operator=True))[0], is_operator=True)
    owner = Actor(user_id=user_id)
    for settle in (card_orders.complete, card_orders.reject):
        async with db.transaction() as session:
            order = await card_orders.create(
                session, owner, _settings(), type="withdraw", amount=100000, details={"card_number": CARD}
            )
        order_id = order.id or 0

        async def run(work: Any) -> str:
            try:
                async with db.transaction() as session:
                    await work(session)
            except DomainError as error:
                return error.code
            return "ok"

        results = await asyncio.gather(
            run(lambda s, oid=order_id: card_orders.cancel(s, owner, order_id=oid)),
            run(lambda s, oid=order_id, verb=settle: verb(s, operator, order_id=oid)),
        )
        assert sorted(results) == ["INVALID_ORDER_STATUS", "ok"], results
        async with db.session() as session:
            final = await session.get(CardOrder, order_id)
        assert final is not None
        paid_out = final.status == "completed"
        assert await cash(db, user_id) == (100000 if paid_out else 200000)
        if paid_out:  # put the balance back for the next round
            async with db.transaction() as session:
                from predictql.services import users

                await users.deposit(session, user_id=user_id, amount=100000)
    await assert_ledger_clean(db)


async def test_concurrent_card_withdraws_never_overdraw(db: Database) -> None:
    user_id, _ = await fast_user(db, balance=150000)

    async def withdraw() -> str:
        try:
            async with db.transaction() as session:
                await card_orders.create(
                    session,
                    Actor(user_id=user_id),
                    _settings(),
                    type="withdraw",
                    amount=100000,
                    details={"card_number": CARD},
                )
        except DomainError as error:
            return error.code
        return "ok"

    results = await asyncio.gather(*(withdraw() for _ in range(4)))
    assert sorted(results) == ["INSUFFICIENT_BALANCE"] * 3 + ["ok"], results
    assert await cash(db, user_id) == 50000
    await assert_ledger_clean(db)
