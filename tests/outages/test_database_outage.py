"""PostgreSQL stopped, or frozen, under a real ``predictql serve``: every REST route answers 503
``SERVICE_UNAVAILABLE`` with ``Retry-After`` (or a client error decided without the database),
GraphQL answers that code, health answers its documented shape saying ``degraded``, nothing waits
past the timeouts; when the database returns the service recovers without a restart, and a
subscription opened before the outage kept its socket and carries on in seq order.

The cluster is the test's own (``owned.OwnedPostgres``), whichever store the suite runs on.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from predictql import migrate
from predictql.db import Database, make_engine
from predictql.rest_compat.routing import REGISTRY
from tests.api.test_lmsr_api import trader
from tests.conftest import make_settings
from tests.e2e.conftest import start_server, stop_server
from tests.markets.factories import create_market_setup
from tests.outages.owned import OwnedPostgres, next_trade, subscribe_trades, unavailable
from tests.support import bearer

# A hard outer bound: the thread method dumps every stack and ends the run if a test overstays.
# (The default signal method raises inside the event loop, where an awaiting library or a
# teardown stuck on a frozen cluster can swallow it: a run once hung ~20 minutes.)
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240, method="thread")]
TIMEOUTS = {"PREDICTQL_DATABASE_CONNECT_TIMEOUT_SECONDS": "1", "PREDICTQL_DATABASE_STATEMENT_TIMEOUT_SECONDS": "1"}
# Connect or statement timeout, plus a client-side second and scheduling slack on a busy machine.
BOUND_SECONDS = 6.0


@dataclass
class Served:
    base: str
    db: Database
    postgres: OwnedPostgres
    market_id: int
    token: str
    # A caller the server has not resolved yet: the trader's it knows from memory (services.actor_cache),
    # so only this one's requests show that authenticating needs the database.
    newcomer: str


@pytest.fixture(scope="module")
def postgres() -> Iterator[OwnedPostgres]:
    owned = OwnedPostgres()
    owned.start()
    yield owned
    owned.remove()


@pytest.fixture(scope="module")
def server(postgres: OwnedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("outage")
    settings = make_settings(postgres.url(), data, broadcast_url="memory://", redis_url=None)
    process, base = start_server(settings, Path(data / "server.log"), **TIMEOUTS)
    yield base
    stop_server(process)


@pytest.fixture
async def served(server: str, postgres: OwnedPostgres, tmp_path: Path) -> AsyncIterator[Served]:
    engine = make_engine(postgres.url())
    await migrate.upgrade(engine)  # already done by serve: a no-op, and this engine knows the schema
    db = Database(engine)
    settings = make_settings(postgres.url(), tmp_path)
    _, _, (market,) = await create_market_setup(db)
    _, token = await trader(db, settings, balance=1_000_000)
    _, newcomer = await trader(db, settings)
    yield Served(server, db, postgres, market.id or 0, token, newcomer)
    await db.dispose()


def _request(route_path: str, method: str) -> tuple[str, str]:
    return method, "/api/v1" + re.sub(r"\{[a-z_]+\}", "1", route_path)


async def _timed(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    started = time.monotonic()
    response = await http.request(method, path, **kwargs)
    assert time.monotonic() - started < BOUND_SECONDS, f"{method} {path} took too long"
    return response


async def _walk_routes(served: Served) -> None:
    """Every route, signed in (as a caller not yet resolved): 503 with Retry-After, or an answer
    decided without the database (a 4xx, or a 200 from a route open to anyone that reads no data,
    such as the OpenAPI document)."""
    async with httpx.AsyncClient(base_url=served.base, timeout=30) as http:
        for spec in REGISTRY:
            method, path = _request(spec.path, spec.method)
            response = await _timed(http, method, path, json={}, headers=bearer(served.newcomer))
            if spec.path == "/health":
                assert response.status_code == 200 and response.json()["status"] == "degraded"
                continue
            if spec.path == "/openapi.json":  # a document built at start-up: it needs no database
                assert response.status_code == 200 and response.json()["openapi"].startswith("3.1")
                continue
            # Never a 500; a 503 may also be a dependency that is not configured here (Google sign-in).
            assert response.status_code < 500 or response.status_code == 503, (method, path, response.text)
            assert response.status_code < 300 or "error" in response.json(), (method, path, response.text)
            if spec.auth not in ("none", "optional"):
                assert unavailable(response), (method, path, response.text)  # the caller's session is in the db


async def _graphql(served: Served, query: str, token: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=served.base, timeout=30) as http:
        headers = bearer(token) if token else {}
        return await _timed(http, "POST", "/graphql", json={"query": query}, headers=headers)


async def _trade(served: Served) -> httpx.Response:
    body = {"market_id": served.market_id, "side": "buy_yes", "amount_type": "spend", "amount": 1000}
    async with httpx.AsyncClient(base_url=served.base, timeout=30) as http:
        return await _timed(http, "POST", "/api/v1/lmsr/trade", json=body, headers=bearer(served.token))


async def _recovers(served: Served) -> httpx.Response:
    """The first trade that succeeds once the database is back (each try bounded by the timeouts,
    all of them by a minute)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = await _trade(served)
        if response.status_code == 200:
            return response
        assert unavailable(response), response.text
    raise AssertionError("the service did not recover")


async def test_stopped_database_answers_503_then_recovers_and_subscriptions_carry_on(served: Served) -> None:
    ws = await subscribe_trades(served.base, served.market_id)
    try:
        first = await _trade(served)
        assert first.status_code == 200, first.text
        before = await next_trade(ws)

        # pg_ctl waits (seconds on a loaded machine): in a thread, the socket's client keeps running.
        await asyncio.to_thread(served.postgres.stop)
        await _walk_routes(served)
        anonymous = (await _graphql(served, "{ latestTrades { amount } }")).json()
        assert anonymous["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE", anonymous
        signed_in = await _graphql(served, "{ me { id } }", served.newcomer)
        assert signed_in.status_code == 503 and signed_in.headers["retry-after"]
        assert signed_in.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"

        with pytest.raises(websockets.InvalidStatus) as refused:  # a legacy feed needs its snapshot
            await websockets.connect(served.base.replace("http", "ws") + "/api/v1/ws/trades")
        assert refused.value.response.status_code == 503

        await asyncio.to_thread(served.postgres.start)
        await _recovers(served)
        after = await next_trade(ws)  # the socket stayed open through the outage
        assert after["seq"] == before["seq"] + 1
    finally:
        await ws.close()
        await asyncio.to_thread(served.postgres.ensure_started)  # the next test needs it, whatever failed here


async def test_frozen_database_answers_503_within_the_timeouts(served: Served) -> None:
    try:
        await asyncio.to_thread(served.postgres.freeze)
        response = await _trade(served)
        assert unavailable(response), response.text
        async with httpx.AsyncClient(base_url=served.base, timeout=30) as http:
            health = await _timed(http, "GET", "/api/v1/health")
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            me = await _timed(http, "GET", "/api/v1/auth/me", headers=bearer(served.token))
            assert unavailable(me), me.text
    finally:
        await asyncio.to_thread(served.postgres.thaw)
    assert (await _recovers(served)).status_code == 200
