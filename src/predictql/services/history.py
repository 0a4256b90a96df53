"""A user's own history: their trades (paged both ways) and the value of their portfolio over time."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import InvalidInput
from predictql.models import Event, LedgerAccount, LedgerEntry, Market, PricePoint, Trade
from predictql.services.charts import Scale, bucket_ends
from predictql.services.cursors import decode_cursor
from predictql.services.prices import probability_bps

MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class TradePage:
    items: list[Trade]  # newest first
    has_next: bool  # older trades follow the last item
    has_previous: bool  # newer trades precede the first item


def _page_size(first: int | None, last: int | None, before: str | None) -> tuple[int, bool]:
    """(size, backward): ``last`` or a lone ``before`` page backward (to newer trades); default 20."""
    if first is not None and last is not None:
        raise InvalidInput("pass first or last, not both", code="INVALID_PAGINATION")
    size = last if last is not None else (first if first is not None else 20)
    if not 1 <= size <= MAX_PAGE:
        raise InvalidInput(f"first/last must be 1-{MAX_PAGE}", code="INVALID_PAGINATION")
    return size, last is not None or (before is not None and first is None)


async def my_trades(
    session: AsyncSession,
    actor: Actor,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    market_id: int | None = None,
) -> TradePage:
    """The caller's trades (LMSR trades and book fills), newest first, keyset-paged on the trade id:
    ``first``/``after`` walk to older trades, ``last``/``before`` to newer ones."""
    user_id = actor.require_user()
    size, backward = _page_size(first, last, before)
    query = select(Trade).where(Trade.user_id == user_id)
    if market_id is not None:
        query = query.where(Trade.market_id == market_id)
    if after is not None:
        query = query.where(col(Trade.id) < decode_cursor(after))
    if before is not None:
        query = query.where(col(Trade.id) > decode_cursor(before))
    order = col(Trade.id).asc() if backward else col(Trade.id).desc()
    rows = list(await session.scalars(query.order_by(order).limit(size + 1)))
    more, items = len(rows) > size, rows[:size]
    if backward:
        return TradePage(items[::-1], has_next=before is not None, has_previous=more)
    return TradePage(items, has_next=more, has_previous=after is not None)


async def count_trades(session: AsyncSession, actor: Actor, *, market_id: int | None = None) -> int:
    query = select(func.count()).select_from(Trade).where(Trade.user_id == actor.require_user())
    if market_id is not None:
        query = query.where(Trade.market_id == market_id)
    return int(await session.scalar(query) or 0)


# --- portfolio value over time ------------------------------------------------------------------

PERIODS: dict[str, Scale] = {
    "DAY": Scale(timedelta(days=1), timedelta(hours=1)),
    "WEEK": Scale(timedelta(days=7), timedelta(hours=6)),
    "MONTH": Scale(timedelta(days=30), timedelta(days=1)),
    "ALL": Scale(timedelta(days=365), timedelta(days=7)),
}


@dataclass(frozen=True, slots=True)
class PortfolioPoint:
    timestamp: datetime
    cash: int  # kopecks: cash + bonus balance at that time
    positions: int  # kopecks: units held times their price at that time

    @property
    def value(self) -> int:
        return self.cash + self.positions


async def _balances(session: AsyncSession, user_id: int) -> list[tuple[datetime, int]]:
    rows = await session.execute(
        select(LedgerEntry.created_at, LedgerEntry.amount)
        .join(LedgerAccount, col(LedgerAccount.id) == LedgerEntry.account_id)
        .where(LedgerAccount.user_id == user_id, col(LedgerAccount.kind).in_(("user_cash", "user_bonus")))
        .order_by(col(LedgerEntry.created_at), col(LedgerEntry.id))
    )
    return [(moment, int(amount)) for moment, amount in rows]


async def _trades(session: AsyncSession, user_id: int) -> list[tuple[datetime, int, str, str, int, datetime | None]]:
    """(time, market, side, token, shares, when the holding ended: resolution or cancellation)."""
    rows = await session.execute(
        core_select(
            col(Trade.created_at),
            col(Trade.market_id),
            col(Trade.side),
            col(Trade.token),
            col(Trade.shares),
            func.coalesce(Market.resolved_at, Event.cancelled_at),
        )
        .join(Market, col(Market.id) == Trade.market_id)
        .join(Event, col(Event.id) == Trade.event_id)
        .where(col(Trade.user_id) == user_id)
        .order_by(col(Trade.created_at), col(Trade.id))
    )
    return [(t, m, side, token, int(shares), ended) for t, m, side, token, shares, ended in rows]


async def _prices(session: AsyncSession, market_ids: set[int]) -> dict[int, list[tuple[datetime, int]]]:
    found: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    if market_ids:
        rows = await session.execute(
            select(PricePoint.market_id, PricePoint.created_at, PricePoint.probability)
            .where(col(PricePoint.market_id).in_(market_ids))
            .order_by(col(PricePoint.created_at), col(PricePoint.id))
        )
        for market_id, moment, probability in rows:
            found[market_id].append((moment, probability_bps(probability)))
    return found


def _at(series: list[tuple[datetime, int]], moment: datetime) -> int:
    value = 0
    for when, amount in series:
        if when > moment:
            break
        value = amount
    return value


async def portfolio_history(
    session: AsyncSession, actor: Actor, *, period: str, now: datetime | None = None
) -> list[PortfolioPoint]:
    """One point per step of ``period`` (see ``PERIODS``; the last point is now): the caller's
    cash and bonus balance from the ledger plus, per market and token, the units bought minus
    sold by then times the token's last recorded price by then. A holding stops counting when its
    market resolves or its event is cancelled (the payout or refund is in the balance from then).
    Money escrowed in resting orders is not counted. Three statements whatever the history."""
    user_id = actor.require_user()
    scale = PERIODS.get(period)
    if scale is None:
        raise InvalidInput(f"period must be one of {', '.join(PERIODS)}", code="INVALID_PERIOD")
    now = now or utcnow()
    entries, trades = await _balances(session, user_id), await _trades(session, user_id)
    prices = await _prices(session, {market_id for _, market_id, *_ in trades})
    points = []
    for moment in bucket_ends(now, scale):
        cash = sum(amount for when, amount in entries if when <= moment)
        held: dict[tuple[int, str], int] = defaultdict(int)
        for when, market_id, side, token, shares, ended in trades:
            if when <= moment and (ended is None or ended > moment):
                held[(market_id, token)] += shares if side == "buy" else -shares
        value = 0
        for (market_id, token), units in held.items():
            yes = _at(prices[market_id], moment)
            value += units * (yes if token == "YES" else 10_000 - yes) // 10_000
        points.append(PortfolioPoint(moment, cash, value))
    return points
