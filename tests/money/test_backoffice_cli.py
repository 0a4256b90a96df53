"""``predictql backoffice``: list, complete, reject and approve as a named operator, audited."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.cli import main
from predictql.db import Database
from predictql.models import AuditEntry, User
from predictql.services import card_orders, withdrawals
from predictql.settings import Settings
from tests.api.test_users import fast_user
from tests.money.helpers import CARD, EVM, assert_ledger_clean, cash
from tests.test_cli import cli_env  # noqa: F401  (fixture)


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]], str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line], err


async def test_backoffice_commands(
    cli_env: None,  # noqa: F811
    db: Database,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user_id, _ = await fast_user(db, balance=200000)
    operator_id, _ = await fast_user(db, is_operator=True)
    async with db.session() as session:
        operator = await session.get(User, operator_id)
        plain = await session.get(User, user_id)
    assert operator is not None and plain is not None
    actor = Actor(user_id=user_id)
    async with db.transaction() as session:
        deposit = await card_orders.create(session, actor, settings, type="deposit", amount=30000)
        payout = await card_orders.create(
            session, actor, settings, type="withdraw", amount=20000, details={"card_number": CARD}
        )
        out = await withdrawals.request(session, actor, settings, token="USDT", network="bsc", amount=1000, address=EVM)
    me = ("--as", operator.email)

    code, listed, _ = await cli(capsys, "backoffice", "card-orders", *me)
    assert code == 0 and [row["id"] for row in listed] == [f"card_{payout.id}", f"card_{deposit.id}"]
    code, listed, _ = await cli(capsys, "backoffice", "withdrawals", *me, "--network", "bsc")
    assert code == 0 and [row["id"] for row in listed] == [f"wdr_{out.id}"]

    code, said, _ = await cli(capsys, "backoffice", "answer", f"card_{deposit.id}", *me, "--message", "seen it")
    assert code == 0 and said[0]["order_id"] == f"card_{deposit.id}" and said[0]["message"] == "seen it"
    code, _, err = await cli(
        capsys, "backoffice", "answer", f"card_{deposit.id}", "--as", plain.email, "--message", "x"
    )
    assert code == 2 and "not an operator or admin account" in err  # the one --as lookup (cli_backoffice.operator)
    code, done, _ = await cli(capsys, "backoffice", "complete", str(deposit.id), *me)
    assert code == 0 and done[0]["status"] == "completed"
    code, done, _ = await cli(capsys, "backoffice", "reject", f"card_{payout.id}", *me, "--note", "card blocked")
    assert code == 0 and done[0]["status"] == "rejected"
    code, done, _ = await cli(capsys, "backoffice", "approve", f"wdr_{out.id}", "--tx", "0x" + "ef" * 32, *me)
    assert code == 0 and done[0]["tx_hash"] == "0x" + "ef" * 32
    code, _, err = await cli(capsys, "backoffice", "approve", f"wdr_{out.id}", "--tx", "0x" + "ef" * 32, *me)
    assert code == 2 and "withdrawal is completed" in err
    code, _, err = await cli(capsys, "backoffice", "reject", str(out.id), *me)
    assert code == 2 and "not an id" in err
    code, _, err = await cli(capsys, "backoffice", "card-orders", "--as", plain.email)
    assert code == 2 and "not an operator" in err

    assert await cash(db, user_id) == 200000 + 30000 - 1000
    async with db.session() as session:
        actions = list(
            await session.scalars(
                select(AuditEntry.action).where(col(AuditEntry.actor_id) == operator_id).order_by(col(AuditEntry.id))
            )
        )
    assert actions == ["card_order.message", "card_order.complete", "card_order.reject", "withdrawal.approve"]
    await assert_ledger_clean(db)
