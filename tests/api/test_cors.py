"""CORS for browsers, and the WebSocket origin allow-list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from predictql.db import Database
from tests.conftest import make_settings
from tests.support import lifespan_client

ALLOWED = "https://app.example.com"


@pytest.fixture
async def cors_client(database_url: str, data_dir: Path, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, data_dir, cors_origins=[ALLOWED])
    async with lifespan_client(settings) as http:
        yield http


async def test_preflight_from_an_allowed_origin(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.options(
        "/api/v1/lmsr/trade",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization,idempotency-key",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "idempotency-key" in response.headers["access-control-allow-headers"].lower()


async def test_simple_request_exposes_our_headers(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.get("/api/v1/health", headers={"Origin": ALLOWED})
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed and "x-ratelimit-remaining" in exposed


async def test_other_origins_get_no_cors_grant(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = await cors_client.options(
        "/api/v1/auth/sign-in", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 400


async def test_no_cors_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in response.headers
