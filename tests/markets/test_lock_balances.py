"""``ledger.lock_balances``: every account asked for that exists, the tracked ones locked, the
platform and external ones read without a lock (one statement on PostgreSQL, two on SQLite)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from predictql.db import Database
from predictql.services import ledger
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.conftest import BACKEND


async def test_lock_balances_reads_tracked_and_untracked_accounts(db: Database, settings: Settings) -> None:
    user_id, _ = await trader(db, settings, balance=5_000, bonus=300)
    async with db.transaction() as session:
        ids = await ledger.account_ids(session, [ledger.user_cash(user_id), ledger.user_bonus(user_id), ledger.FEES])
        found = await ledger.lock_balances(
            session, [ledger.user_cash(user_id), ledger.FEES, ledger.user_bonus(user_id), "user:0:missing"]
        )
    assert found[ledger.user_cash(user_id)] == (ids[ledger.user_cash(user_id)], 5_000, True, user_id)
    assert found[ledger.user_bonus(user_id)] == (ids[ledger.user_bonus(user_id)], 300, True, user_id)
    assert found[ledger.FEES][0] == ids[ledger.FEES] and found[ledger.FEES][2:] == (False, None)
    assert set(found) == {ledger.user_cash(user_id), ledger.user_bonus(user_id), ledger.FEES}


@pytest.mark.skipif(BACKEND != "postgresql", reason="row locks are PostgreSQL's (SQLite locks the database)")
async def test_lock_balances_locks_the_tracked_rows_only(db: Database, settings: Settings) -> None:
    user_id, _ = await trader(db, settings, balance=5_000)
    nowait = text("SELECT id FROM ledger_accounts WHERE code = :code FOR UPDATE NOWAIT")
    async with db.transaction() as holder:
        await ledger.lock_balances(holder, [ledger.user_cash(user_id), ledger.FEES])
        async with db.session() as other:
            assert (await other.execute(nowait, {"code": ledger.FEES})).first() is not None
            await other.rollback()
            with pytest.raises(Exception, match="could not obtain lock"):
                await other.execute(nowait, {"code": ledger.user_cash(user_id)})
