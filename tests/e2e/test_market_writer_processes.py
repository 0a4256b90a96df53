"""The market writer with real ``predictql serve`` processes on one PostgreSQL database: two
processes batching trades on one market serialize on its row lock, and a process killed (SIGKILL)
in the middle of a load leaves no partial batch and loses no acknowledged trade.

Skipped on SQLite (embedded mode is one process by design).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from predictql.db import Database
from predictql.models import Market, Position, StreamEvent, Trade
from predictql.services import ledger
from predictql.settings import Settings
from predictql.subscriptions.topics import market_trades_channel
from tests.api.test_lmsr_api import live_market, trader
from tests.conftest import BACKEND
from tests.e2e.conftest import start_server, stop_server
from tests.support import bearer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(BACKEND == "sqlite", reason="one process by design on SQLite"),
]
PATIENT = {"PREDICTQL_DATABASE_STATEMENT_TIMEOUT_SECONDS": "120"}
TRADE = "/api/v1/lmsr/trade"


def body(market_id: int, index: int) -> dict[str, object]:
    side = "buy_yes" if index % 2 else "buy_no"
    return {"market_id": market_id, "side": side, "amount_type": "spend", "amount": 500 + index % 7}


async def assert_consistent(db: Database, market_id: int, start: Market) -> None:
    """Trades, positions, the market's q and the ledger agree: no batch was written in part."""
    async with db.session() as session:
        market = await session.get(Market, market_id, populate_existing=True)
        assert market is not None
        traded = dict(
            (
                await session.execute(
                    select(Trade.token, func.sum(Trade.shares))
                    .where(col(Trade.market_id) == market_id)
                    .group_by(col(Trade.token))
                )
            ).all()
        )
        held = dict(
            (
                await session.execute(
                    select(Position.token, func.sum(Position.amount))
                    .where(col(Position.market_id) == market_id, col(Position.status) == "open")
                    .group_by(col(Position.token))
                )
            ).all()
        )
        trades = await session.scalar(select(func.count()).where(col(Trade.market_id) == market_id))
        seqs = list(
            await session.scalars(
                select(StreamEvent.seq)
                .where(col(StreamEvent.channel) == market_trades_channel(market_id))
                .order_by(col(StreamEvent.seq))
            )
        )
        report = await ledger.trial_balance(session)
    assert report.ok, report
    assert (market.q_yes - start.q_yes, market.q_no - start.q_no) == (traded.get("YES", 0), traded.get("NO", 0))
    assert held == traded
    assert seqs == list(range(1, (trades or 0) + 1))  # one tick per committed trade, no gap


@pytest.mark.timeout(900)
async def test_two_processes_batch_one_market_in_turn(
    db: Database, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    logs = tmp_path_factory.mktemp("writers")
    started = [start_server(settings, Path(logs / f"server{i}.log"), **PATIENT) for i in range(2)]
    try:
        market = await live_market(db)
        mid = market.id or 0
        tokens = [(await trader(db, settings, balance=500_000))[1] for _ in range(16)]
        clients = [httpx.AsyncClient(base_url=base, timeout=120) for _, base in started]
        try:
            responses = await asyncio.gather(
                *(clients[i % 2].post(TRADE, json=body(mid, i), headers=bearer(tokens[i % 16])) for i in range(128))
            )
        finally:
            for client in clients:
                await client.aclose()
    finally:
        for process, _ in started:
            stop_server(process)
    assert [r.status_code for r in responses] == [200] * 128, [r.text for r in responses if r.is_error]
    await assert_consistent(db, mid, market)


@pytest.mark.timeout(900)
async def test_a_killed_process_leaves_whole_batches_and_every_acknowledged_trade(
    db: Database, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    logs = tmp_path_factory.mktemp("killed")
    process, base = start_server(settings, Path(logs / "before.log"), **PATIENT)
    market = await live_market(db)
    mid = market.id or 0
    users = [await trader(db, settings, balance=500_000) for _ in range(16)]
    acknowledged: dict[int, int] = {user: 0 for user, _ in users}  # shares per user, answered 200
    enough = asyncio.Event()

    async def load(client: httpx.AsyncClient, user: int, token: str, lane: int) -> None:
        index = lane
        while True:
            try:
                response = await client.post(TRADE, json=body(mid, index), headers=bearer(token))
            except httpx.HTTPError:
                return  # the process is gone
            if response.status_code == 200:
                acknowledged[user] += response.json()["shares_delta"]
                if sum(1 for shares in acknowledged.values() if shares) == len(acknowledged):
                    enough.set()
            index += 2

    try:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            lanes = [asyncio.create_task(load(client, user, token, i)) for i, (user, token) in enumerate(users * 4)]
            await asyncio.wait_for(enough.wait(), timeout=300)  # every trader has had a trade answered
            process.kill()  # SIGKILL: no shutdown, batches in flight die with the connection
            await asyncio.to_thread(process.wait, 30)  # the lanes see the kill meanwhile
            await asyncio.wait_for(asyncio.gather(*lanes), timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    await assert_consistent(db, mid, market)
    async with db.session() as session:
        held = dict(
            (
                await session.execute(
                    select(Position.user_id, func.sum(Position.amount))
                    .where(col(Position.market_id) == mid, col(Position.status) == "open")
                    .group_by(col(Position.user_id))
                )
            ).all()
        )
    for user, shares in acknowledged.items():
        assert held.get(user, 0) >= shares > 0  # every answered trade is there (unanswered may be too)

    restarted, base = start_server(settings, Path(logs / "after.log"), **PATIENT)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            again = await client.post(TRADE, json=body(mid, 1), headers=bearer(users[0][1]))
        assert again.status_code == 200, again.text
    finally:
        stop_server(restarted)
    await assert_consistent(db, mid, market)
