"""SQLite's outage: another process holds the write lock past the busy timeout. A write answers 503
``SERVICE_UNAVAILABLE`` with ``Retry-After`` over REST (and that code over GraphQL), not a 500, and
works again once the lock is released."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import httpx
import pytest

from predictql.db import Database
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.conftest import BACKEND
from tests.markets.factories import create_market_setup
from tests.support import Kind, bearer, gid, gql, lifespan_client

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the SQLite store's own outage")
TRADE = """mutation($m: ID!) { lmsrTrade(input: {marketId: $m, side: BUY_YES, amountType: SPEND, amount: 1000})
  { trade { id } } }"""


@pytest.fixture
async def impatient(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with lifespan_client(settings.model_copy(update={"database_statement_timeout_seconds": 0.3})) as http:
        yield http


def _lock(settings: Settings) -> sqlite3.Connection:
    """Another process's write transaction (a CLI command, a backup) holding the lock.

    Called in a thread: the app's own background work may be inside a write transaction just then,
    and SQLite's busy wait here must not block the event loop that transaction needs to commit
    (that stalled both for the 5 s busy timeout and failed CI once)."""
    other = sqlite3.connect(
        settings.resolved_database_url.split("///", 1)[1], isolation_level=None, timeout=30, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_a_locked_database_answers_503_then_works_again(
    impatient: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    _, _, (market,) = await create_market_setup(db)
    _, token = await trader(db, settings, balance=100_000)
    body = {"market_id": market.id, "side": "buy_yes", "amount_type": "spend", "amount": 1000}
    other = await asyncio.to_thread(_lock, settings)
    try:
        refused = await impatient.post("/api/v1/lmsr/trade", json=body, headers=bearer(token))
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE" and int(refused.headers["retry-after"]) > 0
        mutation = await gql(impatient, TRADE, {"m": gid(Kind.MARKET, market.id)}, token)
        assert mutation["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE", mutation
    finally:
        other.rollback()
        other.close()
    done = await impatient.post("/api/v1/lmsr/trade", json=body, headers=bearer(token))
    assert done.status_code == 200, done.text
