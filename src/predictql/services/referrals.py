"""The 3-level referral split of every collected fee, and what referrers read back.

Everything a referrer reads is computed from the records themselves: earnings are the ledger's
``referral_l1..3`` credits to their cash, volume is the value of their referrals' trades, deposits
are ledger ``deposit`` credits, and the levels follow the permanent ``users.referrer_id`` chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, TextClause, any_, bindparam, func, literal, text, union_all
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.errors import NotFound
from predictql.models import LedgerAccount, LedgerEntry, LedgerTransaction, Position, Trade, User, core
from predictql.pricing.fees import BPS_DENOMINATOR, REFERRAL_BPS, referral_split
from predictql.services import ledger, positions
from predictql.services.cursors import Page, PageArgs, count, keyset, window
from predictql.services.ledger import Movement

REFERRAL_KINDS = ("referral_l1", "referral_l2", "referral_l3")


def _chain_statement() -> Any:
    level1, level2 = aliased(User, name="level1"), aliased(User, name="level2")
    return (
        select(col(User.referrer_id), level1.referrer_id, level2.referrer_id)
        .select_from(User)
        .outerjoin(level1, level1.id == User.referrer_id)  # type: ignore[arg-type]
        .outerjoin(level2, level2.id == level1.referrer_id)  # type: ignore[arg-type]
        .where(col(User.id) == bindparam("user_id"))
    )


# Built once: a statement with fresh anonymous aliases per call misses SQLAlchemy's compiled
# cache and was recompiled on every trade (~4 ms of CPU each, measured with pyinstrument).
_CHAIN = _chain_statement()


async def chain(session: AsyncSession, user_id: int) -> list[int]:
    """The user's referrers, nearest first (at most 3), in one query."""
    row = (await session.execute(_CHAIN, {"user_id": user_id})).first()
    return _referrers(row or ())


def _referrers(levels: Iterable[Any]) -> list[int]:
    """A chain's referrer ids, nearest first, up to its first missing level."""
    referrers: list[int] = []
    for referrer in levels:
        if referrer is None:
            break
        referrers.append(int(referrer))
    return referrers


def _chains_statement() -> Any:
    level1, level2 = aliased(User, name="level1"), aliased(User, name="level2")
    return (
        select(User, level1.referrer_id, level2.referrer_id)
        .outerjoin(level1, level1.id == User.referrer_id)  # type: ignore[arg-type]
        .outerjoin(level2, level2.id == level1.referrer_id)  # type: ignore[arg-type]
        .where(col(User.id).in_(bindparam("user_ids", expanding=True)))
    )


_CHAINS = _chains_statement()

TICK_COLUMNS = ("id", "name", "nickname", "avatar_url", "profile_hidden", "referrer_id")
"""The user columns a trade's public tick shows (``payloads.TradeTick.of``), and the chain's start."""


def _traders_statement(*, postgresql: bool) -> Any:
    level1, level2 = aliased(User, name="level1"), aliased(User, name="level2")
    user = core.table(User)
    return (
        sql_select(*(user.c[name] for name in TICK_COLUMNS), col(level1.referrer_id), col(level2.referrer_id))
        .select_from(user)
        .outerjoin(level1, level1.id == user.c.referrer_id)  # type: ignore[arg-type]
        .outerjoin(level2, level2.id == level1.referrer_id)  # type: ignore[arg-type]
        .where(
            user.c.id == any_(bindparam("user_ids", type_=ARRAY(user.c.id.type)))
            if postgresql  # one statement text whatever the batch size: prepared once per connection
            else user.c.id.in_(bindparam("user_ids", expanding=True))
        )
    )


_TRADERS = _traders_statement(postgresql=False)
_TRADERS_PG = _traders_statement(postgresql=True)


async def traders_with_chains(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, tuple[User, list[int]]]:
    """``users_with_chains`` for a batch that shows its traders only in trade ticks: each user a
    transient row (``models.core.build``) holding ``TICK_COLUMNS`` alone, not loaded into the
    session (no ORM loading of whole user rows); one query for all."""
    statement = _TRADERS_PG if core.on_postgresql(session) else _TRADERS
    rows = await session.execute(statement, {"user_ids": list(dict.fromkeys(user_ids))})
    found: dict[int, tuple[User, list[int]]] = {}
    width = len(TICK_COLUMNS)
    for row in rows:
        user = core.build(User, dict(zip(TICK_COLUMNS, row[:width], strict=True)))
        found[int(row[0])] = (user, _referrers((user.referrer_id, row[width], row[width + 1])))
    return found


async def traders_with_positions(
    session: AsyncSession, user_ids: Iterable[int], market_id: int
) -> tuple[dict[int, tuple[User, list[int]]], list[Position]]:
    """``traders_with_chains`` and ``positions.load_open`` of the same users in ``market_id`` (open
    rows, locked in id order): on PostgreSQL one statement (the locked rows a materialized ``WITH``
    joined to the users), else both."""
    wanted = list(dict.fromkeys(user_ids))
    if not core.on_postgresql(session):
        return await traders_with_chains(session, wanted), await positions.load_open(session, market_id, wanted)
    found: dict[int, tuple[User, list[int]]] = {}
    held: list[Position] = []
    width, names = len(TICK_COLUMNS), core.columns(Position)
    for row in await session.execute(_traders_and_positions(), {"user_ids": wanted, "market_id": market_id}):
        if int(row[0]) not in found:
            user = core.build(User, dict(zip(TICK_COLUMNS, row[:width], strict=True)))
            found[int(row[0])] = (user, _referrers((user.referrer_id, row[width], row[width + 1])))
        if row[width + 2] is not None:  # the position's id: a user with none has one row of NULLs
            held.append(core.build(Position, dict(zip(names, row[width + 2 :], strict=True))))
    held.sort(key=lambda position: position.id or 0)
    return found, held


@cache
def _traders_and_positions() -> TextClause:
    """``_TRADERS_PG`` with each user's open positions in ``market_id`` (``load_open``'s rows and
    lock) joined on: a row per position, one with NULLs for a user without any."""
    ticks = ", ".join(f"u.{name}" for name in TICK_COLUMNS)
    held = ", ".join(f"p.{name}" for name in core.columns(Position))
    return text(
        "WITH p AS MATERIALIZED (SELECT * FROM positions WHERE user_id = ANY(:user_ids)"
        " AND market_id = :market_id AND status = 'open' ORDER BY id FOR UPDATE)"
        f" SELECT {ticks}, level1.referrer_id, level2.referrer_id, {held} FROM users AS u"
        " LEFT OUTER JOIN users AS level1 ON level1.id = u.referrer_id"
        " LEFT OUTER JOIN users AS level2 ON level2.id = level1.referrer_id"
        " LEFT OUTER JOIN p ON p.user_id = u.id WHERE u.id = ANY(:user_ids)"
    ).bindparams(bindparam("user_ids", type_=ARRAY(BigInteger)), bindparam("market_id", type_=BigInteger))


async def users_with_chains(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, tuple[User, list[int]]]:
    """Each user (loaded into the session) with their referrers, nearest first: one query for all."""
    rows = await session.execute(_CHAINS, {"user_ids": list(dict.fromkeys(user_ids))})
    found: dict[int, tuple[User, list[int]]] = {}
    for user, level2, level3 in rows:
        found[int(user.id)] = (user, _referrers((user.referrer_id, level2, level3)))
    return found


async def chains(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, list[int]]:
    """``chain`` of each of ``user_ids``, in one query whatever their number."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    return {user_id: referrers for user_id, (_, referrers) in (await users_with_chains(session, wanted)).items()}


def fee_movements(fee: int, referrers: list[int], *, payer_id: int, reference: tuple[str, int]) -> list[Movement]:
    """Distribute a fee already credited to ``platform:fees``: 15/4/1 % to referrers, rest to revenue."""
    if fee <= 0:
        return []
    shares, platform = referral_split(fee, len(referrers))
    movements = [
        ledger.transfer(
            REFERRAL_KINDS[level], ledger.FEES, ledger.user_cash(referrer), share, user_id=payer_id, reference=reference
        )
        for level, (referrer, share) in enumerate(zip(referrers, shares, strict=True))
    ]
    movements.append(
        ledger.transfer("fee_revenue", ledger.FEES, ledger.REVENUE, platform, user_id=payer_id, reference=reference)
    )
    return movements


@dataclass(frozen=True, slots=True)
class LevelStats:
    count: int
    total_volume: int
    earnings: int
    fee: float  # the level's share of each fee, as a fraction (0.15, 0.04, 0.01)


@dataclass(frozen=True, slots=True)
class Referrer:
    name: str
    image_url: str | None


@dataclass(frozen=True, slots=True)
class ReferralInfo:
    referral_code: str
    referrer: Referrer | None
    total_earnings: int
    total_referrals: int
    total_volume: int
    total_deposits: int
    levels: tuple[LevelStats, LevelStats, LevelStats]


@dataclass(frozen=True, slots=True)
class ReferralChild:
    """``total_bets`` counts buys (a sell is not a bet); ``total_volume`` is every trade's value."""

    id: int
    username: str
    image: str | None
    level: int
    joined_date: datetime
    total_bets: int
    total_volume: int
    total_deposits: int


def display_name(user: User) -> str:
    return user.nickname or user.name


def _tree(user_id: int) -> Any:
    """(user id, level 1..3) of everyone below ``user_id`` in the referral chain, as one CTE."""
    level1, level2, level3 = aliased(User), aliased(User), aliased(User)
    return union_all(
        select(level1.id, literal(1).label("level")).where(level1.referrer_id == user_id),
        select(level2.id, literal(2).label("level"))
        .join(level1, level1.id == level2.referrer_id)  # type: ignore[arg-type]
        .where(level1.referrer_id == user_id),
        select(level3.id, literal(3).label("level"))
        .join(level2, level2.id == level3.referrer_id)  # type: ignore[arg-type]
        .join(level1, level1.id == level2.referrer_id)  # type: ignore[arg-type]
        .where(level1.referrer_id == user_id),
    ).cte("tree")


async def _children(session: AsyncSession, user_id: int) -> list[ReferralChild]:
    """Every referral with their trading and deposits, in three queries whatever their number."""
    tree = _tree(user_id)
    rows = [
        (user, int(level))
        for user, level in await session.execute(
            select(User, tree.c.level).join(tree, tree.c.id == User.id).order_by(tree.c.level, col(User.id))
        )
    ]
    return await _with_activity(session, rows, select(tree.c.id))


async def children_page(session: AsyncSession, actor: Actor, args: PageArgs) -> Page[ReferralChild]:
    """The caller's referral tree (levels 1-3), newest sign-up first, keyset-paged on the user id
    (GraphQL connection); the trading and deposits of the page's users only."""
    args.checked()
    tree = _tree(actor.require_user())
    query = select(User, tree.c.level).join(tree, tree.c.id == User.id)
    total = await count(session, query) if args.with_total else None
    rows = [(user, int(level)) for user, level in await session.execute(keyset(query, col(User.id), args))]
    found = await _with_activity(session, rows, [user.id for user, _ in rows])
    return window(found, args, lambda child: child.id, total)


async def _with_activity(session: AsyncSession, rows: list[tuple[User, int]], ids: Any) -> list[ReferralChild]:
    """The referrals ``rows`` (user, level) with their trading and deposits; ``ids`` selects their ids."""
    trades = await session.execute(
        select(
            Trade.user_id,
            func.count().filter(col(Trade.side) == "buy"),
            func.coalesce(func.sum(Trade.amount), 0),
        )
        .where(col(Trade.user_id).in_(ids))
        .group_by(col(Trade.user_id))
    )
    activity = {int(uid): (int(bets), int(volume)) for uid, bets, volume in trades}
    deposits = await session.execute(
        select(LedgerAccount.user_id, func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerEntry, col(LedgerEntry.account_id) == LedgerAccount.id)
        .join(LedgerTransaction, col(LedgerTransaction.id) == LedgerEntry.transaction_id)
        .where(
            col(LedgerAccount.user_id).in_(ids),
            LedgerAccount.kind == "user_cash",
            LedgerTransaction.kind == "deposit",
        )
        .group_by(col(LedgerAccount.user_id))
    )
    deposited = {int(uid): int(total) for uid, total in deposits}
    return [
        ReferralChild(
            user.id or 0,
            display_name(user),
            user.avatar_url,
            level,
            user.created_at,
            *activity.get(user.id or 0, (0, 0)),
            deposited.get(user.id or 0, 0),
        )
        for user, level in rows
    ]


async def _earnings(session: AsyncSession, user_id: int) -> dict[str, int]:
    """Referral credits to the user's cash account, by ledger kind (``referral_l1`` ...)."""
    rows = await session.execute(
        select(LedgerTransaction.kind, func.sum(LedgerEntry.amount))
        .join(LedgerEntry, col(LedgerEntry.transaction_id) == LedgerTransaction.id)
        .join(LedgerAccount, col(LedgerAccount.id) == LedgerEntry.account_id)
        .where(
            LedgerAccount.code == ledger.user_cash(user_id),
            col(LedgerTransaction.kind).in_(REFERRAL_KINDS),
        )
        .group_by(col(LedgerTransaction.kind))
    )
    return {kind: int(total or 0) for kind, total in rows}


async def _user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found", code="user_not_found")
    return user


async def info(session: AsyncSession, actor: Actor) -> ReferralInfo:
    """The caller's code, referrer, and per-level counts, volumes and earnings (all kopecks)."""
    user = await _user(session, actor.require_user())
    assert user.id is not None
    referrer = await session.get(User, user.referrer_id) if user.referrer_id is not None else None
    children = await _children(session, user.id)
    earned = await _earnings(session, user.id)
    levels = tuple(
        LevelStats(
            count=sum(1 for child in children if child.level == level),
            total_volume=sum(child.total_volume for child in children if child.level == level),
            earnings=earned.get(REFERRAL_KINDS[level - 1], 0),
            fee=REFERRAL_BPS[level - 1] / BPS_DENOMINATOR,
        )
        for level in (1, 2, 3)
    )
    return ReferralInfo(
        referral_code=user.referral_code,
        referrer=Referrer(display_name(referrer), referrer.avatar_url) if referrer is not None else None,
        total_earnings=sum(stats.earnings for stats in levels),
        total_referrals=len(children),
        total_volume=sum(stats.total_volume for stats in levels),
        total_deposits=sum(child.total_deposits for child in children),
        levels=levels,  # type: ignore[arg-type]
    )


async def children(session: AsyncSession, actor: Actor) -> list[ReferralChild]:
    """Everyone in the caller's referral tree (levels 1-3), by level then sign-up order."""
    return await _children(session, actor.require_user())
