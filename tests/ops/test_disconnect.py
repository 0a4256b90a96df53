"""A client that goes away mid-body is an ordinary event: no "unhandled error", no traceback, and
the access log says 499 (client closed request)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from predictql.db import Database
from predictql.settings import Settings
from tests.api.test_users import fast_user
from tests.support import Lifespan, create_app

PART_HEAD = b'--b\r\nContent-Disposition: form-data; name="avatar"; filename="a.png"\r\n\r\n\x89PNG\r\n'
TARGETS = [
    ("/api/v1/auth/sign-in", b"application/json"),
    ("/api/v1/users/me", b"application/json"),
    ("/graphql", b"application/json"),
    ("/api/v1/users/me/avatar", b"multipart/form-data; boundary=b"),
]


async def _cut_off(app: Lifespan, path: str, content_type: bytes, token: str) -> list[dict[str, Any]]:
    """Send half of a declared body, then the disconnect a server reports when the socket closes."""
    half = PART_HEAD if content_type.startswith(b"multipart") else b'{"email": "a'
    incoming = [{"type": "http.request", "body": half, "more_body": True}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    auth = f"Bearer {token}".encode()
    headers = [(b"content-type", content_type), (b"content-length", b"4096"), (b"authorization", auth)]
    method = "PUT" if path == "/api/v1/users/me" else "POST"
    scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": headers, "client": ("127.0.0.1", 5000), "server": ("testserver", 80), "scheme": "http",
        "http_version": "1.1", "root_path": "",
    }  # fmt: skip
    await app(scope, receive, send)
    return sent


async def test_disconnect_mid_body_is_not_an_error(
    settings: Settings, db: Database, predictql_log: pytest.LogCaptureFixture
) -> None:
    _, token = await fast_user(db)
    async with Lifespan(create_app(settings, run_migrations=False)) as app:
        for path, content_type in TARGETS:
            predictql_log.clear()
            sent = await _cut_off(app, path, content_type, token)
            assert sent == [], path  # nobody is there to read an answer
            assert not [r for r in predictql_log.records if r.levelno >= logging.WARNING], (path, predictql_log.text)
            access = [r for r in predictql_log.records if r.name == "predictql.access" and getattr(r, "status", None)]
            assert [r.status for r in access] == [499], (path, predictql_log.text)  # type: ignore[attr-defined]
