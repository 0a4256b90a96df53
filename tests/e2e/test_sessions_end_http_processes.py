"""A session ends everywhere for HTTP too, although each process answers known callers from memory
(``services.actor_cache``): two real ``predictql serve`` processes on one PostgreSQL database and one
Redis bus. Process B has resolved the caller (REST and GraphQL); the session is signed out, the API
token revoked or the role removed through process A; B's very next request is refused.

Skipped without Redis and on SQLite, like ``test_sessions_end_processes``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis import asyncio as aioredis

from predictql.db import Database
from predictql.services import sessions
from predictql.subscriptions import topics
from tests.api.test_api_tokens import TOKENS
from tests.conftest import BACKEND, REDIS_URL, RUN_PREFIX
from tests.e2e.test_scale_out import RECEIVE_TIMEOUT, direct, redis
from tests.graphql.test_users_graphql import SET_ROLE
from tests.support import Kind, bearer, create_user, failure_code, gid, gql

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(REDIS_URL is None, reason="PREDICTQL_TEST_REDIS_URL not set: the memory bus is one process"),
    pytest.mark.skipif(BACKEND == "sqlite", reason="several processes need PostgreSQL (SQLite is one process)"),
]
__all__ = ["direct", "redis"]

ME = "{ me { id } }"


async def both_follow(redis: aioredis.Redis) -> None:
    """Wait until both processes' caches follow the access channel (before that they read the
    database for every request, and the test would prove nothing about the cache)."""
    wire = (RUN_PREFIX + topics.ACCESS).encode()
    deadline = time.monotonic() + RECEIVE_TIMEOUT
    while int(dict(await redis.pubsub_numsub(wire)).get(wire, 0)) < 2:
        assert time.monotonic() < deadline, "the processes do not follow the access channel"
        await asyncio.sleep(0.05)  # polls another process's subscription


async def session_of(db: Database, settings: Any, **roles: bool) -> tuple[int, str]:
    user_id = await create_user(db, **roles)
    async with db.transaction() as session:
        return user_id, (await sessions.open_session(session, settings, user_id)).access_token


Clients = tuple[httpx.AsyncClient, httpx.AsyncClient]


@pytest.fixture
async def ab(direct: tuple[str, str], redis: aioredis.Redis) -> AsyncIterator[Clients]:
    """Clients of A and B, once both follow the access channel."""
    await both_follow(redis)
    a, b = direct
    async with (
        httpx.AsyncClient(base_url=a, timeout=RECEIVE_TIMEOUT) as on_a,
        httpx.AsyncClient(base_url=b, timeout=RECEIVE_TIMEOUT) as on_b,
    ):
        yield on_a, on_b


async def known_on(http: httpx.AsyncClient, token: str, user_id: int) -> None:
    """The process resolves the caller over REST and GraphQL (and keeps it)."""
    me = await http.get("/api/v1/auth/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert (await gql(http, ME, token=token))["data"] == {"me": {"id": gid(Kind.USER, user_id)}}


async def refused_on(http: httpx.AsyncClient, token: str) -> None:
    assert (await http.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401
    assert (await gql(http, ME, token=token))["data"] == {"me": None}


async def test_signing_out_on_a_refuses_the_next_request_on_b(ab: Clients, db: Database, settings: Any) -> None:
    on_a, on_b = ab
    user_id, token = await session_of(db, settings)
    await known_on(on_b, token, user_id)
    assert (await on_a.delete("/api/v1/auth/logout", headers=bearer(token))).status_code == 200
    await refused_on(on_b, token)


async def test_revoking_an_api_token_on_a_refuses_it_on_b_and_keeps_the_other(
    ab: Clients, db: Database, settings: Any
) -> None:
    on_a, on_b = ab
    user_id, session_token = await session_of(db, settings)
    minted = []
    for name in ("drop", "keep"):
        response = await on_a.post(TOKENS, json={"name": name}, headers=bearer(session_token))
        assert response.status_code == 201, response.text
        minted.append(response.json())
    drop, keep = minted
    await known_on(on_b, drop["token"], user_id)
    await known_on(on_b, keep["token"], user_id)
    revoked = await on_a.delete(f"{TOKENS}/{drop['id']}", headers=bearer(session_token))
    assert revoked.status_code == 200, revoked.text
    await refused_on(on_b, drop["token"])
    await known_on(on_b, keep["token"], user_id)


async def test_losing_a_role_on_a_refuses_what_needed_it_on_b(ab: Clients, db: Database, settings: Any) -> None:
    on_a, on_b = ab
    _, admin = await session_of(db, settings, is_admin=True)
    viewer_id, viewer = await session_of(db, settings, is_stats_viewer=True)
    target = await create_user(db)
    grant = {"user_id": target, "role": "creator"}
    granted = await on_b.post("/api/v1/stats/role", json=grant, headers=bearer(viewer))  # B knows the role
    assert granted.status_code == 200, granted.text
    lose = {"user_id": viewer_id, "role": "stats_viewer", "value": False}
    assert (await on_a.post("/api/v1/stats/role", json=lose, headers=bearer(admin))).status_code == 200
    refused = await on_b.post("/api/v1/stats/role", json=grant, headers=bearer(viewer))
    assert refused.status_code == 403, refused.text
    variables = {"u": gid(Kind.USER, target), "r": "CREATOR", "v": True}
    assert failure_code(await gql(on_b, SET_ROLE, variables, token=viewer)) == "FORBIDDEN"
