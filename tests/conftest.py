"""Test fixtures: a real database per run (SQLite file or a fresh PostgreSQL database), migrated
with Alembic, cleaned between tests; the app served in process over ASGI with its lifespan.

Backends come from the environment, so ``.ci/run`` runs the same suite twice:
- ``PREDICTQL_TEST_DATABASE=postgresql`` (default ``sqlite``) with ``PREDICTQL_TEST_PG_URL``
  (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``, the admin connection used
  to create and drop a throwaway database);
- ``PREDICTQL_TEST_REDIS_URL`` (unset: memory bus and limiter).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from predictql import auth, migrate
from predictql.db import Database, make_engine
from predictql.models import metadata
from predictql.services import ledger
from predictql.settings import Settings
from tests.support import Mailbox, lifespan_client

BACKEND = os.environ.get("PREDICTQL_TEST_DATABASE", "sqlite")
PG_ADMIN = os.environ.get("PREDICTQL_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("PREDICTQL_TEST_REDIS_URL") or None
JWT_SECRET = "test-secret-" + "x" * 40
RUN_PREFIX = f"test{os.getpid()}:"

# Cheap Argon2 for every hash the suite makes, with or without an app (half the suite's time
# went into production-strength hashing); test_password_profile.py checks the production default.
# PREDICTQL_PASSWORD_HASH_PROFILE=standard runs the suite at production cost (to measure it).
PASSWORD_PROFILE = os.environ.setdefault("PREDICTQL_PASSWORD_HASH_PROFILE", "test")  # for Settings() and CLIs
auth.use_password_profile("standard" if PASSWORD_PROFILE == "standard" else "test")


async def _pg_admin(sql: str) -> None:
    engine = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if BACKEND == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    name = f"predictql_test_{os.getpid()}_{secrets.token_hex(3)}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": data_dir,
        "database_url": database_url,
        "broadcast_url": REDIS_URL or "memory://",
        "bus_channel_prefix": RUN_PREFIX,  # test runs sharing one Redis do not hear each other
        "redis_url": REDIS_URL,
        "jwt_secret": JWT_SECRET,
        "rate_limit_per_minute": 1_000_000,
        # Every test signs in from 127.0.0.1: the per-IP failure budget is the subject of its own tests.
        "sign_in_free_failures_per_ip": 1_000_000,
        # Tests write through their own Database too; the app's micro-cache would not see those
        # writes. test_response_cache.py turns it on where it is the subject.
        "graphql_cache_ttl_ms": 0,
        # Likewise a role or ban they write straight into the database would not reach the app's
        # cache of resolved callers (their Database publishes nothing): the tests of that cache turn
        # it on (tests/subscriptions/test_actor_cache.py; the e2e servers run with the default).
        "actor_cache_seconds": 0,
        "log_json": False,
        "log_level": "WARNING",
        "password_hash_profile": PASSWORD_PROFILE,
        "mail_outbox": data_dir / "outbox",  # the Mailbox fixture reads it (no outbox by default)
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    return make_settings(database_url, data_dir)


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    engine = make_engine(settings.resolved_database_url)
    await migrate.upgrade(engine)
    database = Database(engine)
    yield database
    await database.dispose()


async def _clean(db: Database) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    async with db.engine.begin() as conn:
        for name in tables:
            if name == "ledger_accounts":
                codes = ", ".join(f"'{code}'" for code in ledger.SYSTEM_ACCOUNTS)
                await conn.execute(text(f"DELETE FROM ledger_accounts WHERE code NOT IN ({codes})"))
                await conn.execute(text("UPDATE ledger_accounts SET balance = 0"))
            else:
                await conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(autouse=True)
async def clean_db(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    if "db" not in request.fixturenames:
        yield
        return
    database: Database = request.getfixturevalue("db")
    await _clean(database)
    yield


@pytest.fixture
def mailbox(settings: Settings) -> Mailbox:
    assert settings.mail_outbox is not None
    return Mailbox(settings.mail_outbox)


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with lifespan_client(settings) as http:
        yield http


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def repo_root() -> Iterator[Path]:
    yield Path(__file__).resolve().parents[1]
