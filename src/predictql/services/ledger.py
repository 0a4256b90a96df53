"""The ledger: the only code that changes a balance.

``post`` writes one transaction whose legs sum to zero and moves the cached balances with a
conditional ``UPDATE ... WHERE balance + delta >= 0``: the database itself refuses an overdraft, so
concurrent requests from any number of processes can never take a user balance below zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from predictql.errors import InsufficientFunds
from predictql.models import LedgerAccount, LedgerEntry, LedgerTransaction

# Accounts that are not a user's: created by the initial migration.
WORLD = "world"  # money entering or leaving the platform (deposits, withdrawals)
PROMO = "platform:promo"  # source of bonus credits
FEES = "platform:fees"  # collected trading fees (before referral shares are paid out of them)
REVENUE = "platform:revenue"  # rounding remainders and the platform's share of fees
SYSTEM_ACCOUNTS: dict[str, tuple[str, bool]] = {
    WORLD: ("external", True),
    PROMO: ("external", True),
    FEES: ("platform", False),
    REVENUE: ("platform", True),
}


def user_cash(user_id: int) -> str:
    return f"user:{user_id}:cash"


def user_bonus(user_id: int) -> str:
    return f"user:{user_id}:bonus"


@dataclass(frozen=True, slots=True)
class Balances:
    cash: int
    bonus: int

    @property
    def total(self) -> int:
        return self.cash + self.bonus


async def open_user_accounts(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        insert(LedgerAccount),
        [
            {"code": user_cash(user_id), "kind": "user_cash", "user_id": user_id},
            {"code": user_bonus(user_id), "kind": "user_bonus", "user_id": user_id},
        ],
    )


async def open_account(session: AsyncSession, code: str, kind: str, *, allow_negative: bool) -> int:
    result = await session.execute(
        insert(LedgerAccount)
        .values(code=code, kind=kind, allow_negative=allow_negative)
        .returning(LedgerAccount.id)  # type: ignore[arg-type]
    )
    return int(result.scalar_one())


async def account_ids(session: AsyncSession, codes: Iterable[str]) -> dict[str, int]:
    wanted = list(dict.fromkeys(codes))
    rows = await session.execute(
        select(LedgerAccount.code, LedgerAccount.id).where(LedgerAccount.code.in_(wanted))  # type: ignore[attr-defined]
    )
    found = {code: int(id_) for code, id_ in rows}
    missing = [code for code in wanted if code not in found]
    if missing:
        raise LookupError(f"ledger accounts missing: {missing}")
    return found


async def balances(session: AsyncSession, user_id: int) -> Balances:
    rows = await session.execute(
        select(LedgerAccount.kind, LedgerAccount.balance).where(LedgerAccount.user_id == user_id)
    )
    by_kind = {kind: balance for kind, balance in rows}
    return Balances(cash=int(by_kind.get("user_cash", 0)), bonus=int(by_kind.get("user_bonus", 0)))


async def post(
    session: AsyncSession,
    *,
    kind: str,
    legs: Sequence[tuple[str, int]],
    user_id: int | None = None,
    reference: tuple[str, int] | None = None,
    memo: str = "",
) -> int:
    """Record one balanced transaction over accounts named by code; returns its id.

    Raises ``InsufficientFunds`` (and the caller's transaction rolls back) when any account that
    may not go negative would.
    """
    deltas: dict[str, int] = defaultdict(int)
    for code, amount in legs:
        deltas[code] += amount
    if sum(deltas.values()) != 0:
        raise ValueError(f"unbalanced ledger transaction {kind}: {legs}")
    deltas = {code: amount for code, amount in deltas.items() if amount}
    if not deltas:
        raise ValueError(f"empty ledger transaction {kind}")
    ids = await account_ids(session, deltas)
    # Lock rows in a fixed order so concurrent transfers cannot deadlock.
    for code in sorted(deltas, key=ids.__getitem__):
        await _move(session, ids[code], deltas[code])
    txn = await session.execute(
        insert(LedgerTransaction)
        .values(
            kind=kind,
            user_id=user_id,
            reference_type=reference[0] if reference else None,
            reference_id=reference[1] if reference else None,
            memo=memo,
        )
        .returning(LedgerTransaction.id)  # type: ignore[arg-type]
    )
    txn_id = int(txn.scalar_one())
    await session.execute(
        insert(LedgerEntry),
        [{"transaction_id": txn_id, "account_id": ids[c], "amount": a} for c, a in deltas.items()],
    )
    return txn_id


async def _move(session: AsyncSession, account_id: int, delta: int) -> None:
    new_balance = LedgerAccount.balance + delta
    result = await session.execute(
        update(LedgerAccount)
        .where(LedgerAccount.id == account_id)  # type: ignore[arg-type]
        .where(LedgerAccount.allow_negative | (new_balance >= 0))  # type: ignore[operator]
        .values(balance=new_balance)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InsufficientFunds("insufficient balance")


async def trial_balance(session: AsyncSession) -> tuple[int, int]:
    """(sum of all entries, sum of all cached balances): both are zero in a consistent ledger."""
    entries = await session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))
    cached = await session.scalar(select(func.coalesce(func.sum(LedgerAccount.balance), 0)))
    return int(entries or 0), int(cached or 0)
