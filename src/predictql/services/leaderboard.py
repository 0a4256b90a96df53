"""The leaderboard: users ranked by realized PnL or by traded volume over a period, one statement.

Users who hide their profile are left out (a leaderboard is public). Volume is the kopeck value
of the user's trades (``trades.amount``) made in the period; PnL the realized PnL of the user's
positions closed in the period (sold out or settled), in kopecks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.db import utcnow
from predictql.errors import InvalidInput
from predictql.models import Position, Trade, User
from predictql.services import referrals

PERIODS: dict[str, timedelta | None] = {
    "DAY": timedelta(days=1),
    "WEEK": timedelta(days=7),
    "MONTH": timedelta(days=30),
    "ALL": None,
}
MAX_ENTRIES = 100


@dataclass(frozen=True, slots=True)
class Entry:
    rank: int
    user_id: int
    name: str
    avatar_url: str | None
    value: int  # kopecks: PnL or volume, as ranked
    count: int  # trades (VOLUME) or positions closed (PNL)


async def leaderboard(
    session: AsyncSession, *, period: str, by: str, first: int = 20, now: datetime | None = None
) -> list[Entry]:
    if period not in PERIODS:
        raise InvalidInput(f"period must be one of {', '.join(PERIODS)}", code="INVALID_PERIOD")
    if not 1 <= first <= MAX_ENTRIES:
        raise InvalidInput(f"first must be 1-{MAX_ENTRIES}", code="INVALID_PAGINATION")
    span = PERIODS[period]
    since = (now or utcnow()) - span if span is not None else None
    if by == "VOLUME":
        value, count, when = func.sum(Trade.amount), func.count(col(Trade.id)), col(Trade.created_at)
        query = select(Trade.user_id, value, count).group_by(col(Trade.user_id))
    elif by == "PNL":
        closed_at = Position.__table__.c.closed_at  # type: ignore[attr-defined]
        value, count, when = func.sum(Position.realized_pnl), func.count(col(Position.id)), closed_at
        query = (
            select(Position.user_id, value, count).where(Position.status == "closed").group_by(col(Position.user_id))
        )
    else:
        raise InvalidInput("by must be PNL or VOLUME", code="INVALID_ORDER")
    if since is not None:
        query = query.where(when >= since)
    ranked = query.subquery()
    user_column, value_column, count_column = ranked.c
    rows = await session.execute(
        select(User, value_column, count_column)
        .join(ranked, user_column == User.id)
        .where(col(User.profile_hidden).is_(False))
        .order_by(value_column.desc(), col(User.id))
        .limit(first)
    )
    return [
        Entry(rank, user.id or 0, referrals.display_name(user), user.avatar_url, int(total), int(number))
        for rank, (user, total, number) in enumerate(rows, start=1)
    ]
