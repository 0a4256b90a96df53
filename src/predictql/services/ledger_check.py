"""``predictql ledger check``: is every kopeck accounted for? (DECISIONS rule 4)

Three questions, each answered from the entries themselves, not from the cached balances:

* **trial balance**: all entries sum to zero, and every tracked account's cached ``balance`` is
  the sum of its entries (the ledger moves both in one statement batch);
* **floors**: no account that may not go negative (users' cash, bonus and escrow, order-book
  collateral, the fee pool) is below zero, by its entries or by its cached balance;
* **twins**: every transaction has at least two entries that sum to zero, so no entry moved money
  without its other side;
* **book levels**: the order-book level counts the streams publish (``book_levels``) are what the
  open orders say (``book_check``).

Read-only, one consistent snapshot per query; an operator runs it from cron (exit code 1 on any
violation) and tests call ``check`` to prove a scenario left the books whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from predictql.models import LedgerAccount, LedgerEntry, LedgerTransaction
from predictql.services import book_check
from predictql.services.ledger import UNTRACKED_KINDS

MAX_LISTED = 1000  # per rule: enough to act on, bounded for a badly broken ledger


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str  # "trial_balance" | "cached_balance" | "below_floor" | "no_twin" | "book_level"
    subject: str  # an account code, "transaction <id>", "market <id>" or "ledger"
    detail: str


@dataclass(frozen=True, slots=True)
class LedgerReport:
    accounts: int
    transactions: int
    entries: int
    entries_total: int  # zero when the books balance
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "violations": [asdict(v) for v in self.violations]}

    def lines(self) -> list[str]:
        """The readable report: a summary line, then one line per violation."""
        verdict = "OK" if self.ok else f"{len(self.violations)} VIOLATION(S)"
        head = (
            f"ledger check: {verdict} - {self.accounts} accounts, {self.transactions} transactions, "
            f"{self.entries} entries, entries sum to {self.entries_total}"
        )
        return [head, *(f"  {v.rule}: {v.subject}: {v.detail}" for v in self.violations)]


async def check(session: AsyncSession) -> LedgerReport:
    """The whole ledger's report; ``.ok`` when nothing is wrong."""
    violations = await _accounts(session) + await _twins(session) + await _book_levels(session)
    entries, total = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(LedgerEntry.amount), 0)).select_from(LedgerEntry)
        )
    ).one()
    if int(total):
        violations.insert(0, Violation("trial_balance", "ledger", f"entries sum to {int(total)}, not 0"))
    accounts = await session.scalar(select(func.count()).select_from(LedgerAccount))
    transactions = await session.scalar(select(func.count()).select_from(LedgerTransaction))
    return LedgerReport(int(accounts or 0), int(transactions or 0), int(entries), int(total), tuple(violations))


async def _accounts(session: AsyncSession) -> list[Violation]:
    sums = (
        select(col(LedgerEntry.account_id), func.sum(LedgerEntry.amount).label("total"))
        .group_by(col(LedgerEntry.account_id))
        .subquery()
    )
    rows = await session.execute(
        select(
            col(LedgerAccount.code),
            col(LedgerAccount.kind),
            col(LedgerAccount.allow_negative),
            col(LedgerAccount.balance),
            func.coalesce(sums.c.total, 0),
        )
        .outerjoin(sums, sums.c.account_id == LedgerAccount.id)
        .order_by(col(LedgerAccount.id))
    )
    found: list[Violation] = []
    for code, kind, allow_negative, cached, summed in rows:
        tracked = kind not in UNTRACKED_KINDS
        if tracked and int(cached) != int(summed):
            detail = f"balance {int(cached)} but its entries sum to {int(summed)}"
            found.append(Violation("cached_balance", code, detail))
        lowest = min(int(summed), int(cached)) if tracked else int(summed)
        if not allow_negative and lowest < 0:
            found.append(Violation("below_floor", code, f"{lowest} kopecks, below its floor of 0"))
    return _bounded(found)


async def _twins(session: AsyncSession) -> list[Violation]:
    rows = await session.execute(
        select(col(LedgerEntry.transaction_id), func.count(), func.sum(LedgerEntry.amount))
        .group_by(col(LedgerEntry.transaction_id))
        .having((func.count() < 2) | (func.sum(LedgerEntry.amount) != 0))
        .order_by(col(LedgerEntry.transaction_id))
        .limit(MAX_LISTED)
    )
    return [
        Violation("no_twin", f"transaction {txn}", f"{count} entries summing to {int(total)}")
        for txn, count, total in rows
    ]


async def _book_levels(session: AsyncSession) -> list[Violation]:
    found = [
        Violation("book_level", f"market {market}", f"{side} {token} at {price}, {rest} left: {have} kept, {want} open")
        for (market, token, price, side, rest), have, want in await book_check.differences(session)
    ]
    return _bounded(found)


def _bounded(found: list[Violation]) -> list[Violation]:
    by_rule: dict[str, int] = {}
    kept = []
    for violation in found:
        by_rule[violation.rule] = by_rule.get(violation.rule, 0) + 1
        if by_rule[violation.rule] <= MAX_LISTED:
            kept.append(violation)
    return kept
