"""The ledger: the only code that changes a balance.

``post`` writes one transaction whose legs sum to zero and moves the cached balances with a
conditional ``UPDATE ... WHERE balance + delta >= 0``: the database itself refuses an overdraft, so
concurrent requests from any number of processes can never take a user balance below zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.db import utcnow
from predictql.errors import InsufficientFunds
from predictql.models import LedgerAccount, LedgerEntry, LedgerTransaction, core
from predictql.subscriptions import topics

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


P2P_ESCROW_KIND = "p2p_escrow"
PAYOUT_KIND = "payout_hold"  # user:{id}:payout, money-out requested and not yet sent or returned


def user_p2p_escrow(user_id: int) -> str:
    """What open P2P orders hold of the user's as seller until they complete or are cancelled."""
    return f"user:{user_id}:p2p_escrow"


def market_amm(market_id: int) -> str:
    """The LMSR market maker's cash for one market; may go negative up to its subsidy bound."""
    return f"market:{market_id}:amm"


def market_collateral(market_id: int) -> str:
    """Order-book collateral: one kopeck per minted YES+NO pair still outstanding."""
    return f"market:{market_id}:collateral"


@dataclass(frozen=True, slots=True)
class Balances:
    cash: int
    bonus: int
    frozen: int = 0  # reserved by open order-book buys (the escrow account); not part of total
    p2p_frozen: int = 0  # held by open P2P orders the user sells in (the p2p escrow); not part of total
    payout_frozen: int = 0  # held for pending card withdraws and crypto withdrawals; not part of total

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
        .returning(col(LedgerAccount.id))
    )
    account_id = result.scalar_one()
    assert account_id is not None
    return account_id


async def account_ids(session: AsyncSession, codes: Iterable[str]) -> dict[str, int]:
    return {code: id_ for code, (id_, _, _) in (await _accounts(session, codes)).items()}


async def balances(session: AsyncSession, user_id: int) -> Balances:
    rows = await session.execute(
        select(LedgerAccount.kind, LedgerAccount.balance).where(LedgerAccount.user_id == user_id)
    )
    by_kind = {kind: balance for kind, balance in rows}
    return Balances(
        cash=int(by_kind.get("user_cash", 0)),
        bonus=int(by_kind.get("user_bonus", 0)),
        frozen=int(by_kind.get("escrow", 0)),
        p2p_frozen=int(by_kind.get(P2P_ESCROW_KIND, 0)),
        payout_frozen=int(by_kind.get(PAYOUT_KIND, 0)),
    )


@dataclass(frozen=True, slots=True)
class Movement:
    """One ledger transaction: legs (account code, signed kopecks) that sum to zero."""

    kind: str
    legs: tuple[tuple[str, int], ...]
    user_id: int | None = None
    reference: tuple[str, int] | None = None
    memo: str = ""


def transfer(kind: str, source: str, target: str, amount: int, **extra: object) -> Movement:
    """``amount`` kopecks from ``source`` to ``target`` as one two-leg transaction."""
    return Movement(kind, ((source, -amount), (target, amount)), **extra)  # type: ignore[arg-type]


async def post(
    session: AsyncSession,
    *,
    kind: str,
    legs: Sequence[tuple[str, int]],
    user_id: int | None = None,
    reference: tuple[str, int] | None = None,
    memo: str = "",
) -> int:
    """Record one balanced transaction; returns its id (see ``post_many``)."""
    return (await post_many(session, [Movement(kind, tuple(legs), user_id, reference, memo)]))[0]


Accounts = dict[str, tuple[int, int, bool, int | None]]  # code -> (id, balance, tracked, owner): ``lock_balances``


async def post_many(
    session: AsyncSession, movements: Sequence[Movement], *, locked: Accounts | None = None
) -> list[int]:
    """Record balanced transactions in a handful of statements; returns their ids.

    Raises ``InsufficientFunds`` (and the caller's transaction rolls back) when a tracked account
    that may not go negative would. Platform and external accounts are not tracked: their balance
    is the sum of their entries, so the busiest rows are never locked by every trade. ``locked``:
    what ``lock_balances`` returned in this transaction; when it names every account moved, this is
    ``post_locked`` (no lookup, no lock of its own).
    """
    movements = [m for m in movements if any(amount for _, amount in m.legs)]
    if not movements:
        return []
    if locked and all(code in locked for m in movements for code, _ in m.legs):
        return await post_locked(session, movements, locked)
    deltas = _deltas(movements)
    accounts = await _accounts(session, deltas)
    await _move_many(
        session, {accounts[code][0]: delta for code, delta in deltas.items() if accounts[code][1] and delta}
    )
    return await _record(session, movements, accounts, deltas)


def _deltas(movements: Sequence[Movement]) -> dict[str, int]:
    deltas: dict[str, int] = defaultdict(int)
    for movement in movements:
        if sum(amount for _, amount in movement.legs) != 0:
            raise ValueError(f"unbalanced ledger transaction {movement.kind}: {movement.legs}")
        for code, amount in movement.legs:
            deltas[code] += amount
    return deltas


async def lock_balances(session: AsyncSession, codes: Iterable[str]) -> Accounts:
    """code -> (id, balance, tracked, owning user id) of the accounts ``codes`` names that exist,
    the tracked ones locked (``FOR UPDATE``) in id order, as ``post_many`` moves them, so writers
    locking overlapping sets cannot deadlock. Platform and external accounts are read without a lock
    (their cached balance is not kept; see ``post_many``): the busiest rows are never locked."""
    wanted = list(dict.fromkeys(codes))
    if core.on_postgresql(session):  # one statement: the tracked locked, the rest read
        rows = await session.execute(_LOCK_BALANCES_PG, {"codes": wanted})
        return {code: (int(id_), int(balance), tracked, owner) for code, id_, balance, owner, tracked in rows}
    rows = await session.execute(
        select(LedgerAccount.code, LedgerAccount.id, LedgerAccount.balance, LedgerAccount.user_id)
        .where(col(LedgerAccount.code).in_(wanted), col(LedgerAccount.kind).not_in(UNTRACKED_KINDS))
        .order_by(col(LedgerAccount.id))
        .with_for_update()
    )
    found = {code: (int(id_), int(balance), True, owner) for code, id_, balance, owner in rows}
    rest = [code for code in wanted if code not in found]
    if rest:
        rows = await session.execute(
            select(LedgerAccount.code, LedgerAccount.id, LedgerAccount.balance, LedgerAccount.user_id).where(
                col(LedgerAccount.code).in_(rest)
            )
        )
        found.update({code: (int(id_), int(balance), False, owner) for code, id_, balance, owner in rows})
    return found


async def post_locked(session: AsyncSession, movements: Sequence[Movement], accounts: Accounts) -> list[int]:
    """``post_many`` for accounts already locked by ``lock_balances``: every tracked balance moves in
    ONE statement, still guarded (a balance that may not go negative never does: the whole statement
    is refused with ``InsufficientFunds``, and the caller's transaction rolls back)."""
    movements = [m for m in movements if any(amount for _, amount in m.legs)]
    if not movements:
        return []
    deltas = _deltas(movements)
    moves = {accounts[code][0]: delta for code, delta in deltas.items() if accounts[code][2]}
    ids_by_code = {code: (id_, tracked, owner) for code, (id_, _, tracked, owner) in accounts.items()}
    if core.on_postgresql(session):
        return await _post_locked_pg(session, movements, moves, ids_by_code, deltas)
    await _move_many(session, moves, locked=True)
    return await _record(session, movements, ids_by_code, deltas)


def _guard(qualifier: str, delta: str) -> str:
    """The rule of every guarded move: a tracked account may not go negative unless it allows it.
    ``qualifier``: what the columns are prefixed with (``ledger_accounts.`` where a ``FROM`` list
    joins another relation, else nothing); ``delta``: the SQL of the amount moved."""
    return f"({qualifier}allow_negative OR {qualifier}balance + {delta} >= 0)"


_MOVE_MANY_PG = text(
    "UPDATE ledger_accounts SET balance = ledger_accounts.balance + v.delta "
    "FROM unnest(CAST(:ids AS BIGINT[]), CAST(:deltas AS BIGINT[])) AS v(id, delta) "
    f"WHERE ledger_accounts.id = v.id AND {_guard('ledger_accounts.', 'v.delta')}"
)
_POST_LOCKED_PG = text(
    f"WITH moved AS ({_MOVE_MANY_PG.text} RETURNING ledger_accounts.id),"
    " txn AS ("
    " INSERT INTO ledger_transactions (kind, user_id, reference_type, reference_id, memo, created_at)"
    " SELECT kind, user_id, reference_type, reference_id, memo, :now"
    " FROM unnest(CAST(:kinds AS VARCHAR[]), CAST(:user_ids AS BIGINT[]), CAST(:reference_types AS VARCHAR[]),"
    " CAST(:reference_ids AS BIGINT[]), CAST(:memos AS VARCHAR[]))"
    " WITH ORDINALITY AS v(kind, user_id, reference_type, reference_id, memo, n) ORDER BY n RETURNING id),"
    # The ids are handed out in the SELECT's order (as ``core.insert_ids`` relies on): the n-th
    # smallest is the n-th movement's.
    " numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM txn),"
    " entries AS ("
    " INSERT INTO ledger_entries (transaction_id, account_id, amount, created_at)"
    " SELECT numbered.id, e.account_id, e.amount, :now"
    " FROM unnest(CAST(:entry_txns AS BIGINT[]), CAST(:entry_accounts AS BIGINT[]), CAST(:entry_amounts AS BIGINT[]))"
    " WITH ORDINALITY AS e(n, account_id, amount, ordinal) JOIN numbered ON numbered.n = e.n ORDER BY e.ordinal)"
    " SELECT (SELECT count(*) FROM moved), ARRAY(SELECT id FROM numbered ORDER BY n)"
).bindparams(bindparam("now", type_=core.table(LedgerEntry).c.created_at.type))


async def _post_locked_pg(
    session: AsyncSession,
    movements: Sequence[Movement],
    moves: dict[int, int],
    accounts: dict[str, tuple[int, bool, int | None]],
    deltas: dict[str, int],
) -> list[int]:
    """``_move_many`` and ``_record`` in ONE statement on PostgreSQL (data-modifying ``WITH``s): the
    guarded balance moves, the transactions and their entries. When a guarded move is refused, the
    statement has written rows that the caller's rollback undoes, as ``_move_many``'s partial moves."""
    moved = sorted((id_, delta) for id_, delta in moves.items() if delta)
    transactions = [_transaction_row(m) for m in movements]
    entries = [
        (n, accounts[code][0], amount)
        for n, movement in enumerate(movements, start=1)
        for code, amount in movement.legs
        if amount
    ]
    row = (
        await session.execute(
            _POST_LOCKED_PG,
            {
                "ids": [id_ for id_, _ in moved],
                "deltas": [delta for _, delta in moved],
                "now": utcnow(),
                **{f"{name}s": [row[name] for row in transactions] for name in _TRANSACTION_COLUMNS},
                "entry_txns": [n for n, _, _ in entries],
                "entry_accounts": [account for _, account, _ in entries],
                "entry_amounts": [amount for _, _, amount in entries],
            },
        )
    ).one()
    if row[0] != len(moved):
        raise InsufficientFunds("insufficient balance")
    topics.balances_changed(session, _owners_moved(accounts, deltas))
    return [int(id_) for id_ in row[1]]


_MOVE_ONE = text(f"UPDATE ledger_accounts SET balance = balance + :delta WHERE id = :id AND {_guard('', ':delta')}")


_TRANSACTION_COLUMNS = ("kind", "user_id", "reference_type", "reference_id", "memo")


def _transaction_row(movement: Movement) -> dict[str, object]:
    """A movement's ``ledger_transactions`` row (``_TRANSACTION_COLUMNS``)."""
    reference = movement.reference
    return {
        "kind": movement.kind,
        "user_id": movement.user_id,
        "reference_type": reference[0] if reference else None,
        "reference_id": reference[1] if reference else None,
        "memo": movement.memo,
    }


def _owners_moved(accounts: dict[str, tuple[int, bool, int | None]], deltas: dict[str, int]) -> set[int]:
    """The users whose balances a posting moves: each one's balances go out once, as they are when
    the transaction ends (``topics.balances_changed``)."""
    return {owner for code, (_, _, owner) in accounts.items() if owner and deltas.get(code)}


async def _record(
    session: AsyncSession,
    movements: Sequence[Movement],
    accounts: dict[str, tuple[int, bool, int | None]],
    deltas: dict[str, int],
) -> list[int]:
    """The transactions and their entries (two statements), once the balances have moved."""
    topics.balances_changed(session, _owners_moved(accounts, deltas))
    # Core statements on the tables: the ORM's bulk insert costs more than the round trip.
    ids = await core.insert_ids(
        session,
        LedgerTransaction,
        [_transaction_row(m) for m in movements],
    )
    entries = [
        {"transaction_id": txn_id, "account_id": accounts[code][0], "amount": amount}
        for txn_id, movement in zip(ids, movements, strict=True)
        for code, amount in movement.legs
        if amount
    ]
    await core.insert_many(session, LedgerEntry, entries)
    return ids


UNTRACKED_KINDS = ("external", "platform")

_UNTRACKED_SQL = "(" + ", ".join(f"'{kind}'" for kind in UNTRACKED_KINDS) + ")"
_LOCK_BALANCES_PG = text(
    "WITH locked AS MATERIALIZED ("
    " SELECT code, id, balance, user_id FROM ledger_accounts"
    f" WHERE code = ANY(CAST(:codes AS VARCHAR[])) AND kind NOT IN {_UNTRACKED_SQL} ORDER BY id FOR UPDATE)"
    " SELECT code, id, balance, user_id, true FROM locked"
    " UNION ALL SELECT code, id, balance, user_id, false FROM ledger_accounts"
    f" WHERE code = ANY(CAST(:codes AS VARCHAR[])) AND kind IN {_UNTRACKED_SQL}"
)


async def _accounts(session: AsyncSession, codes: Iterable[str]) -> dict[str, tuple[int, bool, int | None]]:
    """code -> (id, tracked, owning user id)."""
    wanted = list(dict.fromkeys(codes))
    rows = await session.execute(
        select(LedgerAccount.code, LedgerAccount.id, LedgerAccount.kind, LedgerAccount.user_id).where(
            col(LedgerAccount.code).in_(wanted)
        )
    )
    found = {code: (int(id_), kind not in UNTRACKED_KINDS, owner) for code, id_, kind, owner in rows}
    missing = [code for code in wanted if code not in found]
    if missing:
        raise LookupError(f"ledger accounts missing: {missing}")
    return found


async def _move_many(session: AsyncSession, deltas: dict[int, int], *, locked: bool = False) -> None:
    """Move tracked balances (account id -> delta) in at most two statements, whatever their number.

    Unless ``lock_balances`` has ``locked`` them already, several rows are locked first in id order
    (one ``SELECT ... FOR UPDATE``) so concurrent transfers cannot deadlock; then one conditional
    ``UPDATE`` (one statement text whatever the number of rows: ``unnest`` on PostgreSQL, an
    executemany on SQLite) moves them all and refuses any that would take a non-negative account
    below zero: then the whole move fails with ``InsufficientFunds``.
    """
    moved = sorted((id_, delta) for id_, delta in deltas.items() if delta)
    if not moved:
        return
    ids = [id_ for id_, _ in moved]
    if not locked and len(ids) > 1:
        await session.execute(
            select(col(LedgerAccount.id))
            .where(col(LedgerAccount.id).in_(ids))
            .order_by(col(LedgerAccount.id))
            .with_for_update()
        )
    if core.on_postgresql(session):
        result = await session.execute(_MOVE_MANY_PG, {"ids": ids, "deltas": [delta for _, delta in moved]})
    else:
        result = await session.execute(_MOVE_ONE, [{"id": id_, "delta": delta} for id_, delta in moved])
    if result.rowcount != len(moved):  # type: ignore[attr-defined]
        raise InsufficientFunds("insufficient balance")


@dataclass(frozen=True, slots=True)
class TrialBalance:
    entries_total: int  # zero: every transaction is balanced
    mismatched: list[str]  # tracked accounts whose cached balance differs from their entries

    @property
    def ok(self) -> bool:
        return self.entries_total == 0 and not self.mismatched


async def trial_balance(session: AsyncSession) -> TrialBalance:
    total = await session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))
    sums = (
        select(LedgerEntry.account_id, func.sum(LedgerEntry.amount).label("total"))
        .group_by(col(LedgerEntry.account_id))
        .subquery()
    )
    rows = await session.execute(
        select(LedgerAccount.code, LedgerAccount.balance, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == LedgerAccount.id)
        .where(col(LedgerAccount.kind).not_in(UNTRACKED_KINDS))
    )
    mismatched = [code for code, cached, summed in rows if int(cached) != int(summed)]
    return TrialBalance(int(total or 0), mismatched)
