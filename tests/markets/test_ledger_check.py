"""``services.ledger_check.check`` and ``predictql ledger check``: a whole ledger passes (exit 0), a
corrupted one names each violation (exit 1). Corruption is written behind the ledger's back."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.cli import main
from predictql.db import Database
from predictql.models import LedgerAccount, LedgerEntry, LedgerTransaction
from predictql.services import ledger, ledger_check, lmsr_trading, resolution
from predictql.services.lmsr_trading import TradeRequest
from tests.markets.factories import create_market_setup, creator_actor
from tests.markets.test_orderbook_services import FEE, create_user, place
from tests.test_cli import cli_env  # noqa: F401  (the fixture: the CLI reads its settings from the environment)


async def busy_ledger(db: Database) -> int:
    """LMSR trades, order-book fills and a cancellation; a user id."""
    creator, pool, (market,) = await create_market_setup(db, market_type="orderbook")
    _, _, (amm,) = await create_market_setup(db)
    a, b = await create_user(db, balance=30_000, bonus=500), await create_user(db, balance=30_000)
    await place(db, a, market, "buy", "YES", 1000, 3333)
    await place(db, b, market, "buy", "NO", 3000, 6667)
    async with db.transaction() as session:
        await lmsr_trading.trade(
            session, Actor(user_id=a), TradeRequest(amm.id or 0, "buy_yes", "spend", 700, True), fee_bps=FEE
        )
    async with db.transaction() as session:
        await resolution.cancel_event(session, creator_actor(creator), pool.event_id)
    return a


async def corrupt(session: AsyncSession, user: int) -> None:
    """One entry without its twin on a user's cash account, its cached balance left alone."""
    account = await session.scalar(select(LedgerAccount.id).where(LedgerAccount.code == ledger.user_cash(user)))
    txn = await session.execute(insert(LedgerTransaction).values(kind="manual").returning(LedgerTransaction.id))
    await session.execute(
        insert(LedgerEntry).values(transaction_id=txn.scalar_one(), account_id=account, amount=-(10**9))
    )


async def test_a_whole_ledger_passes(db: Database) -> None:
    await busy_ledger(db)
    async with db.session() as session:
        report = await ledger_check.check(session)
    assert report.ok and report.violations == () and report.entries_total == 0, report.lines()
    assert report.transactions > 5 and report.entries >= 2 * report.transactions
    assert report.to_json()["ok"] is True and report.lines()[0].startswith("ledger check: OK")


async def test_a_corrupted_ledger_names_each_violation(db: Database) -> None:
    user = await busy_ledger(db)
    async with db.transaction() as session:
        await corrupt(session, user)
        report = await ledger_check.check(session)
        await session.rollback()
    rules = {(v.rule, v.subject) for v in report.violations}
    cash = ledger.user_cash(user)
    assert {("trial_balance", "ledger"), ("cached_balance", cash), ("below_floor", cash)} <= rules, report.lines()
    assert any(rule == "no_twin" for rule, _ in rules) and not report.ok and report.entries_total == -(10**9)
    async with db.transaction() as session:  # a cached balance moved without an entry
        await session.execute(update(LedgerAccount).where(LedgerAccount.code == cash).values(balance=7))
        report = await ledger_check.check(session)
        await session.rollback()
    assert [(v.rule, v.subject) for v in report.violations] == [("cached_balance", cash)]


@pytest.mark.usefixtures("cli_env")
async def test_cli_exits_1_on_violations(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    user = await busy_ledger(db)
    assert await asyncio.to_thread(main, ["ledger", "check"]) == 0
    assert "ledger check: OK" in capsys.readouterr().out
    async with db.transaction() as session:
        await corrupt(session, user)
    assert await asyncio.to_thread(main, ["ledger", "check"]) == 1
    out = capsys.readouterr().out
    assert "VIOLATION" in out and f"below_floor: {ledger.user_cash(user)}" in out
    assert await asyncio.to_thread(main, ["ledger", "check", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and {v["rule"] for v in report["violations"]} >= {"trial_balance", "no_twin"}
