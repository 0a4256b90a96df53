"""``predictql backoffice p2p-disputes``: list the open disputes and resolve one (audited), through
the real CLI against the test database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlmodel import select

from predictql import migrate
from predictql.auth import Actor
from predictql.cli import main
from predictql.db import Database, make_engine
from predictql.models import AuditEntry
from predictql.services import accounts, ledger, p2p_ads, p2p_flow, p2p_orders, users
from predictql.services.p2p_ads import AdFields
from predictql.settings import Settings
from tests.support import unique_email


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> None:
    monkeypatch.setenv("PREDICTQL_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("PREDICTQL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PREDICTQL_JWT_SECRET", "cli-secret-" + "x" * 40)
    monkeypatch.setenv("PREDICTQL_LOG_LEVEL", "WARNING")


async def _dispute(url: str, operator_email: str) -> tuple[int, int, int]:
    """A seller, a buyer and an order of theirs in dispute; an operator with ``operator_email``."""
    engine = make_engine(url)
    await migrate.upgrade(engine)
    db = Database(engine)
    try:
        async with db.transaction() as session:
            ids = []
            for roles in ({}, {}, {"is_operator": True}):
                email = operator_email if roles else unique_email("p2pcli")
                user = await accounts.create_user(session, email=email, password=None, verified=True, **roles)
                ids.append(user.id or 0)
            seller, buyer, _ = ids
            await users.deposit(session, user_id=seller, amount=10_000)
            ad = await p2p_ads.create_ad(
                session,
                Actor(user_id=seller),
                AdFields(
                    type="sell",
                    fiat_currency="RUB",
                    min_amount=100,
                    max_amount=10_000,
                    payment_methods=["sber"],
                    payment_details={"sber": "card"},
                ),
            )
            order = await p2p_orders.create_order(
                session, Actor(user_id=buyer), p2p_orders.OrderRequest(ad.id or 0, 4_000, "sber")
            )
            await p2p_flow.call_operator(session, Actor(user_id=buyer), order_id=order.id or 0)
        return seller, buyer, order.id or 0
    finally:
        await db.dispose()


async def _after(url: str, buyer: int) -> tuple[int, list[tuple[str, str | None]]]:
    db = Database(make_engine(url))
    try:
        async with db.session() as session:
            cash = (await ledger.balances(session, buyer)).cash
            entries = [(e.action, e.note) for e in await session.scalars(select(AuditEntry))]
        return cash, entries
    finally:
        await db.dispose()


def test_list_and_resolve(cli_env: None, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    operator = unique_email("op")
    _, buyer, order_id = asyncio.run(_dispute(settings.resolved_database_url, operator))
    assert main(["backoffice", "p2p-disputes", "--as", operator]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert order_id in [row["id"] for row in listed] and all(row["status"] == "dispute" for row in listed)

    stranger = unique_email("nobody")
    assert main(["backoffice", "p2p-disputes", "resolve", str(order_id), "--to", "buyer", "--as", stranger]) == 2
    capsys.readouterr()
    argv = [
        "backoffice",
        "p2p-disputes",
        "resolve",
        str(order_id),
        "--to",
        "buyer",
        "--as",
        operator,
        "--note",
        "receipt checked",
    ]
    assert main(argv) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert (resolved["status"], resolved["resolution"], resolved["frozen_balance"]) == ("completed", "buyer", 0)
    assert main(argv) == 2  # once only
    assert "not in dispute" in capsys.readouterr().err
    assert main(["backoffice", "p2p-disputes", "list", "--as", operator]) == 0
    assert order_id not in [row["id"] for row in json.loads(capsys.readouterr().out)]
    assert main(["backoffice", "p2p-disputes", "list", "--all", "--as", operator]) == 0
    assert order_id in [row["id"] for row in json.loads(capsys.readouterr().out)]
    cash, entries = asyncio.run(_after(settings.resolved_database_url, buyer))
    assert cash == 4_000 and ("p2p_dispute.resolve", "receipt checked") in entries


async def _chat_and_ad(url: str, order_id: int) -> tuple[list[tuple[str, str]], int, str, list[str]]:
    from predictql.models import P2PAd, P2PMessage, P2POrder

    db = Database(make_engine(url))
    try:
        async with db.session() as session:
            order = await session.get(P2POrder, order_id)
            assert order is not None
            ad = await session.get(P2PAd, order.ad_id)
            assert ad is not None
            chat = [
                (m.sender_type, m.message)
                for m in await session.scalars(select(P2PMessage).where(P2PMessage.order_id == order_id))
            ]
            actions = [e.action for e in await session.scalars(select(AuditEntry))]
        return chat, ad.id or 0, ad.moderation_status, actions
    finally:
        await db.dispose()


def test_moderate_ads_and_answer_chats(cli_env: None, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI does what GraphQL does for operators: ad moderation and chat answers, audited."""
    operator = unique_email("op")
    _, _, order_id = asyncio.run(_dispute(settings.resolved_database_url, operator))
    assert main(["backoffice", "p2p-disputes", "--as", operator]) == 0
    capsys.readouterr()
    assert main(["backoffice", "p2p-ads", "list", "--status", "approved", "--as", operator]) == 0
    listed = json.loads(capsys.readouterr().out)
    _, ad_id, status, _ = asyncio.run(_chat_and_ad(settings.resolved_database_url, order_id))
    assert status == "approved" and ad_id in [row["id"] for row in listed]
    assert all(row["moderation_status"] == "approved" for row in listed)
    stranger = unique_email("nobody")
    assert main(["backoffice", "p2p-ads", "moderate", str(ad_id), "--status", "hidden", "--as", stranger]) == 2
    capsys.readouterr()
    assert main(["backoffice", "answer", f"pord_{order_id}", "--as", stranger, "--message", "hi"]) == 2
    capsys.readouterr()

    assert main(["backoffice", "answer", f"pord_{order_id}", "--as", operator, "--message", "looking into it"]) == 0
    assert json.loads(capsys.readouterr().out)["order_id"] == f"pord_{order_id}"
    assert main(["backoffice", "answer", "usr_1", "--as", operator, "--message", "x"]) == 2
    assert "neither a card order" in capsys.readouterr().err
    chat, _, _, _ = asyncio.run(_chat_and_ad(settings.resolved_database_url, order_id))
    assert ("operator", "looking into it") in chat

    assert (
        main(
            ["backoffice", "p2p-ads", "moderate", str(ad_id), "--status", "hidden", "--as", operator, "--note", "spam"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["moderation_status"] == "hidden"
    assert main(["backoffice", "p2p-ads", "--as", operator, "list", "--status", "hidden"]) == 0
    assert ad_id in [row["id"] for row in json.loads(capsys.readouterr().out)]
    _, _, status, actions = asyncio.run(_chat_and_ad(settings.resolved_database_url, order_id))
    assert status == "hidden" and "p2p_ad.hide" in actions


def test_lists_are_the_back_office_services_for_operators_only(
    cli_env: None, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The list commands go through ``p2p_backoffice.disputes``/``ads`` as the ``--as`` operator, as
    GraphQL's back office does: no ``--as``, an unknown email or a plain user is refused (exit 2,
    nothing listed); a limit past the page bound is a usage error."""
    operator = unique_email("op")
    seller, _, order_id = asyncio.run(_dispute(settings.resolved_database_url, operator))
    plain = asyncio.run(_email_of(settings.resolved_database_url, seller))
    for command in (["p2p-disputes"], ["p2p-disputes", "list"], ["p2p-ads"], ["p2p-ads", "list"]):
        for who in ([], ["--as", unique_email("nobody")], ["--as", plain]):
            assert main(["backoffice", *command, *who]) == 2, (command, who)
            captured = capsys.readouterr()
            assert captured.out == "" and ("--as" in captured.err or "not an operator" in captured.err)
    with pytest.raises(SystemExit) as usage:
        main(["backoffice", "p2p-disputes", "list", "--limit", "1000", "--as", operator])
    assert usage.value.code == 2
    capsys.readouterr()
    assert main(["backoffice", "p2p-disputes", "list", "--limit", "1", "--all", "--as", operator]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 1 and listed[0]["id"] >= order_id


async def _email_of(url: str, user_id: int) -> str:
    from predictql.models import User

    db = Database(make_engine(url))
    try:
        async with db.session() as session:
            user = await session.get(User, user_id)
            assert user is not None
            return user.email
    finally:
        await db.dispose()
