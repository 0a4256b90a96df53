"""A user's PnL chart: cumulative realized PnL of their closed positions, one point per day.

Days are UTC calendar days; a point's ``timestamp`` is the day's midnight and its ``pnl`` the total
realized up to the end of that day, in kopecks. The chart starts with a zero point on the day
before the first close, so it always rises or falls from zero (the documented example starts at
``0.00``). Days without a close carry no point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.errors import NotFound
from predictql.models import Position, User


@dataclass(frozen=True, slots=True)
class PnlPoint:
    timestamp: datetime
    pnl: int  # kopecks, cumulative

    @property
    def pnl_units(self) -> float:
        """Currency units (the REST chart shows ``45.30`` for 4530 kopecks)."""
        return round(self.pnl / 100, 2)


def _midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), time(), tzinfo=UTC)


async def chart(session: AsyncSession, actor: Actor, *, user_id: int) -> list[PnlPoint]:
    """``user_not_found`` for an unknown user; a hidden profile has an empty chart for others."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found", code="user_not_found")
    if user.profile_hidden and actor.user_id != user_id:
        return []
    rows = await session.execute(
        select(Position.closed_at, Position.realized_pnl)
        .where(Position.user_id == user_id, Position.status == "closed", col(Position.closed_at).is_not(None))
        .order_by(col(Position.closed_at), col(Position.id))
    )
    by_day: dict[datetime, int] = {}
    for closed_at, pnl in rows:
        day = _midnight(closed_at)
        by_day[day] = by_day.get(day, 0) + int(pnl)
    if not by_day:
        return []
    points = [PnlPoint(min(by_day) - timedelta(days=1), 0)]
    for day in sorted(by_day):
        points.append(PnlPoint(day, points[-1].pnl + by_day[day]))
    return points


async def my_chart(session: AsyncSession, actor: Actor) -> list[PnlPoint]:
    return await chart(session, actor, user_id=actor.require_user())
