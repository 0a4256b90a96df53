"""A market's price history as OHLC candles with volume (what Kalshi and Polymarket serve).

Prices come from ``price_points`` (the YES probability after every change, one at creation), in
basis points through ``prices.probability_bps``; volume and trade counts from ``trades`` (kopecks).
Buckets are aligned to the UTC epoch, ``[start, start + interval)``. A candle opens at the previous
close (the last price at or before its start), so a chart has no gaps: a bucket without a change
is flat at the previous close with volume 0. Buckets before the market's first price are left out.
Everything is read in one statement and bucketed here, so SQLite and PostgreSQL agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Float, Integer, literal_column, union_all
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import InvalidInput
from predictql.models import PricePoint, Trade
from predictql.services import pools
from predictql.services.prices import probability_bps

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_BUCKETS = 1000
DEFAULT_BUCKETS = 100

INTERVALS: dict[str, timedelta] = {
    "ONE_MINUTE": timedelta(minutes=1),
    "FIVE_MINUTES": timedelta(minutes=5),
    "FIFTEEN_MINUTES": timedelta(minutes=15),
    "ONE_HOUR": timedelta(hours=1),
    "FOUR_HOURS": timedelta(hours=4),
    "ONE_DAY": timedelta(days=1),
    "ONE_WEEK": timedelta(weeks=1),
}


@dataclass(frozen=True, slots=True)
class Candle:
    start: datetime
    open: int  # YES basis points
    high: int
    low: int
    close: int
    volume: int  # kopecks traded in the bucket
    trades: int


@dataclass(frozen=True, slots=True)
class Window:
    """Bucket starts ``first, first + step, ...`` up to ``end`` (exclusive)."""

    first: datetime
    end: datetime
    step: timedelta

    @property
    def count(self) -> int:
        return -(-(self.end - self.first) // self.step)

    def index(self, moment: datetime) -> int:
        return (moment - self.first) // self.step


def window(interval: str, start: datetime | None, end: datetime | None, *, now: datetime) -> Window:
    """The epoch-aligned buckets covering ``[start, end)``; ``end`` defaults to now and ``start`` to
    ``DEFAULT_BUCKETS`` intervals before it. More than ``MAX_BUCKETS`` is refused."""
    step = INTERVALS.get(interval)
    if step is None:
        raise InvalidInput(f"interval must be one of {', '.join(INTERVALS)}", code="INVALID_INTERVAL")
    end = end or now
    start = start or end - step * DEFAULT_BUCKETS
    if start >= end:
        raise InvalidInput("from must be before to", code="INVALID_RANGE")
    found = Window(EPOCH + ((start - EPOCH) // step) * step, end, step)
    if found.count > MAX_BUCKETS:
        raise InvalidInput(
            f"{found.count} buckets of {interval} requested; at most {MAX_BUCKETS}: use a longer interval "
            "or a shorter from..to",
            code="TOO_MANY_BUCKETS",
        )
    return found


Row = tuple[datetime, int, float, int]  # (time, kind 0 price / 1 trade, probability, amount)


def bucketize(rows: Sequence[Row], span: Window) -> list[Candle]:
    """Candles from rows in time order; a price at or before ``span.first`` only seeds the open."""
    prices: list[list[int]] = [[] for _ in range(span.count)]
    volume = [0] * span.count
    trades = [0] * span.count
    previous: int | None = None
    for moment, kind, probability, amount in rows:
        index = span.index(moment)
        if kind == 1:
            if 0 <= index < span.count:
                volume[index] += amount
                trades[index] += 1
        elif moment <= span.first:
            previous = probability_bps(probability)
        elif index < span.count:
            prices[index].append(probability_bps(probability))
    candles = []
    for index in range(span.count):
        seen = prices[index] if previous is None else [previous, *prices[index]]
        if not seen:
            continue
        start = span.first + index * span.step
        candles.append(Candle(start, seen[0], max(seen), min(seen), seen[-1], volume[index], trades[index]))
        previous = seen[-1]
    return candles


async def _rows(session: AsyncSession, market_id: int, span: Window) -> list[Row]:
    """Price points and trades of the window plus the last price at or before it: one statement."""
    anchor = (
        select(col(PricePoint.id))
        .where(PricePoint.market_id == market_id, col(PricePoint.created_at) <= span.first)
        .order_by(col(PricePoint.created_at).desc(), col(PricePoint.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    point_columns = (
        col(PricePoint.created_at),
        col(PricePoint.id),
        literal_column("0", Integer).label("kind"),
        col(PricePoint.probability),
        literal_column("0", BigInteger).label("amount"),
    )
    points = core_select(*point_columns).where(
        col(PricePoint.market_id) == market_id,
        ((col(PricePoint.created_at) > span.first) & (col(PricePoint.created_at) < span.end))
        | (col(PricePoint.id) == anchor),
    )
    trade_columns = (
        col(Trade.created_at),
        col(Trade.id),
        literal_column("1", Integer),
        literal_column("0.0", Float),
        col(Trade.amount),
    )
    trades = core_select(*trade_columns).where(
        col(Trade.market_id) == market_id, col(Trade.created_at) >= span.first, col(Trade.created_at) < span.end
    )
    found = (await session.execute(union_all(points, trades))).all()
    ordered = sorted(found, key=lambda row: (row[0], row[2], row[1]))
    return [(moment, int(kind), float(probability), int(amount)) for moment, _, kind, probability, amount in ordered]


async def price_history(
    session: AsyncSession,
    actor: Actor,
    market_id: int,
    *,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> list[Candle]:
    """Candles of one market, oldest first; ``market_not_found`` when missing or hidden."""
    span = window(interval, start, end, now=now or utcnow())
    await pools.get_market(session, market_id, actor=actor)
    return bucketize(await _rows(session, market_id, span), span)
