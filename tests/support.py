"""Plain helpers for tests: an in-process client that runs the app's lifespan, the mail outbox,
and factory functions that go through the real services."""

from __future__ import annotations

import asyncio
import email
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from predictql.app import create_app
from predictql.db import Database
from predictql.schema.ids import Kind, encode, parse
from predictql.services import accounts, users
from predictql.settings import Settings

BASE = "http://testserver"
CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "api" / "routes.yaml"


def routes_yaml() -> Path:
    """The REST contract, ``../shared/api/routes.yaml`` beside the checkout. A missing one fails the
    test that reads it: a skip would let CI pass without checking it, and a module that read it at
    import stopped the whole collection with a bare FileNotFoundError."""
    assert CONTRACT.exists(), f"{CONTRACT} is missing: the REST contract lives in ../shared beside the repository"
    return CONTRACT


class Lifespan:
    """Runs an ASGI app's lifespan like a server does, and hands the state to every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._task = asyncio.create_task(self.app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._from_app.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {message}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._from_app.get()
        assert self._task is not None
        await self._task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = dict(self.state)
        await self.app(scope, receive, send)


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll a condition that no event announces (yielding to the loop between looks), failing loudly."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


@asynccontextmanager
async def lifespan_client(
    settings: Settings, *, until: Callable[[dict[str, Any]], bool] | None = None, **kwargs: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind an in-process client; ``until(state)`` is awaited before the first request."""
    app = create_app(settings, run_migrations=False)
    async with Lifespan(app) as running:
        if until is not None:
            await wait_until(lambda: until(running.state))
        transport = httpx.ASGITransport(app=running, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE, **kwargs) as http:
            yield http


class Mailbox:
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    def messages(self, to: str) -> list[email.message.Message]:
        if not self.outbox.exists():
            return []
        found = []
        for path in sorted(self.outbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes())
            if message["To"] == to:
                found.append(message)
        return found

    async def wait_for(self, to: str, count: int = 1, within: float = 5.0) -> None:
        """Until ``count`` messages to ``to`` are in the outbox (mail sent after the answer)."""
        deadline = time.monotonic() + within
        while len(self.messages(to)) < count:
            assert time.monotonic() < deadline, f"no mail #{count} to {to} within {within} s"
            await asyncio.sleep(0.01)

    def last_body(self, to: str) -> str:
        messages = self.messages(to)
        assert messages, f"no mail to {to}"
        payload = messages[-1].get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode()

    def code(self, to: str) -> str:
        match = re.search(r"\b(\d{6})\b", self.last_body(to))
        assert match, "no code in the mail"
        return match.group(1)

    def reset_token(self, to: str) -> str:
        match = re.search(r"Token: (\S+)", self.last_body(to))
        assert match, "no token in the mail"
        return match.group(1)


_counter = 0


def unique_email(prefix: str = "user") -> str:
    global _counter
    _counter += 1
    return f"{prefix}{_counter}@example.com"


async def create_user(
    db: Database, *, email: str | None = None, password: str = "password123", balance: int = 0, **roles: bool
) -> int:
    """A verified user (through the real service), optionally funded through the ledger."""
    async with db.transaction() as session:
        user = await accounts.create_user(
            session, email=email or unique_email(), password=password, verified=True, **roles
        )
        assert user.id is not None
        if balance:
            await users.deposit(session, user_id=user.id, amount=balance)
        return user.id


async def sign_in(http: httpx.AsyncClient, email: str, password: str = "password123") -> str:
    response = await http.post("/api/v1/auth/sign-in", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.cookies["access_token"])


async def user_with_token(http: httpx.AsyncClient, db: Database, **kwargs: Any) -> tuple[int, str]:
    email = kwargs.pop("email", None) or unique_email()
    user_id = await create_user(db, email=email, **kwargs)
    token = await sign_in(http, email)
    http.cookies.clear()
    return user_id, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def gql(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=bearer(token) if token else {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


USER_ERRORS = "userErrors { field message code }"


def ok_payload(body: dict[str, Any]) -> Any:
    """The one mutation's payload, asserting it succeeded: no top-level errors, no userErrors."""
    assert "errors" not in body, body["errors"]
    (payload,) = body["data"].values()
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


def failure_code(body: dict[str, Any]) -> str:
    """Why a mutation failed: the top-level error's code, else its first userError's (then its
    other fields are null)."""
    if body.get("errors"):
        return str(body["errors"][0]["extensions"]["code"])
    (payload,) = body["data"].values()
    assert payload["userErrors"], payload
    assert all(value is None for key, value in payload.items() if key != "userErrors"), payload
    return str(payload["userErrors"][0]["code"])


def gid(kind: Kind, row_id: int) -> str:
    """The GraphQL global id of a row (``gid(Kind.USER, 3) == "usr_3"``); REST keeps the integer."""
    return encode(kind, row_id)


def row_id(value: str) -> int:
    """The row id inside a GraphQL global id (``"mkt_5"`` -> 5)."""
    return parse(value)[1]
