"""The client address: X-Forwarded-For only from configured proxies, rightmost untrusted hop."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from predictql.app import create_app
from predictql.clientip import ClientAddress, parse_networks
from predictql.db import Database
from predictql.gateway import Gateway
from predictql.ratelimit import RateLimiter
from predictql.settings import Settings
from tests.conftest import JWT_SECRET, make_settings
from tests.support import BASE, Lifespan, create_user, unique_email

PROBE = {"query": "{ __typename }"}
Client = Callable[[str], httpx.AsyncClient]


def resolve(trusted: str, peer: str, *headers: tuple[bytes, bytes], kind: str = "http") -> tuple[str, str | None]:
    scope = {"type": kind, "client": (peer, 1234), "headers": list(headers)}
    return ClientAddress(parse_networks(trusted.split(","))).resolve(scope)


def xff(value: str) -> tuple[bytes, bytes]:
    return (b"x-forwarded-for", value.encode())


def test_the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() -> None:
    assert resolve("", "127.0.0.1", xff("203.0.113.7")) == ("127.0.0.1", None)  # the default: none
    assert resolve("10.0.0.0/8", "198.51.100.2", xff("203.0.113.7")) == ("198.51.100.2", None)


def test_the_rightmost_untrusted_hop_is_the_client() -> None:
    # nginx appends the address it saw; whatever the client wrote before that is ignored.
    assert resolve("10.0.0.0/8", "10.0.0.5", xff("1.1.1.1, 203.0.113.7")) == ("203.0.113.7", None)
    # Two layers of trusted proxies are skipped.
    assert resolve("10.0.0.0/8", "10.0.0.5", xff("9.9.9.9, 203.0.113.7, 10.1.2.3")) == ("203.0.113.7", None)
    # Several headers are one list; ports and IPv6 brackets are stripped.
    got = resolve("10.0.0.0/8,::1", "::1", xff("6.6.6.6"), xff("[2001:db8::1]:443"))
    assert got == ("2001:db8::1", None)
    assert resolve("10.0.0.0/8", "10.0.0.5", xff("203.0.113.7:5555")) == ("203.0.113.7", None)
    # Only trusted hops: the leftmost is as far as anyone vouches.
    assert resolve("10.0.0.0/8", "10.0.0.5", xff("10.0.0.9, 10.0.0.8")) == ("10.0.0.9", None)
    # Garbage in the header is never trusted: it ends the walk as the (unusable) client.
    assert resolve("10.0.0.0/8", "10.0.0.5", xff("203.0.113.7, not-an-ip"))[0] == "not-an-ip"


def test_forwarded_proto_from_a_trusted_proxy_sets_the_scheme() -> None:
    proto = (b"x-forwarded-proto", b"https")
    assert resolve("10.0.0.0/8", "10.0.0.5", xff("203.0.113.7"), proto) == ("203.0.113.7", "https")
    assert resolve("10.0.0.0/8", "198.51.100.2", proto) == ("198.51.100.2", None)
    assert resolve("10.0.0.0/8", "10.0.0.5", (b"x-forwarded-proto", b"gopher"))[1] is None


def test_a_bad_proxy_address_fails_at_start_up() -> None:
    with pytest.raises(ValidationError):
        Settings(jwt_secret=JWT_SECRET, environment="test", trusted_proxies="10.0.0.0/8,not-a-network")
    assert Settings(jwt_secret=JWT_SECRET, environment="test", trusted_proxies="10.0.0.0/8, ::1").trusted_proxies == [
        "10.0.0.0/8",
        "::1",
    ]


@asynccontextmanager
async def app_behind(database_url: str, data_dir: Path, **overrides: Any) -> AsyncIterator[Client]:
    settings = make_settings(database_url, data_dir, rate_limit_per_minute=5, **overrides)
    app = create_app(settings, run_migrations=False)
    assert isinstance(app, Gateway)
    app.limiter = RateLimiter(5, settings.redis_url, namespace=f"test-{secrets.token_hex(6)}")
    async with Lifespan(app) as live, AsyncExitStack() as stack:

        def client_for(peer: str) -> httpx.AsyncClient:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=live, client=(peer, 40000)), base_url=BASE)
            stack.push_async_callback(client.aclose)
            return client

        yield client_for


async def test_forged_addresses_share_one_budget(database_url: str, data_dir: Path, db: Database) -> None:
    """80 forged X-Forwarded-For values used to buy 80 budgets; now they are one client."""
    async with app_behind(database_url, data_dir) as client_for:
        http = client_for("127.0.0.1")
        statuses = [
            (await http.post("/graphql", json=PROBE, headers={"X-Forwarded-For": f"198.18.0.{n}"})).status_code
            for n in range(8)
        ]
        assert statuses == [200] * 5 + [429] * 3


async def test_behind_a_trusted_proxy_each_client_has_its_budget(
    database_url: str, data_dir: Path, db: Database
) -> None:
    async with app_behind(database_url, data_dir, trusted_proxies=["127.0.0.1"]) as client_for:
        proxy = client_for("127.0.0.1")

        async def via_proxy(chain: str) -> int:
            return (await proxy.post("/graphql", json=PROBE, headers={"X-Forwarded-For": chain})).status_code

        # The client forges a different left part each time; the proxy's appended hop decides.
        assert [await via_proxy(f"198.18.0.{n}, 203.0.113.1") for n in range(6)] == [200] * 5 + [429]
        assert await via_proxy("203.0.113.2") == 200  # another client behind the same proxy
        # Someone reaching the server directly cannot claim to be a proxy.
        direct = client_for("198.51.100.9")
        chain = {"X-Forwarded-For": "203.0.113.3"}
        assert [(await direct.post("/graphql", json=PROBE, headers=chain)).status_code for _ in range(6)][-1] == 429
        assert await via_proxy("203.0.113.3") == 200


async def test_cookies_are_secure_when_a_trusted_proxy_says_https(
    database_url: str, data_dir: Path, db: Database
) -> None:
    email = unique_email("proto")
    await create_user(db, email=email, password="password123")
    body = {"email": email, "password": "password123"}
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.4"}
    async with app_behind(database_url, data_dir, trusted_proxies=["127.0.0.1"]) as client_for:
        response = await client_for("127.0.0.1").post("/api/v1/auth/sign-in", json=body, headers=https)
        assert response.status_code == 200 and "secure" in response.headers["set-cookie"].lower()
        response = await client_for("198.51.100.9").post("/api/v1/auth/sign-in", json=body, headers=https)
        assert response.status_code == 200 and "secure" not in response.headers["set-cookie"].lower()
