"""The shared cache of public queries: one entry for every caller, never a private field shared,
invalidation by commits (in the process and, on Redis, across processes), HTTP caching of GETs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from predictql.db import Database
from predictql.graphql_server.response_cache import NO_GENERATION, Generation, ResponseCache
from predictql.graphql_server.view import PredictGraphQL
from predictql.models import Event
from tests.conftest import REDIS_URL, make_settings
from tests.markets.factories import create_market_setup
from tests.support import Kind, bearer, gid, lifespan_client, user_with_token

QUERY = {"query": "query M($id: ID!) { market(id: $id) { id yesPrice volume } }"}


def _settings(database_url: str, data_dir: Path, **overrides: Any) -> Any:
    return make_settings(database_url, data_dir, graphql_cache_ttl_ms=60_000, **overrides)


@pytest.fixture
async def cached(database_url: str, data_dir: Path, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    # Every commit in the process invalidates the cache, and the stream-log pruner commits once as the
    # app starts: wait for it, or a slow machine sees it land between a test's two identical queries.
    async with lifespan_client(_settings(database_url, data_dir), until=lambda state: state["db"].version > 0) as http:
        yield http


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One item per execution of an operation by the view (True: executed as the anonymous caller)."""
    runs: list[bool] = []
    original = PredictGraphQL._run

    async def counted(self: PredictGraphQL, *args: Any, anonymous: bool = False) -> Any:
        runs.append(anonymous)
        return await original(self, *args, anonymous=anonymous)

    monkeypatch.setattr(PredictGraphQL, "_run", counted)
    return runs


async def _trade(http: httpx.AsyncClient, token: str, market_id: int) -> None:
    trade = {"market_id": market_id, "side": "buy_yes", "amount_type": "spend", "amount": 5000}
    assert (await http.post("/api/v1/lmsr/trade", json=trade, headers=bearer(token))).status_code == 200


async def test_repeated_anonymous_query_is_a_hit_until_a_write(cached: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    body = {**QUERY, "variables": {"id": gid(Kind.MARKET, market.id)}}
    first = await cached.post("/graphql", json=body)
    second = await cached.post("/graphql", json=body)
    assert "x-cache" not in first.headers and second.headers["x-cache"] == "hit"
    assert second.json() == first.json()

    _, token = await user_with_token(cached, db, balance=10_000)
    await _trade(cached, token, market.id or 0)
    after = await cached.post("/graphql", json=body)
    assert "x-cache" not in after.headers
    assert after.json()["data"]["market"]["volume"] > first.json()["data"]["market"]["volume"]


async def test_signed_in_and_anonymous_callers_share_one_entry(
    cached: httpx.AsyncClient, db: Database, executions: list[bool]
) -> None:
    _, _, (market,) = await create_market_setup(db)
    _, alice = await user_with_token(cached, db, balance=10_000)
    _, bob = await user_with_token(cached, db)
    body = {**QUERY, "variables": {"id": gid(Kind.MARKET, market.id)}}
    signed_in = await cached.post("/graphql", json=body, headers=bearer(alice))
    anonymous = await cached.post("/graphql", json=body)
    other = await cached.post("/graphql", json=body, headers=bearer(bob))
    assert executions == [True]  # one execution, as nobody, for the three callers
    assert anonymous.headers["x-cache"] == "hit" and other.headers["x-cache"] == "hit"
    assert signed_in.json() == anonymous.json() == other.json()

    # A trade by a signed-in caller invalidates the entry for everyone.
    await _trade(cached, alice, market.id or 0)
    after = await cached.post("/graphql", json=body, headers=bearer(bob))
    assert "x-cache" not in after.headers and executions == [True, True]
    assert after.json()["data"]["market"]["volume"] > signed_in.json()["data"]["market"]["volume"]


async def test_concurrent_misses_wait_for_one_execution(
    cached: httpx.AsyncClient, db: Database, executions: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests missing the same entry while it is computed wait for it: one execution, not one each."""
    _, _, (market,) = await create_market_setup(db)
    _, token = await user_with_token(cached, db)
    body = {**QUERY, "variables": {"id": gid(Kind.MARKET, market.id)}}
    callers = 8
    lookups, everyone_missed = 0, asyncio.Event()
    filled, run = ResponseCache.filled, PredictGraphQL._run

    async def counted(self: ResponseCache, *args: Any) -> Any:
        nonlocal lookups
        lookups += 1
        if lookups == callers:
            everyone_missed.set()
        return await filled(self, *args)

    async def slow(self: PredictGraphQL, *args: Any, anonymous: bool = False) -> Any:
        await asyncio.wait_for(everyone_missed.wait(), 30)  # the execution outlasts every lookup
        return await run(self, *args, anonymous=anonymous)

    monkeypatch.setattr(ResponseCache, "filled", counted)
    monkeypatch.setattr(PredictGraphQL, "_run", slow)
    answers = await asyncio.gather(
        *(cached.post("/graphql", json=body, headers=bearer(token) if n % 2 else {}) for n in range(callers))
    )
    assert executions == [True]
    assert [a.status_code for a in answers] == [200] * callers
    assert all(a.json() == answers[0].json() for a in answers)
    assert sorted(a.headers.get("x-cache", "") for a in answers) == [""] + ["hit"] * (callers - 1)


async def test_waiters_for_an_entry_that_is_not_stored_are_released() -> None:
    cache = ResponseCache(60)
    with cache.filling("key", (1, 0)):
        waiting = asyncio.ensure_future(cache.filled("key", (1, 0)))
        other_version = await cache.filled("key", (2, 0))  # a commit since: not the same entry
        await asyncio.sleep(0)
        assert other_version is None and not waiting.done()
    assert await waiting is None  # an error, a failure: each executes on its own
    assert await cache.filled("key", (1, 0)) is None
    with cache.filling("key", (1, 0)):
        waiting = asyncio.ensure_future(cache.filled("key", (1, 0)))
        await asyncio.sleep(0)
        stored = cache.put("key", (1, 0), b'{"data": {"x": 1}}')
        assert await waiting is stored


async def test_private_fields_are_never_shared(cached: httpx.AsyncClient, db: Database, executions: list[bool]) -> None:
    _, _, (market,) = await create_market_setup(db)
    alice_id, alice = await user_with_token(cached, db, balance=1_000)
    bob_id, bob = await user_with_token(cached, db, balance=2_000)
    mixed = {
        "query": "query M($id: ID!) { market(id: $id) { id volume } me { id balance } }",
        "variables": {"id": gid(Kind.MARKET, market.id)},
    }
    for _ in range(2):
        for user_id, token in ((alice_id, alice), (bob_id, bob)):
            answer = await cached.post("/graphql", json=mixed, headers=bearer(token))
            assert "x-cache" not in answer.headers
            assert answer.json()["data"]["me"]["id"] == gid(Kind.USER, user_id)
    assert executions == [False] * 4  # each executed as its caller, none stored
    # A viewer-dependent field under a public root makes the operation private too.
    watched = {**mixed, "query": "query M($id: ID!) { market(id: $id) { id isWatched } }"}
    for token in (alice, bob, alice):
        assert "x-cache" not in (await cached.post("/graphql", json=watched, headers=bearer(token))).headers
    assert executions == [False] * 7


async def test_what_only_the_caller_may_see_is_their_own_execution(
    cached: httpx.AsyncClient, db: Database, executions: list[bool]
) -> None:
    creator_id, creator = await user_with_token(cached, db, is_creator=True)
    _, pool, _ = await create_market_setup(db, creator_id=creator_id)
    async with db.transaction() as session:
        event = await session.get(Event, pool.event_id)
        assert event is not None
        event.is_active = False  # hidden from everyone but its creator
    query = "query E($id: ID!) { event(id: $id) { id name } }"
    body = {"query": query, "variables": {"id": gid(Kind.EVENT, pool.event_id)}}
    assert (await cached.post("/graphql", json=body)).json() == {"data": {"event": None}}
    for _ in range(2):
        own = await cached.post("/graphql", json=body, headers=bearer(creator))
        assert own.json()["data"]["event"]["name"] == "Test event" and "x-cache" not in own.headers
        assert own.headers["cache-control"] == "no-store"
    # The anonymous answer was stored (and is served to anonymous callers), never to the creator.
    assert executions == [True, False, False]
    assert (await cached.post("/graphql", json=body)).headers["x-cache"] == "hit"


async def test_errors_and_mutations_are_never_cached(cached: httpx.AsyncClient, db: Database) -> None:
    missing = {**QUERY, "variables": {"id": "999999"}}
    for _ in range(2):
        assert "x-cache" not in (await cached.post("/graphql", json=missing)).headers
    mutation = {"query": 'mutation { forgotPassword(input: {email: "nobody@example.com"}) { userErrors { code } } }'}
    for _ in range(2):
        assert "x-cache" not in (await cached.post("/graphql", json=mutation)).headers


async def test_get_answers_carry_cache_control_and_etag(cached: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    _, token = await user_with_token(cached, db, balance=10_000)
    params = {"query": QUERY["query"], "variables": f'{{"id": "{gid(Kind.MARKET, market.id)}"}}'}
    first = await cached.get("/graphql", params=params)
    assert first.status_code == 200 and first.headers["cache-control"] == "public, max-age=60"
    etag = first.headers["etag"]
    # Revalidation: 304 without a body while nothing committed, whoever asks.
    for headers in ({}, bearer(token)):
        again = await cached.get("/graphql", params=params, headers={**headers, "If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = await cached.get("/graphql", params=params, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.json() == first.json()
    # After a trade the tag changes: the old one no longer matches.
    await _trade(cached, token, market.id or 0)
    changed = await cached.get("/graphql", params=params, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    # A private operation: the caller's browser may keep it, no shared cache may.
    me = await cached.get("/graphql", params={"query": "{ me { id } }"}, headers=bearer(token))
    assert me.headers["cache-control"] == "private, no-cache"
    unchanged = await cached.get(
        "/graphql", params={"query": "{ me { id } }"}, headers={**bearer(token), "If-None-Match": me.headers["etag"]}
    )
    assert unchanged.status_code == 304
    # POST answers are never for a shared cache, public or not.
    posted = await cached.post("/graphql", json={**QUERY, "variables": {"id": gid(Kind.MARKET, market.id)}})
    assert posted.status_code == 200 and posted.headers["cache-control"] == "no-store" and "etag" not in posted.headers


async def test_ttl_zero_disables(database_url: str, data_dir: Path, db: Database, executions: list[bool]) -> None:
    _, _, (market,) = await create_market_setup(db)
    body = {**QUERY, "variables": {"id": gid(Kind.MARKET, market.id)}}
    async with lifespan_client(make_settings(database_url, data_dir, graphql_cache_ttl_ms=0)) as http:
        for _ in range(2):
            assert "x-cache" not in (await http.post("/graphql", json=body)).headers
        got = await http.get("/graphql", params={"query": "{ __typename }"})
        assert got.headers["cache-control"] == "private, no-cache"
    assert executions == [False, False, False]


@pytest.mark.skipif(REDIS_URL is None, reason="needs PREDICTQL_TEST_REDIS_URL (processes share commits through Redis)")
async def test_a_commit_in_another_instance_invalidates(database_url: str, data_dir: Path, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    body = {**QUERY, "variables": {"id": gid(Kind.MARKET, market.id)}}
    settings = _settings(database_url, data_dir)
    started = lambda state: state["db"].version > 0  # noqa: E731 (the start-up prune has committed)
    async with lifespan_client(settings, until=started) as reader, lifespan_client(settings, until=started) as writer:
        first = await reader.post("/graphql", json=body)
        assert (await reader.post("/graphql", json=body)).headers["x-cache"] == "hit"
        _, token = await user_with_token(writer, db, balance=10_000)
        await _trade(writer, token, market.id or 0)  # committed by the other instance only
        after = await reader.post("/graphql", json=body)
        assert "x-cache" not in after.headers
        assert after.json()["data"]["market"]["volume"] > first.json()["data"]["market"]["volume"]
        assert (await reader.post("/graphql", json=body)).headers["x-cache"] == "hit"


async def test_a_node_only_its_owner_sees_is_their_own_execution(
    cached: httpx.AsyncClient, db: Database, executions: list[bool]
) -> None:
    _, _, (market,) = await create_market_setup(db)
    _, alice = await user_with_token(cached, db, balance=10_000)
    await _trade(cached, alice, market.id or 0)  # notifies alice
    latest = {"query": "{ notifications(first: 1) { nodes { id } } }"}
    mine = await cached.post("/graphql", json=latest, headers=bearer(alice))
    notification = mine.json()["data"]["notifications"]["nodes"][0]["id"]
    del executions[:]
    body = {"query": "query N($ids: [ID!]!) { nodes(ids: $ids) { id } }", "variables": {"ids": [notification]}}
    assert (await cached.post("/graphql", json=body)).json() == {"data": {"nodes": [None]}}
    for _ in range(2):
        own = await cached.post("/graphql", json=body, headers=bearer(alice))
        assert own.json() == {"data": {"nodes": [{"id": notification}]}} and "x-cache" not in own.headers
    assert executions == [True, False, False]


async def test_an_unreachable_redis_bypasses_the_cache() -> None:
    generation = Generation("redis://127.0.0.1:1/0", "test-generation")  # nothing listens on port 1
    try:
        assert await generation.current() is None  # the view then executes, never serves an entry
        await generation.bump()  # logged, not raised: the commit it follows has happened
    finally:
        await generation.close()
    assert await NO_GENERATION.current() == 0


async def test_a_support_chat_visitor_is_never_answered_from_the_cache(cached: httpx.AsyncClient, db: Database) -> None:
    alice = (await cached.post("/api/v1/chat/session")).json()["session_id"]
    chat_id = (await cached.post("/graphql", json={"query": "{ supportChat { id } }"})).json()
    cached.cookies.clear()
    node = {
        "query": "query($id: ID!) { node(id: $id) { id } }",
        "variables": {"id": chat_id["data"]["supportChat"]["id"]},
    }
    own = await cached.post("/graphql", json=node, headers={"Cookie": f"chat_session_id={alice}"})
    assert own.json()["data"]["node"] is not None and "x-cache" not in own.headers
    for cookie in ("chat_session_id=forged", ""):  # another visitor, then no visitor at all
        other = await cached.post("/graphql", json=node, headers={"Cookie": cookie} if cookie else {})
        assert other.json()["data"]["node"] is None and "x-cache" not in other.headers
    again = await cached.post("/graphql", json=node, headers={"Cookie": f"chat_session_id={alice}"})
    assert again.json()["data"]["node"] is not None and "x-cache" not in again.headers
