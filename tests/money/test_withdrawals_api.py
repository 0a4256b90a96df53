"""REST group ``withdrawals``: networks, fees, address checks, gates, one pending at a time, and an
approve racing a cancel settling once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import DomainError
from predictql.models import AuditEntry, LedgerAccount, Withdrawal
from predictql.services import users, withdrawals
from predictql.settings import Settings
from tests.api.test_users import fast_user
from tests.money.helpers import EVM, TRON, assert_ledger_clean, cash
from tests.support import bearer

API = "/api/v1"
SETTINGS = Settings(environment="test", jwt_secret="x" * 40)


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def withdraw(client: httpx.AsyncClient, bearer_token: str, **body: Any) -> httpx.Response:
    return await client.post(f"{API}/users/me/withdraw", json=body, headers=bearer(bearer_token))


async def test_info_is_public_and_as_documented(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.get(f"{API}/withdrawal/info")
    assert response.status_code == 200
    assert response.json() == {
        "supported_networks": ["tron", "bsc", "polygon", "ethereum", "avalanche"],
        "supported_tokens": ["USDT", "USDC"],
        "min_withdrawal_amount": 1.0,
        "min_withdrawal_display": "$1.00",
        "fee_percent": "0.3%",
    }


async def test_request_pending_cancel(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db, balance=200000)
    created = await withdraw(client, token, token="USDC", network="bsc", amount=1000, address=EVM)
    assert created.status_code == 200, created.text
    body = created.json()
    assert set(body) == {"success", "request_id", "amount_sent", "fee_amount", "fee_percent", "message"}
    assert (body["success"], body["amount_sent"], body["fee_amount"], body["fee_percent"]) == (True, 997, 3, "0.3%")
    assert await cash(db, user_id) == 199000
    second = await withdraw(client, token, token="USDT", network="bsc", amount=1000, address=EVM)
    assert (second.status_code, code(second)) == (400, "PENDING_WITHDRAWAL_EXISTS")

    pending = (await client.get(f"{API}/users/me/withdrawal/pending", headers=bearer(token))).json()
    assert pending["withdrawal"]["id"] == body["request_id"] and pending["withdrawal"]["status"] == "pending"
    cancelled = await client.post(f"{API}/users/me/withdrawal/pending/cancel", headers=bearer(token))
    assert cancelled.status_code == 200
    assert cancelled.json()["success"] is True and cancelled.json()["refunded"] == 1000
    assert await cash(db, user_id) == 200000
    assert (await client.get(f"{API}/users/me/withdrawal/pending", headers=bearer(token))).json() == {
        "withdrawal": None
    }
    nothing = await client.post(f"{API}/users/me/withdrawal/pending/cancel", headers=bearer(token))
    assert (nothing.status_code, code(nothing)) == (404, "WITHDRAWAL_NOT_FOUND")
    await assert_ledger_clean(db)


async def test_tron_fee_is_one_usdt_and_minimum_two(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, balance=200000)
    low = await withdraw(client, token, token="USDT", network="tron", amount=199, address=TRON)
    assert (low.status_code, code(low)) == (400, "INVALID_AMOUNT")
    usdc = await withdraw(client, token, token="USDC", network="tron", amount=500, address=TRON)
    assert (usdc.status_code, code(usdc)) == (400, "UNSUPPORTED_TOKEN")
    ok = await withdraw(client, token, token="USDT", network="tron", amount=500, address=TRON)
    assert ok.status_code == 200, ok.text
    assert (ok.json()["fee_amount"], ok.json()["amount_sent"], ok.json()["fee_percent"]) == (100, 400, "1 USDT")


async def test_validation_codes(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, balance=200000)
    cases = [
        ({"token": "DAI", "network": "bsc", "amount": 1000, "address": EVM}, "UNSUPPORTED_TOKEN"),
        ({"token": "USDT", "network": "solana", "amount": 1000, "address": EVM}, "UNSUPPORTED_NETWORK"),
        ({"token": "USDT", "network": "bsc", "amount": 99, "address": EVM}, "INVALID_AMOUNT"),
        ({"token": "USDT", "network": "bsc", "amount": 1000, "address": EVM[:-1] + "D"}, "INVALID_ADDRESS"),
        ({"token": "USDT", "network": "bsc", "amount": 1000, "address": TRON}, "INVALID_ADDRESS"),
        ({"token": "USDT", "network": "tron", "amount": 1000, "address": TRON[:-1] + "u"}, "INVALID_ADDRESS"),
        ({"token": "USDT", "network": "tron", "amount": 1000, "address": EVM}, "INVALID_ADDRESS"),
        ({"token": "USDT", "network": "ethereum", "amount": 300000, "address": EVM}, "INSUFFICIENT_BALANCE"),
        ({"token": "USDT", "network": "ethereum", "amount": "1000", "address": EVM}, "INVALID_REQUEST"),
    ]
    for body, expected in cases:
        response = await withdraw(client, token, **body)
        assert (response.status_code, code(response)) == (400, expected), (body, response.text)
    lower = await withdraw(client, token, token="USDT", network="polygon", amount=1000, address=EVM.lower())
    assert lower.status_code == 200, lower.text


async def test_min_deposit_wagering_and_daily_limit(client: httpx.AsyncClient, db: Database) -> None:
    _, small = await fast_user(db, balance=99999)
    refused = await withdraw(client, small, token="USDT", network="bsc", amount=1000, address=EVM)
    assert (refused.status_code, code(refused)) == (400, "MIN_DEPOSIT_REQUIRED")

    bonus_id, bonus_user = await fast_user(db, balance=100000)
    async with db.transaction() as session:
        await users.deposit(session, user_id=bonus_id, amount=5000, bonus=True)
    wager = await withdraw(client, bonus_user, token="USDT", network="bsc", amount=1000, address=EVM)
    assert (wager.status_code, code(wager)) == (400, "WAGERING_REQUIREMENT_NOT_MET")

    rich_id, rich = await fast_user(db, balance=20_000_000)
    first = await withdraw(client, rich, token="USDT", network="bsc", amount=9_000_000, address=EVM)
    assert first.status_code == 200
    async with db.transaction() as session:
        await withdrawals.cancel_pending(session, Actor(user_id=rich_id))
    again = await withdraw(client, rich, token="USDT", network="bsc", amount=9_000_000, address=EVM)
    assert again.status_code == 200  # a cancelled request does not count towards the limit
    operator = Actor(user_id=(await fast_user(db, is_operator=True))[0], is_operator=True)
    async with db.transaction() as session:
        await withdrawals.approve(session, operator, withdrawal_id=again.json()["request_id"], tx_hash="0x" + "ab" * 32)
    over = await withdraw(client, rich, token="USDT", network="bsc", amount=1_000_001, address=EVM)
    assert (over.status_code, code(over)) == (400, "WITHDRAWAL_LIMIT_EXCEEDED")
    exact = await withdraw(client, rich, token="USDT", network="bsc", amount=1_000_000, address=EVM)
    assert exact.status_code == 200, exact.text


async def test_operator_approves_with_tx_id_and_rejects(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db, balance=100000)
    operator_id, _ = await fast_user(db, is_operator=True)
    operator = Actor(user_id=operator_id, is_operator=True)
    first = (await withdraw(client, token, token="USDT", network="ethereum", amount=10000, address=EVM)).json()
    async with db.transaction() as session:
        row = await withdrawals.approve(session, operator, withdrawal_id=first["request_id"], tx_hash="0x" + "12" * 32)
    assert (row.status, row.tx_hash) == ("completed", "0x" + "12" * 32)
    assert await cash(db, user_id) == 90000
    second = (await withdraw(client, token, token="USDT", network="ethereum", amount=10000, address=EVM)).json()
    async with db.transaction() as session:
        await withdrawals.reject(session, operator, withdrawal_id=second["request_id"], note="sanctioned address")
    assert await cash(db, user_id) == 90000
    async with db.session() as session:
        actions = list(await session.scalars(select(AuditEntry.action).order_by(col(AuditEntry.id))))
        payout = f"user:{user_id}:payout"
        hold = await session.scalar(select(LedgerAccount.balance).where(col(LedgerAccount.code) == payout))
    assert actions == ["withdrawal.approve", "withdrawal.reject"] and hold == 0
    await assert_ledger_clean(db)


async def test_plain_users_cannot_approve_or_reject(db: Database) -> None:
    user_id, _ = await fast_user(db, balance=100000)
    async with db.transaction() as session:
        row = await withdrawals.request(
            session, Actor(user_id=user_id), SETTINGS, token="USDT", network="bsc", amount=1000, address=EVM
        )
    for attempt in (
        withdrawals.approve(_no_session(), Actor(user_id=user_id), withdrawal_id=row.id or 0, tx_hash="0xab"),
        withdrawals.reject(_no_session(), Actor(user_id=user_id), withdrawal_id=row.id or 0),
    ):
        try:
            await attempt
        except DomainError as error:
            assert error.code == "FORBIDDEN"
        else:
            raise AssertionError("a plain user settled a withdrawal")


def _no_session() -> Any:
    return None  # refused before the session is touched


async def _settle(db: Database, work: Any, done: str) -> str:
    try:
        async with db.transaction() as session:
            await work(session)
    except DomainError as error:
        return error.code
    return done


async def _race_once(db: Database) -> None:
    user_id, _ = await fast_user(db, balance=100000)
    operator = Actor(user_id=(await fast_user(db, is_operator=True))[0], is_operator=True)
    async with db.transaction() as session:
        row = await withdrawals.request(
            session, Actor(user_id=user_id), SETTINGS, token="USDT", network="bsc", amount=50000, address=EVM
        )
    withdrawal_id = row.id or 0

    def approve(session: Any) -> Any:
        return withdrawals.approve(session, operator, withdrawal_id=withdrawal_id, tx_hash="0x" + "9" * 64)

    def cancel(session: Any) -> Any:
        return withdrawals.cancel_pending(session, Actor(user_id=user_id))

    results = set(
        await asyncio.gather(
            _settle(db, approve, "approved"),
            _settle(db, cancel, "cancelled"),
            _settle(db, approve, "approved"),
        )
    )
    async with db.session() as session:
        final = await session.get(Withdrawal, withdrawal_id)
    assert final is not None
    assert await cash(db, user_id) == (50000 if final.status == "completed" else 100000)
    assert results <= {"approved", "cancelled", "WITHDRAWAL_NOT_PENDING", "WITHDRAWAL_NOT_FOUND"}
    assert ("approved" in results) != ("cancelled" in results), results


async def test_approve_racing_cancel_settles_once(db: Database) -> None:
    for _ in range(4):
        await _race_once(db)
    await assert_ledger_clean(db)


async def test_concurrent_requests_never_overdraw(db: Database) -> None:
    user_id, _ = await fast_user(db, balance=150000)

    async def request(network: str) -> str:
        try:
            async with db.transaction() as session:
                await withdrawals.request(
                    session, Actor(user_id=user_id), SETTINGS, token="USDT", network=network, amount=100000, address=EVM
                )
        except DomainError as error:
            return error.code
        return "ok"

    results = await asyncio.gather(*(request(n) for n in ("bsc", "polygon", "ethereum", "avalanche")))
    assert results.count("ok") == 1, results
    assert await cash(db, user_id) == 50000
    await assert_ledger_clean(db)


async def test_transactions_list_money_out_with_its_status(client: httpx.AsyncClient, db: Database) -> None:
    """``/users/me/transactions`` is the deposit/withdrawal history: a money-out request is one
    ``withdrawal`` row, ``pending`` until sent (``completed``) or returned (``failed``; no extra row)."""
    from predictql.services import card_orders
    from tests.money.helpers import CARD

    user_id, token = await fast_user(db, balance=100000)
    operator = Actor(user_id=(await fast_user(db, is_operator=True))[0], is_operator=True)
    owner = Actor(user_id=user_id)
    async with db.transaction() as session:
        rejected = await withdrawals.request(
            session, owner, SETTINGS, token="USDT", network="bsc", amount=1000, address=EVM
        )
    async with db.transaction() as session:
        await withdrawals.reject(session, operator, withdrawal_id=rejected.id or 0)
    async with db.transaction() as session:
        sent = await card_orders.create(
            session, owner, SETTINGS, type="withdraw", amount=20000, details={"card_number": CARD}
        )
    async with db.transaction() as session:
        await card_orders.complete(session, operator, order_id=sent.id or 0)
    async with db.transaction() as session:
        await withdrawals.request(session, owner, SETTINGS, token="USDT", network="tron", amount=3000, address=TRON)
    response = await client.get(f"{API}/users/me/transactions", headers=bearer(token))
    assert response.status_code == 200
    rows = response.json()
    assert [(row["type"], row["amount"], row["status"]) for row in rows] == [
        ("withdrawal", 3000, "pending"),
        ("withdrawal", 20000, "completed"),
        ("withdrawal", 1000, "failed"),
        ("deposit", 100000, "completed"),
    ]
    assert all(set(row) == {"id", "type", "amount", "status", "created_at"} for row in rows)
    assert [row["id"] for row in rows] == sorted((row["id"] for row in rows), reverse=True)
    from tests.support import gql

    query = "{ myTransactions { nodes { type amount status } } }"
    nodes = (await gql(client, query, token=token))["data"]["myTransactions"]["nodes"]
    assert [(n["type"], n["amount"], n["status"]) for n in nodes] == [
        ("WITHDRAWAL", 3000, "PENDING"),
        ("WITHDRAWAL", 20000, "COMPLETED"),
        ("WITHDRAWAL", 1000, "FAILED"),
        ("DEPOSIT", 100000, "COMPLETED"),
    ]
    await assert_ledger_clean(db)
