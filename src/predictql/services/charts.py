"""Probability charts, read from ``price_points`` (one row per change of a market's YES price).

A pool chart has one point per time bucket; each point carries, per outcome, the last YES
probability recorded at or before the bucket's end. Quiet markets therefore still draw a line,
and the first bucket shows the value from before the window. Bucketing is the pure function
``bucketize``; each chart (or the four at once) costs one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import InvalidInput
from predictql.models import Market, PricePoint
from predictql.services import events, pools

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_SCALE = "1d"


@dataclass(frozen=True, slots=True)
class Scale:
    window: timedelta
    step: timedelta


SCALES: dict[str, Scale] = {
    "1h": Scale(timedelta(hours=1), timedelta(minutes=1)),
    "1d": Scale(timedelta(days=1), timedelta(minutes=15)),
    "1w": Scale(timedelta(days=7), timedelta(hours=1)),
    "1m": Scale(timedelta(days=30), timedelta(hours=6)),
}
WIDEST = max(SCALES.values(), key=lambda scale: scale.window)


@dataclass(frozen=True, slots=True)
class ChartPoint:
    timestamp: datetime
    values: tuple[float, ...]  # YES probability (0..1) per outcome, in outcome order


@dataclass(frozen=True, slots=True)
class MarketPoint:
    timestamp: datetime
    probability: float


Series = Sequence[tuple[datetime, float]]  # one outcome's (time, probability), chronological
Loaded = list[list[tuple[datetime, float]]]


def scale_of(name: str | None) -> Scale:
    scale = SCALES.get(name or DEFAULT_SCALE)
    if scale is None:
        raise InvalidInput(f"scale must be one of {', '.join(SCALES)}", code="invalid_scale")
    return scale


def bucket_ends(now: datetime, scale: Scale) -> list[datetime]:
    """Ends of the step-aligned (UTC epoch) buckets that cover ``(now - window, now]``; the last
    bucket is still running, so its point is ``now`` itself."""
    start = now - scale.window
    end = EPOCH + ((start - EPOCH) // scale.step + 1) * scale.step
    ends = []
    while end < now:
        ends.append(end)
        end += scale.step
    ends.append(now)
    return ends


def bucketize(series: Sequence[Series], *, now: datetime, scale: Scale) -> list[ChartPoint]:
    """One point per bucket end, each outcome's last value at or before it (carried forward).

    ``series`` may start before the window: those points seed the first bucket. Buckets before
    every outcome has a value (before the pool existed) are left out.
    """
    if not series:
        return []
    cursors = [0] * len(series)
    current: list[float | None] = [None] * len(series)
    points = []
    for end in bucket_ends(now, scale):
        for index, outcome in enumerate(series):
            while cursors[index] < len(outcome) and outcome[cursors[index]][0] <= end:
                current[index] = outcome[cursors[index]][1]
                cursors[index] += 1
        if all(value is not None for value in current):
            points.append(ChartPoint(end, tuple(value for value in current if value is not None)))
    return points


async def _series(session: AsyncSession, markets: Sequence[Market], since: datetime) -> Loaded:
    """Per market (in the given order): its points after ``since`` plus the last one at or before
    it, in one statement whatever the number of markets."""
    ids = [market.id for market in markets if market.id is not None]
    columns = (col(PricePoint.market_id), col(PricePoint.created_at), col(PricePoint.probability), col(PricePoint.id))
    recent = select(*columns).where(col(PricePoint.market_id).in_(ids), col(PricePoint.created_at) > since)
    earlier = aliased(PricePoint)
    last_before = (
        select(col(earlier.id))
        .where(col(earlier.market_id) == Market.id, col(earlier.created_at) <= since)
        .order_by(col(earlier.created_at).desc(), col(earlier.id).desc())
        .limit(1)
        .correlate(Market)
        .scalar_subquery()
    )
    anchors = select(*columns).where(col(PricePoint.id).in_(select(last_before).where(col(Market.id).in_(ids))))
    rows = sorted((await session.execute(union_all(recent, anchors))).all(), key=lambda row: (row[1], row[3]))
    found: dict[int, list[tuple[datetime, float]]] = {market_id: [] for market_id in ids}
    for market_id, created_at, probability, _ in rows:
        found[market_id].append((created_at, probability))
    return [found[market.id] for market in markets if market.id is not None]


async def _pool_series(session: AsyncSession, actor: Actor, pool_id: int, since: datetime) -> Loaded:
    pool = await pools.get_pool(session, pool_id, actor=actor)
    assert pool.id is not None
    markets = (await events.markets_of(session, [pool.id]))[pool.id]
    return await _series(session, markets, since)


async def pool_chart(
    session: AsyncSession, actor: Actor, pool_id: int, *, scale: str | None = None, now: datetime | None = None
) -> list[ChartPoint]:
    """``/pools/{id}/ratio/chart``: one scale (default 1d); pool_not_found when missing or hidden."""
    chosen = scale_of(scale)
    now = now or utcnow()
    series = await _pool_series(session, actor, pool_id, now - chosen.window)
    return bucketize(series, now=now, scale=chosen)


async def pool_charts(
    session: AsyncSession, actor: Actor, pool_id: int, *, now: datetime | None = None
) -> dict[str, list[ChartPoint]]:
    """``/pools/{id}/charts``: every scale, bucketed from one read of the widest window."""
    now = now or utcnow()
    series = await _pool_series(session, actor, pool_id, now - WIDEST.window)
    return {name: bucketize(series, now=now, scale=scale) for name, scale in SCALES.items()}


async def market_chart(session: AsyncSession, actor: Actor, market_id: int) -> list[MarketPoint]:
    """``/markets/{id}/chart``: every recorded YES probability, chronological."""
    market = await pools.get_market(session, market_id, actor=actor)
    rows = await session.execute(
        select(PricePoint.created_at, PricePoint.probability)
        .where(PricePoint.market_id == market.id)
        .order_by(col(PricePoint.created_at), col(PricePoint.id))
    )
    return [MarketPoint(created_at, probability) for created_at, probability in rows]
