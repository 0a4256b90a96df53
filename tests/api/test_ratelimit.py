"""Rate limits (DECISIONS rule 22): per client IP, plus per user when signed in; shared via Redis."""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from predictql.app import create_app
from predictql.db import Database
from predictql.gateway import Gateway
from predictql.ratelimit import RateLimiter
from predictql.settings import Settings
from tests.api.test_users import fast_user
from tests.conftest import REDIS_URL, make_settings
from tests.support import BASE, Lifespan, bearer

HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
ClientFor = Callable[[str], httpx.AsyncClient]


def budget(response: httpx.Response) -> tuple[int, int, int]:
    for name in HEADERS:
        assert name in response.headers, (response.status_code, response.request.url, response.headers)
    return tuple(int(response.headers[name]) for name in HEADERS)  # type: ignore[return-value]


@asynccontextmanager
async def running(settings: Settings, namespace: str) -> AsyncIterator[ClientFor]:
    """The real app with its lifespan; ``client_for(ip)`` gives an httpx client calling from that IP.

    Counters get a fresh namespace so runs sharing one Redis (or re-runs within a minute on a
    fresh database, where user ids repeat) never see each other's budgets.
    """
    app = create_app(settings, run_migrations=False)
    assert isinstance(app, Gateway)
    app.limiter = RateLimiter(settings.rate_limit_per_minute, settings.redis_url, namespace=namespace)
    async with Lifespan(app) as live, AsyncExitStack() as stack:

        def client_for(ip: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=live, client=(ip, 40000))
            client = httpx.AsyncClient(transport=transport, base_url=BASE)
            stack.push_async_callback(client.aclose)
            return client

        yield client_for


@pytest.fixture
async def limited(database_url: str, data_dir: Path, db: Database) -> AsyncIterator[ClientFor]:
    settings = make_settings(database_url, data_dir, rate_limit_per_minute=5)
    async with running(settings, f"test-{secrets.token_hex(6)}") as client_for:
        yield client_for


# Any counted route works as a probe; /health is counted but never refused (see the last test).
PROBE = {"query": "{ __typename }"}


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    if response.request.url.path == "/graphql":  # GraphQL-shaped there, the envelope elsewhere
        assert response.json() == {"errors": [{"message": "too many requests", "extensions": {"code": "RATE_LIMITED"}}]}
    else:
        assert response.json() == {"error": {"code": "RATE_LIMITED", "message": "too many requests"}}
    limit, remaining, reset = budget(response)
    assert (limit, remaining) == (5, 0)
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert abs(reset - math.ceil(time.time() + retry_after)) <= 2


async def test_every_response_carries_the_headers(client: httpx.AsyncClient) -> None:
    responses = [
        await client.get("/api/v1/health"),
        await client.get("/api/v1/nope"),
        await client.delete("/api/v1/health"),
        await client.get("/api/v1/users/me/transactions"),
        await client.post("/api/v1/auth/sign-in", json=[]),
        await client.post("/graphql", json={"query": "{ __typename }"}),
        await client.post("/graphql", json={"query": "{ nope }"}),
        await client.post("/api/v1/auth/sign-in", content=b" " * (1024 * 1024 + 1)),
    ]
    assert [r.status_code for r in responses] == [200, 404, 405, 401, 400, 200, 200, 413]
    now = time.time()
    for response in responses:
        limit, remaining, reset = budget(response)
        assert limit == 1_000_000 and 0 <= remaining < limit
        assert now - 1 <= reset <= now + 61, (reset, now)
    assert budget(responses[-1])[1] < budget(responses[0])[1]


async def test_sixth_request_from_one_ip_is_refused(limited: ClientFor) -> None:
    http = limited("10.1.0.1")
    remaining = [budget(await http.post("/graphql", json=PROBE))[1] for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    refused = await http.post("/graphql", json=PROBE)
    assert_limited(refused)
    assert_limited(await http.post("/graphql", json={"query": "{ __typename }"}))
    # Another client IP has its own budget.
    other = await limited("10.1.0.2").post("/graphql", json=PROBE)
    assert other.status_code == 200 and budget(other)[1] == 4


async def test_user_budgets_and_ip_budgets_both_bind(limited: ClientFor, db: Database) -> None:
    _, alice = await fast_user(db)
    _, bob = await fast_user(db)
    shared_ip = limited("10.2.0.1")

    # One IP, two users: the IP budget (5) binds though neither user spent theirs.
    for _ in range(3):
        ok = await shared_ip.get("/api/v1/users/me/transactions", headers=bearer(alice))
        assert ok.status_code == 200, ok.text
    for _ in range(2):
        assert (await shared_ip.get("/api/v1/users/me/transactions", headers=bearer(bob))).status_code == 200
    assert_limited(await shared_ip.get("/api/v1/users/me/transactions", headers=bearer(bob)))

    # One user, two IPs: alice has 2 requests left wherever she calls from.
    elsewhere = limited("10.2.0.2")
    for expected in (1, 0):
        response = await elsewhere.get("/api/v1/users/me/transactions", headers=bearer(alice))
        assert response.status_code == 200 and budget(response)[1] == expected
    assert_limited(await elsewhere.get("/api/v1/users/me/transactions", headers=bearer(alice)))
    # ...while that IP still serves others, and bob still has user budget left there.
    assert (await elsewhere.post("/graphql", json=PROBE)).status_code == 200
    assert (await elsewhere.get("/api/v1/users/me/transactions", headers=bearer(bob))).status_code == 200


async def test_a_forged_token_does_not_get_a_user_budget(limited: ClientFor) -> None:
    """Only a valid signature earns a per-user key: a made-up token is just its IP."""
    http = limited("10.3.0.1")
    for n in range(5):
        response = await http.post("/graphql", json=PROBE, headers=bearer(f"forged-{n}"))
        assert response.status_code == 200
    assert_limited(await http.post("/graphql", json=PROBE, headers=bearer("forged-6")))


@pytest.mark.skipif(REDIS_URL is None, reason="PREDICTQL_TEST_REDIS_URL not set")
async def test_two_app_instances_share_one_budget(database_url: str, data_dir: Path, db: Database) -> None:
    settings = make_settings(database_url, data_dir, rate_limit_per_minute=5)
    namespace = f"test-{secrets.token_hex(6)}"
    async with running(settings, namespace) as first, running(settings, namespace) as second:
        one, two = first("10.4.0.1"), second("10.4.0.1")
        assert budget(await one.post("/graphql", json=PROBE))[1] == 4
        assert budget(await two.post("/graphql", json=PROBE))[1] == 3
        for client in (one, two, one):
            assert (await client.post("/graphql", json=PROBE)).status_code == 200
        assert_limited(await two.post("/graphql", json=PROBE))
        assert_limited(await one.post("/graphql", json=PROBE))


async def test_limiter_unit(db: Database) -> None:
    """The tightest of several keys decides, and reset() clears the counters."""
    limiter = RateLimiter(2, REDIS_URL, namespace=f"test-{secrets.token_hex(6)}")
    first = await limiter.hit("ip:a", "user:1")
    assert first.allowed and first.remaining == 1
    assert (await limiter.hit("ip:b", "user:1")).remaining == 0
    third = await limiter.hit("ip:c", "user:1")
    assert not third.allowed and third.remaining == 0 and third.retry_after >= 1
    fresh = await limiter.hit("ip:d")
    assert fresh.allowed and fresh.remaining == 1
    if REDIS_URL is None:  # resetting a shared Redis would wipe other runs' counters
        await limiter.reset()
        assert (await limiter.hit("ip:c", "user:1")).allowed


async def test_a_storage_outage_lets_requests_through(database_url: str, data_dir: Path, db: Database) -> None:
    """Counters in a Redis that is down: requests are served (not 500, not 429) and it is logged once."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("predictql.ratelimit")
    logger.addHandler(handler)
    dead = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings = make_settings(database_url, data_dir, rate_limit_per_minute=5, redis_url=dead)
    try:
        async with running(settings, "outage") as client_for:
            http = client_for("10.5.0.1")
            for _ in range(7):
                response = await http.post("/graphql", json=PROBE)
                assert response.status_code == 200, response.text
                assert budget(response)[0] == 5
    finally:
        logger.removeHandler(handler)
    assert len([r for r in records if r.levelno == logging.WARNING]) == 1, records


async def test_health_is_counted_but_never_refused(limited: ClientFor) -> None:
    http = limited("10.5.0.1")
    for _ in range(5):
        await http.post("/graphql", json=PROBE)
    assert_limited(await http.post("/graphql", json=PROBE))
    health = await http.get("/api/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert budget(health)[1] == 0
