"""GraphQL types of price history and charts, and the resolvers of ``Market.priceHistory``,
``Market.priceSeries`` and ``Pool.chart`` (attached to those types in ``schema/markets.py``).

Prices are basis points (0..10000, YES), volumes kopecks, times UTC.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Protocol

import strawberry

from predictql.schema.context import Info
from predictql.schema.ids import Kind, decode
from predictql.schema.scalars import Long, Price
from predictql.services import candles, charts
from predictql.services.prices import probability_bps


class HasId(Protocol):
    id: strawberry.ID


@strawberry.enum(description="The width of one candle; buckets are aligned to the UTC epoch.")
class CandleInterval(Enum):
    ONE_MINUTE = strawberry.enum_value("ONE_MINUTE", description="1 minute.")
    FIVE_MINUTES = strawberry.enum_value("FIVE_MINUTES", description="5 minutes.")
    FIFTEEN_MINUTES = strawberry.enum_value("FIFTEEN_MINUTES", description="15 minutes.")
    ONE_HOUR = strawberry.enum_value("ONE_HOUR", description="1 hour.")
    FOUR_HOURS = strawberry.enum_value("FOUR_HOURS", description="4 hours.")
    ONE_DAY = strawberry.enum_value("ONE_DAY", description="1 UTC day.")
    ONE_WEEK = strawberry.enum_value("ONE_WEEK", description="7 days (epoch-aligned: weeks start on Thursday).")


@strawberry.enum(description="A chart's window and step, as the REST `scale` parameter names them.")
class ChartScale(Enum):
    ONE_HOUR = strawberry.enum_value("1h", description="The last hour, one point per minute.")
    ONE_DAY = strawberry.enum_value("1d", description="The last day, one point per 15 minutes.")
    ONE_WEEK = strawberry.enum_value("1w", description="The last 7 days, one point per hour.")
    ONE_MONTH = strawberry.enum_value("1m", description="The last 30 days, one point per 6 hours.")


SCALE_NAMES = {
    ChartScale.ONE_HOUR: "1h",
    ChartScale.ONE_DAY: "1d",
    ChartScale.ONE_WEEK: "1w",
    ChartScale.ONE_MONTH: "1m",
}


@strawberry.type(description="One bucket of a market's YES price: open, high, low, close and the volume traded.")
class Candle:
    start: datetime = strawberry.field(description="Start of the bucket (inclusive); it ends at the next start.")
    open: Price = strawberry.field(description="YES price at the bucket's start (the previous close).")
    high: Price = strawberry.field(description="Highest YES price in the bucket.")
    low: Price = strawberry.field(description="Lowest YES price in the bucket.")
    close: Price = strawberry.field(description="YES price at the bucket's end.")
    volume: Long = strawberry.field(description="Kopecks traded in the bucket (0 for a quiet bucket).")
    trade_count: int = strawberry.field(description="Trades executed in the bucket.")

    @classmethod
    def from_candle(cls, row: candles.Candle) -> Candle:
        return cls(
            start=row.start,
            open=Price(row.open),
            high=Price(row.high),
            low=Price(row.low),
            close=Price(row.close),
            volume=Long(row.volume),
            trade_count=row.trades,
        )


@strawberry.type(description="A market's YES price right after one change (a trade, a re-pricing, resolution).")
class PricePoint:
    timestamp: datetime = strawberry.field(description="When the price changed.")
    probability: float = strawberry.field(
        description="YES probability, 0..1.", deprecation_reason="Use price (Price, basis points)."
    )
    price: Price = strawberry.field(description="The YES price.")


@strawberry.type(description="One point of a pool chart: every market's YES price at the end of a bucket.")
class PoolChartPoint:
    timestamp: datetime = strawberry.field(description="End of the bucket (the last point is now).")
    probabilities: list[float] = strawberry.field(
        description="YES probability (0..1) per market, by outcome index.",
        deprecation_reason="Use prices (Price, basis points): the schema's one price type.",
    )
    prices: list[Price] = strawberry.field(description="YES price per market, by outcome index.")


async def market_price_history(
    root: HasId,
    info: Info,
    interval: Annotated[CandleInterval, strawberry.argument(description="Width of one candle.")],
    from_: Annotated[
        datetime | None,
        strawberry.argument(
            name="from",
            description="Start (inclusive, rounded down to the interval); "
            f"default {candles.DEFAULT_BUCKETS} intervals before `to`.",
        ),
    ] = None,
    to: Annotated[datetime | None, strawberry.argument(description="End (exclusive); default now.")] = None,
) -> list[Candle]:
    async with info.context.db.session() as session:
        rows = await candles.price_history(
            session, info.context.actor, decode(Kind.MARKET, root.id), interval=interval.name, start=from_, end=to
        )
    return [Candle.from_candle(row) for row in rows]


PRICE_HISTORY_DESCRIPTION = (
    f"OHLC candles of the YES price with volume, oldest first (at most {candles.MAX_BUCKETS} buckets: more is "
    "TOO_MANY_BUCKETS). A bucket without a trade or re-pricing repeats the previous close with volume 0; "
    "buckets before the market existed are left out."
)


async def market_price_series(root: HasId, info: Info) -> list[PricePoint]:
    async with info.context.db.session() as session:
        points = await charts.market_chart(session, info.context.actor, decode(Kind.MARKET, root.id))
    return [
        PricePoint(timestamp=p.timestamp, probability=p.probability, price=Price(probability_bps(p.probability)))
        for p in points
    ]


PRICE_SERIES_DESCRIPTION = "Every recorded YES price, oldest first (the REST /markets/{id}/chart series)."


async def pool_chart(
    root: HasId,
    info: Info,
    scale: Annotated[ChartScale, strawberry.argument(description="Window and step.")] = ChartScale.ONE_DAY,
) -> list[PoolChartPoint]:
    async with info.context.db.session() as session:
        pool_id = decode(Kind.POOL, root.id)
        points = await charts.pool_chart(session, info.context.actor, pool_id, scale=SCALE_NAMES[scale])
    return [
        PoolChartPoint(
            timestamp=p.timestamp,
            probabilities=list(p.values),
            prices=[Price(probability_bps(value)) for value in p.values],
        )
        for p in points
    ]


POOL_CHART_DESCRIPTION = (
    "Every market's YES price over the scale's window, one point per step (the REST /pools/{id}/ratio/chart): "
    "each point carries the last price at or before its time, so quiet markets still draw a line."
)
