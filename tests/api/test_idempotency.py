"""``Idempotency-Key`` on REST POST routes."""

from __future__ import annotations

import asyncio

import httpx

from predictql.db import Database
from predictql.services import ledger
from tests.markets.factories import create_market_setup
from tests.support import bearer, unique_email, user_with_token


async def _cash(db: Database, user_id: int) -> int:
    async with db.session() as session:
        return (await ledger.balances(session, user_id)).cash


def _trade(market_id: int, amount: int = 1000) -> dict[str, object]:
    return {"market_id": market_id, "side": "buy_yes", "amount_type": "spend", "amount": amount}


async def test_retry_replays_the_stored_response(client: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    user_id, token = await user_with_token(client, db, balance=10_000)
    headers = {**bearer(token), "Idempotency-Key": "order-42"}
    first = await client.post("/api/v1/lmsr/trade", json=_trade(market.id or 0), headers=headers)
    assert first.status_code == 200, first.text
    paid = 10_000 - await _cash(db, user_id)
    second = await client.post("/api/v1/lmsr/trade", json=_trade(market.id or 0), headers=headers)
    assert second.status_code == 200 and second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert 10_000 - await _cash(db, user_id) == paid


async def test_other_body_with_the_same_key_is_422(client: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    _, token = await user_with_token(client, db, balance=10_000)
    headers = {**bearer(token), "Idempotency-Key": "k1"}
    assert (await client.post("/api/v1/lmsr/trade", json=_trade(market.id or 0), headers=headers)).status_code == 200
    other = await client.post("/api/v1/lmsr/trade", json=_trade(market.id or 0, 999), headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


async def test_failed_request_leaves_no_claim(client: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    _, token = await user_with_token(client, db, balance=10)
    headers = {**bearer(token), "Idempotency-Key": "retry-me"}
    first = await client.post("/api/v1/lmsr/trade", json=_trade(market.id or 0), headers=headers)
    assert first.status_code == 402
    again = await client.post("/api/v1/lmsr/trade", json=_trade(market.id or 0), headers=headers)
    assert again.status_code == 402 and "idempotent-replayed" not in again.headers


async def test_anonymous_sign_up_replays_201(client: httpx.AsyncClient) -> None:
    body = {"email": unique_email("idem"), "password": "password123"}
    headers = {"Idempotency-Key": "signup-1"}
    first = await client.post("/api/v1/auth/sign-up", json=body, headers=headers)
    second = await client.post("/api/v1/auth/sign-up", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()


async def test_concurrent_retries_execute_once(client: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    user_id, token = await user_with_token(client, db, balance=100_000)
    headers = {**bearer(token), "Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/lmsr/trade", json=_trade(market.id or 0), headers=headers) for _ in range(8))
    )
    ok = [r for r in responses if r.status_code == 200]
    assert ok and all(r.json() == ok[0].json() for r in ok)
    assert all(r.json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS" for r in responses if r.status_code != 200)
    assert 100_000 - await _cash(db, user_id) == ok[0].json()["cost_or_payout_cents"]


async def test_bad_key_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/forgot-password", json={"email": "x@example.com"}, headers={"Idempotency-Key": "x" * 300}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_REQUEST"
