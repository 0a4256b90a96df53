"""Limits hold on WebSockets: handshakes and operations spend the HTTP budgets, sign-in guessing is
bounded the same, a socket's message rate and its concurrent operations are bounded (ws_guard,
schema/ws_operations)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from predictql.app import create_app
from predictql.db import Database
from predictql.gateway import Gateway
from predictql.ratelimit import RateLimiter
from predictql.settings import Settings
from tests.api.test_users import fast_user
from tests.conftest import make_settings
from tests.subscriptions.wsclient import AsgiSocket, Closed, GraphQLSocket
from tests.support import BASE, Lifespan, bearer, create_user, unique_email

TYPENAME = "{ __typename }"
TRADES = "subscription { trades { kind seq } }"
SIGN_IN = """mutation($e: String!, $p: String!) {
  signIn(input: {email: $e, password: $p}) { user { id } userErrors { code } } }"""


@asynccontextmanager
async def limited(settings: Settings, **overrides: Any) -> AsyncIterator[Lifespan]:
    configured = make_settings(settings.resolved_database_url, settings.data_dir, **overrides)
    app = create_app(configured, run_migrations=False)
    assert isinstance(app, Gateway)
    per_minute = overrides.get("rate_limit_per_minute", 1_000_000)
    app.limiter = RateLimiter(per_minute, settings.redis_url, namespace=f"test-{secrets.token_hex(6)}")
    async with Lifespan(app) as running:
        yield running


def http_from(app: Lifespan, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url=BASE)


class From:
    """Mixin: the socket's client address is ``ip``."""

    ip = "127.0.0.1"

    def _scope(self) -> dict[str, Any]:
        scope: dict[str, Any] = super()._scope()  # type: ignore[misc]
        scope["client"] = (self.ip, 50000)
        return scope


class Socket(From, GraphQLSocket):
    def __init__(self, app: Lifespan, ip: str, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.ip = ip


class RawSocket(From, AsgiSocket):
    def __init__(self, app: Lifespan, ip: str, path: str = "/graphql", *subprotocols: str) -> None:
        super().__init__(app, path, subprotocols=subprotocols)
        self.ip = ip


async def test_handshakes_spend_the_ip_budget(settings: Settings, db: Database) -> None:
    async with limited(settings, rate_limit_per_minute=3) as app:
        for _ in range(3):
            async with RawSocket(app, "10.20.0.1", "/api/v1/ws/trades") as ws:
                assert ws.accepted is not None
        async with RawSocket(app, "10.20.0.1", "/graphql", "graphql-transport-ws") as refused:
            with pytest.raises(Closed) as closed:
                await refused.receive_text()
        assert closed.value.code == 4429 and "retry after" in closed.value.reason
        async with http_from(app, "10.20.0.1") as http:  # the same budget as HTTP
            assert (await http.post("/graphql", json={"query": TYPENAME})).status_code == 429
        async with RawSocket(app, "10.20.0.2", "/api/v1/ws/trades") as other:
            assert other.accepted is not None


async def test_operations_over_a_socket_spend_the_http_budget(settings: Settings, db: Database) -> None:
    async with limited(settings, rate_limit_per_minute=5) as app, http_from(app, "10.21.0.1") as http:
        assert (await http.post("/graphql", json={"query": TYPENAME})).status_code == 200  # 1
        async with Socket(app, "10.21.0.1") as ws:  # the handshake: 2
            for _ in range(3):  # 3, 4, 5
                op = await ws.subscribe(TYPENAME)
                assert await ws.next(op) == {"data": {"__typename": "Query"}}
            op = await ws.subscribe(TYPENAME)
            refused = await ws.next(op)
            assert refused["type"] == "error"
            (error,) = refused["payload"]
            assert error["extensions"]["code"] == "RATE_LIMITED" and 1 <= error["extensions"]["retryAfter"] <= 60
            # The socket stays open, and HTTP from that address is refused too.
            await ws.send_json({"type": "ping"})
            assert (await ws.receive_json())["type"] == "pong"
            assert (await http.post("/graphql", json={"query": TYPENAME})).status_code == 429


async def test_operations_over_a_socket_spend_the_user_budget(settings: Settings, db: Database) -> None:
    """The user of the socket's connection_init token shares one budget with their HTTP calls."""
    _, token = await fast_user(db)
    async with limited(settings, rate_limit_per_minute=3) as app, http_from(app, "10.26.0.1") as http:
        for _ in range(2):
            assert (await http.post("/graphql", json={"query": TYPENAME}, headers=bearer(token))).status_code == 200
        async with Socket(app, "10.26.0.2", params={"Authorization": f"Bearer {token}"}) as ws:
            assert await ws.next(await ws.subscribe(TYPENAME)) == {"data": {"__typename": "Query"}}  # user: 3
            refused = await ws.next(await ws.subscribe(TYPENAME))
            assert refused["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
        async with http_from(app, "10.26.0.3") as elsewhere:  # the user's budget is spent, not the address's
            probe = {"query": TYPENAME}
            assert (await elsewhere.post("/graphql", json=probe, headers=bearer(token))).status_code == 429
            assert (await elsewhere.post("/graphql", json=probe)).status_code == 200


async def test_sign_in_guesses_over_a_socket_are_limited(settings: Settings, db: Database) -> None:
    """A socket used to run unlimited signIn guesses; now the account's back-off applies."""
    email = unique_email("wsguess")
    await create_user(db, email=email, password="password123")
    async with limited(settings) as app, Socket(app, "10.22.0.1") as ws:
        codes = []
        for _ in range(7):
            op = await ws.subscribe(SIGN_IN, {"e": email, "p": "wrong-guess"})
            answer = await ws.next(op)  # wrong credentials are userErrors; the back-off is a top-level error
            errors = answer.get("errors") or [{"extensions": e} for e in answer["data"]["signIn"]["userErrors"]]
            codes.append(errors[0]["extensions"]["code"])
        assert codes == ["INVALID_CREDENTIALS"] * 6 + ["RATE_LIMITED"]
        async with http_from(app, "10.22.0.2") as http:
            response = await http.post("/api/v1/auth/sign-in", json={"email": email, "password": "password123"})
            assert response.status_code == 429


async def test_legacy_graphql_ws_operations_spend_the_budget(settings: Settings, db: Database) -> None:
    async with (
        limited(settings, rate_limit_per_minute=3) as app,
        RawSocket(app, "10.23.0.1", "/graphql", "graphql-ws") as ws,  # 1
    ):
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert (await ws.receive_json())["type"] == "connection_ack"
        for n in (1, 2, 3):  # 2, 3 are served; the third start is over budget
            await ws.send_json({"id": str(n), "type": "start", "payload": {"query": TRADES}})
        while True:
            message = await ws.receive_json()
            if message.get("id") == "3":
                break
        assert message["type"] == "error"
        assert message["payload"]["extensions"]["code"] == "RATE_LIMITED"


async def test_concurrent_operations_per_socket_are_bounded(settings: Settings, db: Database) -> None:
    async with limited(settings, ws_max_operations=2) as app, Socket(app, "10.24.0.1") as ws:
        first = await ws.subscribe(TRADES)
        await ws.subscribe(TRADES)  # two live streams: the socket is full
        third = await ws.next(await ws.subscribe(TYPENAME))
        assert third["type"] == "error" and third["payload"][0]["extensions"]["code"] == "TOO_MANY_OPERATIONS"
        await ws.complete(first)  # a finished operation frees its place
        assert await ws.next(await ws.subscribe(TYPENAME)) == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("path,subprotocols", [("/graphql", ("graphql-transport-ws",)), ("/api/v1/ws/trades", ())])
async def test_a_flooding_socket_is_closed(
    settings: Settings, db: Database, path: str, subprotocols: tuple[str, ...]
) -> None:
    async with (
        limited(settings, ws_messages_per_second=1, ws_message_burst=5) as app,
        RawSocket(app, "10.25.0.1", path, *subprotocols) as ws,
    ):
        for _ in range(6):
            await ws.send_json({"type": "ping"})
        with pytest.raises(Closed) as closed:
            while True:
                await ws.receive_text()
        assert closed.value.code == 4429 and closed.value.reason == "too many messages"
