"""Plain factories for P2P tests, through the real services and routes."""

from __future__ import annotations

from typing import Any

import httpx

from predictql.db import Database
from predictql.services import ledger, ledger_check
from tests.api.test_users import fast_user
from tests.support import bearer

ADS, ORDERS = "/api/v1/p2p/ads", "/api/v1/p2p/orders"
AD_BODY: dict[str, Any] = {
    "type": "sell",
    "fiat_currency": "RUB",
    "min_amount": 10_000,
    "max_amount": 500_000,
    "payment_methods": ["sber", "tinkoff"],
    "payment_details": {"sber": {"card": "2202 0000 0000 0001"}},
    "instructions": "Transfer to the card shown after order creation.",
}


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return response.status_code, body["error"]["code"]


async def trader(db: Database, balance: int = 0, **roles: bool) -> tuple[int, dict[str, str]]:
    user_id, token = await fast_user(db, balance=balance, **roles)
    return user_id, bearer(token)


async def post_ad(client: httpx.AsyncClient, auth: dict[str, str], **overrides: Any) -> int:
    return int(ok(await client.post(ADS, json={**AD_BODY, **overrides}, headers=auth))["id"])


async def take(
    client: httpx.AsyncClient, auth: dict[str, str], ad_id: int, amount: int, **extra: Any
) -> httpx.Response:
    body = {"ad_id": ad_id, "usdt_amount": amount, "payment_method": "sber", **extra}
    return await client.post(ORDERS, json=body, headers=auth)


async def balances(db: Database, user_id: int) -> ledger.Balances:
    async with db.session() as session:
        return await ledger.balances(session, user_id)


async def assert_books_clean(db: Database) -> None:
    async with db.session() as session:
        report = await ledger_check.check(session)
    assert report.ok, report.lines()
