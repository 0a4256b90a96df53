"""What card withdraws and crypto withdrawals share: the payout hold, the gates every money-out
passes (README "Money in and out: card and crypto withdrawals"), and the per-user lock.

The hold is the user's own tracked ledger account ``user:{id}:payout`` (never negative): money-out
is debited from cash into it when requested, and leaves it exactly once: to ``world`` (sent, the
fee to ``platform:revenue``) or back to cash (cancelled, rejected). A second settlement of the same
request would take the hold below zero, and the ledger refuses that too.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.db import utcnow
from predictql.errors import DomainError, InsufficientFunds, InvalidInput
from predictql.models import CardOrder, LedgerAccount, LedgerEntry, LedgerTransaction, P2POrder, Trade, Withdrawal
from predictql.services import ledger
from predictql.settings import Settings

HOLD_KIND = ledger.PAYOUT_KIND
MAX_NOTE = 500
OUT_STATES = ("pending", "completed")  # money-out that counts towards the daily limit
P2P_OUT_STATES = ("pending", "paid_by_buyer", "completed", "dispute")  # P2P sells that count (not cancelled)
DEPOSIT_KINDS = ("deposit", "p2p_release")  # money in: ledger deposits (card, CLI) and P2P buys


def operator_note(note: str | None) -> str | None:
    """An operator's note as stored: trimmed, at most ``MAX_NOTE`` characters, empty -> None."""
    if note is None or not note.strip():
        return None
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"note is longer than {MAX_NOTE} characters", field="note")
    return note.strip()


def user_payout(user_id: int) -> str:
    return f"user:{user_id}:payout"


async def lock_user_money(session: AsyncSession, user_id: int) -> int:
    """Lock the user's cash account (serializes one user's money-out on PostgreSQL; SQLite writes
    are serialized already) and open the payout hold; the cash balance now."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(LedgerAccount)
        .values(code=user_payout(user_id), kind=HOLD_KIND, user_id=user_id, allow_negative=False)
        .on_conflict_do_nothing(index_elements=["code"])
    )
    balance = await session.scalar(
        select(LedgerAccount.balance).where(col(LedgerAccount.code) == ledger.user_cash(user_id)).with_for_update()
    )
    return int(balance or 0)


async def _sum_entries(session: AsyncSession, user_id: int, account_kind: str, *txn_kinds: str) -> int:
    """Credits (positive entries) of the user's ``account_kind`` account by transactions of ``txn_kinds``."""
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerAccount, col(LedgerEntry.account_id) == LedgerAccount.id)
        .join(LedgerTransaction, col(LedgerTransaction.id) == LedgerEntry.transaction_id)
        .where(
            col(LedgerAccount.user_id) == user_id,
            col(LedgerAccount.kind) == account_kind,
            col(LedgerTransaction.kind).in_(txn_kinds),
            col(LedgerEntry.amount) > 0,
        )
    )
    return int(total or 0)


async def out_last_day(session: AsyncSession, user_id: int) -> int:
    """Kopecks the user asked to take out in the last 24 h: card withdraws and crypto withdrawals
    pending or sent, and P2P orders the user sells in (as taker of a buy ad or owner of a sell ad)
    that are not cancelled."""
    since = utcnow() - timedelta(days=1)
    crypto = await session.scalar(
        select(func.coalesce(func.sum(Withdrawal.amount), 0)).where(
            col(Withdrawal.user_id) == user_id,
            col(Withdrawal.status).in_(OUT_STATES),
            col(Withdrawal.created_at) >= since,
        )
    )
    card = await session.scalar(
        select(func.coalesce(func.sum(CardOrder.amount), 0)).where(
            col(CardOrder.user_id) == user_id,
            col(CardOrder.type) == "withdraw",
            col(CardOrder.status).in_(OUT_STATES),
            col(CardOrder.created_at) >= since,
        )
    )
    p2p = await session.scalar(
        select(func.coalesce(func.sum(P2POrder.usdt_amount), 0)).where(
            col(P2POrder.seller_id) == user_id,
            col(P2POrder.status).in_(P2P_OUT_STATES),
            col(P2POrder.created_at) >= since,
        )
    )
    return int(crypto or 0) + int(card or 0) + int(p2p or 0)


async def check_gates(session: AsyncSession, settings: Settings, user_id: int, amount: int, cash: int) -> None:
    """Every money-out's conditions (card withdraw, crypto withdrawal, P2P sell through a buy ad), in
    the order a user can act on them. Call with the user locked (``lock_user_money``)."""
    if cash < amount:
        raise InsufficientFunds("insufficient balance for this withdrawal")
    deposited = await _sum_entries(session, user_id, "user_cash", *DEPOSIT_KINDS)
    if deposited < settings.withdraw_min_deposit_kopecks:
        need = settings.withdraw_min_deposit_kopecks
        raise DomainError(f"withdrawals need {need} kopecks deposited in total first", "MIN_DEPOSIT_REQUIRED")
    bonus = await _sum_entries(session, user_id, "user_bonus", "bonus")
    if bonus:
        volume = await session.scalar(
            select(func.coalesce(func.sum(Trade.amount), 0)).where(col(Trade.user_id) == user_id)
        )
        needed = bonus * settings.withdraw_wagering_multiplier
        if int(volume or 0) < needed:
            raise DomainError(
                f"trade {needed} kopecks in total before withdrawing ({settings.withdraw_wagering_multiplier}x "
                f"the bonus credited); traded so far: {int(volume or 0)}",
                "WAGERING_REQUIREMENT_NOT_MET",
            )
    if await out_last_day(session, user_id) + amount > settings.withdraw_daily_limit_kopecks:
        raise DomainError(
            f"at most {settings.withdraw_daily_limit_kopecks} kopecks may be withdrawn per 24 hours",
            "WITHDRAWAL_LIMIT_EXCEEDED",
        )


async def hold(session: AsyncSession, user_id: int, amount: int, reference: tuple[str, int]) -> None:
    """Debit ``amount`` from cash into the payout hold (InsufficientFunds if cash is short)."""
    await ledger.post(
        session,
        kind="payout_hold",
        legs=[(ledger.user_cash(user_id), -amount), (user_payout(user_id), amount)],
        user_id=user_id,
        reference=reference,
    )


async def release(session: AsyncSession, user_id: int, amount: int, reference: tuple[str, int]) -> None:
    """The held amount back to cash (cancelled or rejected)."""
    await ledger.post(
        session,
        kind="payout_refund",
        legs=[(user_payout(user_id), -amount), (ledger.user_cash(user_id), amount)],
        user_id=user_id,
        reference=reference,
    )


async def pay_out(session: AsyncSession, user_id: int, amount: int, fee: int, reference: tuple[str, int]) -> None:
    """The held amount leaves the platform: ``amount - fee`` to the world, ``fee`` to revenue."""
    legs = [(user_payout(user_id), -amount), (ledger.WORLD, amount - fee)]
    if fee:
        legs.append((ledger.REVENUE, fee))
    await ledger.post(session, kind="withdrawal", legs=legs, user_id=user_id, reference=reference)
