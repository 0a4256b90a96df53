"""A real ``predictql serve`` killed with SIGKILL in the middle of a burst of keyed trades: after a
restart every key either replays its committed response or executes now, exactly once; none is
stuck answering ``IDEMPOTENCY_KEY_IN_PROGRESS`` and the ledger check passes."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from predictql.db import Database
from predictql.models import Trade
from predictql.services import ledger, ledger_check
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.e2e.conftest import start_server, stop_server
from tests.markets.factories import create_market_setup
from tests.support import bearer

pytestmark = pytest.mark.e2e
TRADES = 32
BALANCE = 100_000
KEY = "crash-burst"  # keys are per user: one key each


async def _burst(base: str, requests: list[tuple[str, dict[str, object]]], first_done: asyncio.Event) -> int:
    async def one(http: httpx.AsyncClient, token: str, body: dict[str, object]) -> None:
        try:
            await http.post("/api/v1/lmsr/trade", json=body, headers={**bearer(token), "Idempotency-Key": KEY})
        except httpx.HTTPError:
            return  # the server died under this request
        first_done.set()

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        results = await asyncio.gather(*(one(http, token, body) for token, body in requests))
    return len(results)


async def _spent(db: Database, user_id: int) -> int:
    async with db.session() as session:
        return BALANCE - (await ledger.balances(session, user_id)).cash


async def test_kill_9_mid_burst_then_every_key_replays_or_runs_once(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    _, _, (market,) = await create_market_setup(db)
    users = [await trader(db, settings, balance=BALANCE) for _ in range(TRADES)]
    requests = [
        (token, {"market_id": market.id, "side": "buy_yes", "amount_type": "spend", "amount": 1000 + i})
        for i, (_, token) in enumerate(users)
    ]
    process, base = start_server(settings, tmp_path / "first.log")
    first_done = asyncio.Event()
    burst = asyncio.create_task(_burst(base, requests, first_done))
    await first_done.wait()  # some trades committed and answered, others are in flight: kill now
    process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(process.wait, 10)  # the burst's requests see the kill meanwhile
    await burst

    process, base = start_server(settings, tmp_path / "second.log")
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            retries = [
                await http.post("/api/v1/lmsr/trade", json=body, headers={**bearer(token), "Idempotency-Key": KEY})
                for token, body in requests
            ]
    finally:
        stop_server(process)

    assert [r.status_code for r in retries] == [200] * TRADES, [r.text for r in retries if r.status_code != 200]
    assert any(r.headers.get("idempotent-replayed") == "true" for r in retries)
    for (user_id, _), response in zip(users, retries, strict=True):
        async with db.session() as session:
            trades = await session.scalar(select(func.count()).where(col(Trade.user_id) == user_id))
        assert trades == 1  # executed exactly once, before or after the crash
        assert await _spent(db, user_id) == response.json()["cost_or_payout_cents"]
    async with db.session() as session:
        report = await ledger_check.check(session)  # what `predictql ledger check` runs
    assert report.ok, report.lines()
