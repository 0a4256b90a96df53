"""The anonymous query micro-cache: hits, invalidation by writes, and what is never cached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from predictql.db import Database
from tests.conftest import make_settings
from tests.markets.factories import create_market_setup
from tests.support import Kind, bearer, gid, lifespan_client, user_with_token

QUERY = {"query": "query M($id: ID!) { market(id: $id) { id yesPrice volume } }"}


@pytest.fixture
async def cached(database_url: str, data_dir: Path, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, data_dir, graphql_cache_ttl_ms=60_000)
    # Every commit in the process invalidates the cache, and the stream-log pruner commits once as the
    # app starts: wait for it, or a slow machine sees it land between a test's two identical queries.
    async with lifespan_client(settings, until=lambda state: state["db"].version > 0) as http:
        yield http


async def test_repeated_anonymous_query_is_a_hit_until_a_write(cached: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    body = {**QUERY, "variables": {"id": gid(Kind.MARKET, market.id)}}
    first = await cached.post("/graphql", json=body)
    second = await cached.post("/graphql", json=body)
    assert "x-cache" not in first.headers and second.headers["x-cache"] == "hit"
    assert second.json() == first.json()

    _, token = await user_with_token(cached, db, balance=10_000)
    trade = {"market_id": market.id, "side": "buy_yes", "amount_type": "spend", "amount": 5000}
    assert (await cached.post("/api/v1/lmsr/trade", json=trade, headers=bearer(token))).status_code == 200
    after = await cached.post("/graphql", json=body)
    assert "x-cache" not in after.headers
    assert after.json()["data"]["market"]["volume"] > first.json()["data"]["market"]["volume"]


async def test_signed_in_errors_and_mutations_are_never_cached(cached: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    _, token = await user_with_token(cached, db)
    body = {**QUERY, "variables": {"id": gid(Kind.MARKET, market.id)}}
    for _ in range(2):
        assert "x-cache" not in (await cached.post("/graphql", json=body, headers=bearer(token))).headers
    missing = {**QUERY, "variables": {"id": "999999"}}
    for _ in range(2):
        assert "x-cache" not in (await cached.post("/graphql", json=missing)).headers
    mutation = {"query": 'mutation { forgotPassword(input: {email: "nobody@example.com"}) { userErrors { code } } }'}
    for _ in range(2):
        assert "x-cache" not in (await cached.post("/graphql", json=mutation)).headers


async def test_ttl_zero_disables(database_url: str, data_dir: Path, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    body = {**QUERY, "variables": {"id": gid(Kind.MARKET, market.id)}}
    async with lifespan_client(make_settings(database_url, data_dir, graphql_cache_ttl_ms=0)) as http:
        for _ in range(2):
            assert "x-cache" not in (await http.post("/graphql", json=body)).headers


async def test_a_support_chat_visitor_is_never_answered_from_the_cache(
    cached: httpx.AsyncClient, db: Database
) -> None:
    alice = (await cached.post("/api/v1/chat/session")).json()["session_id"]
    chat_id = (await cached.post("/graphql", json={"query": "{ supportChat { id } }"})).json()
    cached.cookies.clear()
    node = {"query": "query($id: ID!) { node(id: $id) { id } }",
            "variables": {"id": chat_id["data"]["supportChat"]["id"]}}
    own = await cached.post("/graphql", json=node, headers={"Cookie": f"chat_session_id={alice}"})
    assert own.json()["data"]["node"] is not None and "x-cache" not in own.headers
    for cookie in ("chat_session_id=forged", ""):  # another visitor, then no visitor at all
        other = await cached.post("/graphql", json=node, headers={"Cookie": cookie} if cookie else {})
        assert other.json()["data"]["node"] is None and "x-cache" not in other.headers
    again = await cached.post("/graphql", json=node, headers={"Cookie": f"chat_session_id={alice}"})
    assert again.json()["data"]["node"] is not None and "x-cache" not in again.headers
