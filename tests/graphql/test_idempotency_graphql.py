"""``idempotencyKey`` on mutations: replay without executing again; another body is refused."""

from __future__ import annotations

import asyncio

import httpx

from predictql.db import Database
from predictql.services import ledger
from tests.markets.factories import create_market_setup
from tests.support import Kind, gid, gql, user_with_token

TRADE = """
mutation Trade($market: ID!, $amount: Long!, $key: String) {
  lmsrTrade(input: {marketId: $market, side: BUY_YES, amountType: SPEND, amount: $amount}, idempotencyKey: $key) {
    trade { id fee } costOrPayoutCents sharesDelta balances { cash } userErrors { field code }
  }
}
"""


async def _cash(db: Database, user_id: int) -> int:
    async with db.session() as session:
        return (await ledger.balances(session, user_id)).cash


async def test_same_key_same_body_replays_without_executing(client: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    user_id, token = await user_with_token(client, db, balance=10_000)
    variables = {"market": gid(Kind.MARKET, market.id), "amount": 1000, "key": "trade-1"}
    first = await gql(client, TRADE, variables, token)
    assert "errors" not in first, first
    after_first = await _cash(db, user_id)
    second = await gql(client, TRADE, variables, token)
    assert second == first
    assert await _cash(db, user_id) == after_first  # nothing executed the second time


async def test_same_key_other_body_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    _, token = await user_with_token(client, db, balance=10_000)
    await gql(client, TRADE, {"market": gid(Kind.MARKET, market.id), "amount": 1000, "key": "k"}, token)
    other = await gql(client, TRADE, {"market": gid(Kind.MARKET, market.id), "amount": 999, "key": "k"}, token)
    assert other["errors"][0]["extensions"]["code"] == "idempotency_key_reused"


async def test_keys_are_per_user_and_failures_are_not_stored(client: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    poor_id, poor = await user_with_token(client, db, balance=10)
    variables = {"market": gid(Kind.MARKET, market.id), "amount": 1000, "key": "shared"}
    failed = await gql(client, TRADE, variables, poor)
    assert "errors" not in failed  # a business failure is the payload's userErrors; its savepoint rolled back
    assert failed["data"]["lmsrTrade"]["userErrors"] == [{"field": ["input", "amount"], "code": "INSUFFICIENT_BALANCE"}]
    async with db.transaction() as session:
        from predictql.services import users

        await users.deposit(session, user_id=poor_id, amount=10_000)
    retried = await gql(client, TRADE, variables, poor)  # the failure left no claim: it runs now
    assert "errors" not in retried and retried["data"]["lmsrTrade"]["userErrors"] == [], retried
    assert retried["data"]["lmsrTrade"]["balances"]["cash"] < 10_010
    _, rich = await user_with_token(client, db, balance=10_000)
    other_user = await gql(client, TRADE, variables, rich)  # same key, another owner: independent
    assert "errors" not in other_user and other_user != retried


async def test_concurrent_retries_execute_once(client: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    user_id, token = await user_with_token(client, db, balance=100_000)
    variables = {"market": gid(Kind.MARKET, market.id), "amount": 1000, "key": "burst"}
    results = await asyncio.gather(*(gql(client, TRADE, variables, token) for _ in range(8)))
    ok = [r for r in results if "errors" not in r]
    assert ok and all(r == ok[0] for r in ok)
    for r in results:
        if "errors" in r:
            assert r["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS", r
    paid = 100_000 - await _cash(db, user_id)
    assert paid == ok[0]["data"]["lmsrTrade"]["costOrPayoutCents"]
