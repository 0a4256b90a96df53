"""Loop events with several processes: two real ``predictql serve`` processes on one PostgreSQL
database both run the loop runner every 5 ms on 1-second rounds; each round must open once and
settle once (the event's row lock), back to back, whichever process gets there first.

Skipped on SQLite (embedded mode is one process by design). No Redis needed: the database is the
truth both processes share.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from predictql.db import Database
from predictql.models import Market, Pool
from predictql.services import assets, ledger_check
from tests.assets.test_loops import loop_event
from tests.conftest import BACKEND
from tests.e2e.conftest import start_server, stop_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(BACKEND == "sqlite", reason="several processes need PostgreSQL (SQLite is one process)"),
]

ROUNDS = 8
FAST = {
    "PREDICTQL_LOOP_MINUTE_SECONDS": "1.0",  # 0.3 s rounds missed the deadline on a loaded machine
    "PREDICTQL_LOOP_TICK_SECONDS": "0.005",
    "PREDICTQL_PRICE_STALE_SECONDS": "120",
}


async def _rounds(db: Database, event_id: int) -> list[Pool]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(Pool).where(col(Pool.event_id) == event_id).order_by(col(Pool.live_at), col(Pool.id))
            )
        )


async def test_two_processes_run_each_round_exactly_once(
    settings: Any, db: Database, tmp_path_factory: pytest.TempPathFactory
) -> None:
    event_id = await loop_event(db)
    async with db.transaction() as session:
        await assets.set_price(session, None, symbol="BTCUSDT", price="100", record_seconds=1.0)
    logs = tmp_path_factory.mktemp("loops")
    started = [start_server(settings, Path(logs / f"server-{name}.log"), **FAST) for name in "AB"]
    try:
        deadline = time.monotonic() + 150
        while len([p for p in await _rounds(db, event_id) if p.closed_at is not None]) < ROUNDS:
            assert time.monotonic() < deadline, f"{ROUNDS} rounds did not settle in time"
            await asyncio.sleep(0.1)  # the work happens in the other processes: poll the database
    finally:
        for process, _ in started:
            stop_server(process)
    pools = await _rounds(db, event_id)
    assert len({pool.live_at for pool in pools}) == len(pools), "a round was opened twice"
    for before, after in itertools.pairwise(pools):
        # Back to back, never overlapping (a runner late by a whole interval starts afresh: a gap).
        assert after.live_at >= before.finish_at
    assert sum(pool.closed_at is None for pool in pools) <= 1
    closed = [pool for pool in pools if pool.closed_at is not None]
    assert all(pool.won_side == 1 for pool in closed)  # 100 is not above 100
    async with db.session() as session:
        markets = list(await session.scalars(select(Market).where(col(Market.event_id) == event_id)))
        assert len(markets) == len(pools)
        assert (await ledger_check.check(session)).ok
