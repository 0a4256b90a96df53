"""``GET /api/v1/ready`` under a real ``predictql serve`` on the test's own PostgreSQL cluster and
Redis server (``owned``): 200 with every check ``ok``; 503 ``SERVICE_UNAVAILABLE`` with the envelope
and ``Retry-After`` while Redis is down, and while PostgreSQL is down; 200 again once each is back,
without a restart. ``/api/v1/health`` keeps its documented shape throughout. A schema behind the
migration head is not ready either (in process, SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from predictql import migrate, readiness
from predictql.db import make_engine
from tests.conftest import make_settings
from tests.e2e.conftest import start_server, stop_server
from tests.outages.owned import OwnedPostgres, OwnedRedis, unavailable
from tests.support import lifespan_client

TIMEOUTS = {"PREDICTQL_DATABASE_CONNECT_TIMEOUT_SECONDS": "1", "PREDICTQL_DATABASE_STATEMENT_TIMEOUT_SECONDS": "1"}


@pytest.fixture(scope="module")
def owned() -> Iterator[tuple[OwnedPostgres, OwnedRedis]]:
    postgres, redis = OwnedPostgres(), OwnedRedis()
    postgres.start()
    redis.start()
    yield postgres, redis
    redis.stop()
    postgres.remove()


def _ready(base: str) -> httpx.Response:
    return httpx.get(f"{base}/api/v1/ready", timeout=30)


def _health_shape(base: str) -> str:
    body = httpx.get(f"{base}/api/v1/health", timeout=30).json()
    assert set(body) == {"status", "timestamp", "uptime_seconds"}, body
    return str(body["status"])


def _until_ready(base: str) -> httpx.Response:
    for _ in range(100):  # each try is bounded by the ready timeout
        response = _ready(base)
        if response.status_code == 200:
            return response
        assert unavailable(response), response.text
    raise AssertionError("never ready again")


@pytest.mark.e2e
def test_ready_answers_503_while_the_database_or_redis_is_down(
    owned: tuple[OwnedPostgres, OwnedRedis], tmp_path: Path
) -> None:
    postgres, redis = owned
    settings = make_settings(postgres.url(), tmp_path, broadcast_url=redis.url, redis_url=redis.url)
    process, base = start_server(
        settings, tmp_path / "server.log", startup_timeout=120, PREDICTQL_READY_TIMEOUT_SECONDS="1", **TIMEOUTS
    )
    try:
        first = _ready(base)
        assert first.status_code == 200, first.text
        checks = first.json()["checks"]
        assert first.json()["status"] == "ready" and set(checks.values()) == {"ok"}, checks
        assert {"database", "process", f"redis 127.0.0.1:{redis.port}/0"} == set(checks)

        redis.stop()
        down = _ready(base)
        assert unavailable(down), down.text
        assert "redis" in down.json()["error"]["message"] and "database" not in down.json()["error"]["message"]
        assert _health_shape(base) == "ok"
        redis.start()
        _until_ready(base)

        postgres.stop()
        down = _ready(base)
        assert unavailable(down), down.text
        assert "database" in down.json()["error"]["message"], down.text
        assert _health_shape(base) == "degraded"
        postgres.start()
        _until_ready(base)
    finally:
        stop_server(process)


async def test_a_schema_behind_the_migration_head_is_not_ready(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(readiness.migration_head())
    assert head is not None and isinstance(head.down_revision, str)
    engine = make_engine(url)
    await migrate.upgrade(engine, head.down_revision)
    await engine.dispose()
    settings = make_settings(url, tmp_path, broadcast_url="memory://", redis_url=None)
    async with lifespan_client(settings) as http:
        response = await http.get("/api/v1/ready")
    assert unavailable(response), response.text
    assert f"code expects {head.revision}" in response.json()["error"]["message"]
