"""Upgrading an empty database with Alembic yields exactly the models, on the engine under test."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from predictql import migrate
from predictql.db import make_engine
from predictql.models import LedgerAccount, metadata
from predictql.services import ledger
from tests.conftest import BACKEND, PG_ADMIN, _pg_admin


@pytest.fixture
async def empty_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if BACKEND == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
        yield engine
        await engine.dispose()
        return
    name = f"predictql_mig_{os.getpid()}_{secrets.token_hex(3)}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    engine = make_engine(make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_upgrade_matches_models_exactly(empty_engine: AsyncEngine) -> None:
    await migrate.upgrade(empty_engine)
    async with empty_engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], f"migrations and models disagree: {diff}"
    assert await migrate.current_revision(empty_engine) is not None


async def test_upgrade_seeds_system_accounts_and_is_idempotent(empty_engine: AsyncEngine) -> None:
    await migrate.upgrade(empty_engine)
    await migrate.upgrade(empty_engine)  # serve runs it on every start
    async with empty_engine.connect() as conn:
        codes = set((await conn.execute(select(LedgerAccount.code))).scalars())
    assert set(ledger.SYSTEM_ACCOUNTS) <= codes


async def test_downgrade_to_base_and_back(empty_engine: AsyncEngine) -> None:
    from alembic import command

    await migrate.upgrade(empty_engine)

    def down(connection: Connection) -> None:
        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    async with empty_engine.begin() as conn:
        await conn.run_sync(down)
    async with empty_engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
    assert names <= {"alembic_version"}
    await migrate.upgrade(empty_engine)
    async with empty_engine.connect() as conn:
        assert (await conn.execute(text("SELECT COUNT(*) FROM users"))).scalar() == 0


async def test_processes_upgrading_at_once_take_turns(empty_engine: AsyncEngine) -> None:
    """Several ``serve`` processes starting together on an empty database: one migrates, the
    others wait and find the schema current (without the lock, the second CREATE TABLE fails).
    PostgreSQL takes an advisory lock, SQLite an flock beside the database file."""
    import asyncio

    others = [make_engine(empty_engine.url.render_as_string(hide_password=False)) for _ in range(2)]
    try:
        await asyncio.gather(migrate.upgrade(empty_engine), *(migrate.upgrade(engine) for engine in others))
    finally:
        for engine in others:
            await engine.dispose()
    assert await migrate.current_revision(empty_engine) == await _head()


async def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert head is not None
    return head
