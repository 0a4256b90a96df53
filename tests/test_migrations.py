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


async def test_book_levels_are_filled_from_the_open_orders(empty_engine: AsyncEngine) -> None:
    """0017 counts the orders already open (resting, partly filled; not filled or cancelled)."""
    from alembic import command

    from predictql.auth import Actor
    from predictql.db import Database
    from predictql.services import book_check, orderbook_batch
    from predictql.services.orderbook_batch import Cancel, Place
    from predictql.services.orderbook_trading import OrderRequest
    from tests.markets.factories import create_market_setup
    from tests.markets.test_orderbook_services import FEE, create_user

    await migrate.upgrade(empty_engine)
    db = Database(empty_engine)
    _, _, (market,) = await create_market_setup(db, market_type="orderbook")
    m = market.id or 0
    a, b = await create_user(db, balance=100_000), await create_user(db, balance=100_000)

    def buy(user: int, token: str, amount: int, price: int) -> Place:
        return Place(Actor(user_id=user), OrderRequest(m, "buy", token, "limit", amount, price))

    async with db.transaction() as session:
        items = [buy(a, "YES", 4_080, 4_000), buy(a, "YES", 4_080, 4_000), buy(a, "YES", 999, 3_000)]
        items += [buy(b, "NO", 3_060, 6_000), buy(b, "NO", 1_000, 2_000)]  # part of a's first; rests
        outcomes = await orderbook_batch.execute(session, m, items, fee_bps=FEE)
        await orderbook_batch.execute(session, m, [Cancel(Actor(user_id=a), outcomes[2].order.id)], fee_bps=FEE)  # type: ignore[union-attr]

    def down_one(connection: Connection) -> None:
        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")

    async with db.session() as session:
        counted = await book_check.counted(session)
    assert len(counted) == 3 and sum(counted.values()) == 3, counted  # a's two bids (one partly filled), b's NO
    async with empty_engine.begin() as conn:
        await conn.run_sync(down_one)
    await migrate.upgrade(empty_engine)
    async with db.session() as session:
        assert await book_check.kept(session) == counted
