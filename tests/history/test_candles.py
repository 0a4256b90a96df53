"""Market.priceHistory (OHLC candles), Market.priceSeries and Pool.chart on the real stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from predictql.db import Database, utcnow
from predictql.models import Market, PricePoint, Trade
from predictql.schema.ids import Kind
from predictql.services import candles
from tests.api.test_lmsr_api import live_market
from tests.graphql.test_round_trips import count_statements
from tests.history.ids import gid
from tests.support import create_user, gql

HISTORY = """query($id: ID!, $interval: CandleInterval!, $from: DateTime, $to: DateTime) {
  market(id: $id) { priceHistory(interval: $interval, from: $from, to: $to) {
    start open high low close volume tradeCount } } }"""


def data(body: dict[str, Any]) -> Any:
    assert "errors" not in body, body["errors"]
    return body["data"]


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def seed_history(db: Database, market: Market, hour: datetime) -> None:
    """Prices at :10 (0.40), :20 (0.60), :50 (0.55) of ``hour`` and 2h10 later (0.30); trades of
    1000 and 500 kopecks in the first hour and 200 in the third."""
    user_id = await create_user(db)
    async with db.transaction() as session:
        for minutes, probability in ((10, 0.40), (20, 0.60), (50, 0.55), (130, 0.30)):
            session.add(
                PricePoint(
                    market_id=market.id or 0, probability=probability, created_at=hour + timedelta(minutes=minutes)
                )
            )
        for minutes, amount in ((15, 1000), (40, 500), (140, 200)):
            session.add(
                Trade(
                    market_id=market.id or 0,
                    event_id=market.event_id,
                    user_id=user_id,
                    side="buy",
                    token="YES",
                    shares=amount,
                    price=5000,
                    amount=amount,
                    created_at=hour + timedelta(minutes=minutes),
                )
            )


def past_hour() -> datetime:
    now = utcnow()
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=10)


def candle(start: datetime, o: int, h: int, low: int, c: int, volume: int, count: int) -> dict[str, Any]:
    return {"start": stamp(start), "open": o, "high": h, "low": low, "close": c, "volume": volume, "tradeCount": count}


async def test_candles_carry_the_previous_close(client: httpx.AsyncClient, db: Database) -> None:
    market = await live_market(db)
    hour = past_hour()
    await seed_history(db, market, hour)
    mid = gid(Kind.MARKET, market.id)
    window = {
        "id": mid,
        "interval": "ONE_HOUR",
        "from": stamp(hour - timedelta(hours=1)),
        "to": stamp(hour + timedelta(hours=3)),
    }
    found = data(await gql(client, HISTORY, window))["market"]["priceHistory"]
    assert found == [  # the hour before the first price is left out
        candle(hour, 4000, 6000, 4000, 5500, 1500, 2),
        candle(hour + timedelta(hours=1), 5500, 5500, 5500, 5500, 0, 0),  # quiet: previous close, no volume
        candle(hour + timedelta(hours=2), 5500, 5500, 3000, 3000, 200, 1),
    ]
    # A window starting mid-bucket is rounded down and opens at the last earlier price.
    later = {**window, "from": stamp(hour + timedelta(minutes=90)), "to": stamp(hour + timedelta(minutes=121))}
    found = data(await gql(client, HISTORY, later))["market"]["priceHistory"]
    assert found == [
        candle(hour + timedelta(hours=1), 5500, 5500, 5500, 5500, 0, 0),
        candle(hour + timedelta(hours=2), 5500, 5500, 5500, 5500, 0, 0),
    ]
    # Fifteen-minute candles split the first hour.
    quarter = {**window, "interval": "FIFTEEN_MINUTES", "to": stamp(hour + timedelta(minutes=30))}
    found = data(await gql(client, HISTORY, quarter))["market"]["priceHistory"]
    assert found == [
        candle(hour, 4000, 4000, 4000, 4000, 0, 0),
        candle(hour + timedelta(minutes=15), 4000, 6000, 4000, 6000, 1000, 1),
    ]


async def test_a_new_market_has_one_flat_candle_and_defaults_to_now(client: httpx.AsyncClient, db: Database) -> None:
    market = await live_market(db)  # YES 0.65, one price point at creation
    found = data(await gql(client, HISTORY, {"id": gid(Kind.MARKET, market.id), "interval": "ONE_DAY"}))
    (only,) = found["market"]["priceHistory"]
    assert (only["open"], only["close"], only["volume"]) == (6500, 6500, 0)


async def test_bounds_and_bad_windows_are_refused(client: httpx.AsyncClient, db: Database) -> None:
    market = await live_market(db)
    mid = gid(Kind.MARKET, market.id)
    now = utcnow()
    too_many = {"id": mid, "interval": "ONE_MINUTE", "from": stamp(now - timedelta(days=1)), "to": stamp(now)}
    body = await gql(client, HISTORY, too_many)
    assert body["errors"][0]["extensions"]["code"] == "TOO_MANY_BUCKETS", body
    assert "at most 1000" in body["errors"][0]["message"]
    backwards = {**too_many, "from": stamp(now), "to": stamp(now - timedelta(hours=1))}
    assert (await gql(client, HISTORY, backwards))["errors"][0]["extensions"]["code"] == "INVALID_RANGE"
    bad_enum = await gql(client, HISTORY, {**too_many, "interval": "TWO_MINUTES"})
    assert bad_enum["errors"][0]["extensions"]["code"] in {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}


def test_window_arithmetic() -> None:
    now = datetime(2026, 1, 1, 12, 7, tzinfo=UTC)
    span = candles.window("FIFTEEN_MINUTES", None, None, now=now)
    assert span.count == candles.DEFAULT_BUCKETS + 1 and span.first.minute % 15 == 0
    exactly = candles.window("ONE_MINUTE", now - timedelta(minutes=candles.MAX_BUCKETS), now, now=now)
    assert exactly.count == candles.MAX_BUCKETS


async def test_point_series_and_pool_chart(client: httpx.AsyncClient, db: Database) -> None:
    market = await live_market(db, probabilities=(0.25, 0.75))
    query = """query($m: ID!, $p: ID!) { market(id: $m) { priceSeries { probability price } }
      pool(id: $p) { chart(scale: ONE_HOUR) { timestamp probabilities prices } } }"""
    found = data(await gql(client, query, {"m": gid(Kind.MARKET, market.id), "p": gid(Kind.POOL, market.pool_id)}))
    rest = (await client.get(f"/api/v1/markets/{market.id}/chart")).json()
    assert [p["probability"] for p in found["market"]["priceSeries"]] == [p["probability"] for p in rest] == [0.25]
    assert found["market"]["priceSeries"][0]["price"] == 2500
    points = found["pool"]["chart"]
    assert points and points[-1]["prices"] == [2500, 7500]
    assert points[-1]["probabilities"] == [0.25, 0.75]


async def test_statements_do_not_grow_with_trades(app_client: tuple[httpx.AsyncClient, Database], db: Database) -> None:
    client, app_db = app_client
    market = await live_market(db)
    hour = past_hour()
    variables = {
        "id": gid(Kind.MARKET, market.id),
        "interval": "FIVE_MINUTES",
        "from": stamp(hour),
        "to": stamp(hour + timedelta(hours=4)),
    }
    with count_statements(app_db) as few:
        data(await gql(client, HISTORY, variables))
    for shift in range(3):
        await seed_history(db, market, hour + timedelta(minutes=shift))
    with count_statements(app_db) as many:
        assert len(data(await gql(client, HISTORY, variables))["market"]["priceHistory"]) == 46  # from :10
    assert len(few) == len(many) <= 8, (few, many)  # two sessions: market(id), its history
