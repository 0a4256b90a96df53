"""The central-bank FX source (``price_feeds/cbr.py``) against the CBR daily JSON format, served by
the local fake (``tests/fakes/bybit.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from predictql.db import Database
from predictql.price_feeds.cbr import CbrFeed, parse_daily
from predictql.services import assets
from predictql.settings import Settings
from tests.conftest import make_settings
from tests.fakes.bybit import FakeBybit, running_fake

DAILY = {
    "Date": "2026-12-05T11:30:00+03:00",
    "PreviousDate": "2026-12-04T11:30:00+03:00",
    "Timestamp": "2026-12-04T20:00:00+03:00",
    "Valute": {
        "USD": {
            "ID": "R01235",
            "NumCode": "840",
            "CharCode": "USD",
            "Nominal": 1,
            "Name": "Доллар США",
            "Value": 92.4512,
            "Previous": 92.1,
        },
        "EUR": {
            "ID": "R01239",
            "NumCode": "978",
            "CharCode": "EUR",
            "Nominal": 1,
            "Name": "Евро",
            "Value": 100.25,
            "Previous": 100.0,
        },
        "JPY": {
            "ID": "R01820",
            "NumCode": "392",
            "CharCode": "JPY",
            "Nominal": 100,
            "Name": "Японских иен",
            "Value": 61.5,
            "Previous": 61.0,
        },
        "BAD": {"CharCode": "BAD", "Nominal": 1, "Value": "n/a"},
    },
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeBybit]:
    async with running_fake() as running:
        yield running


def test_the_daily_document_is_read_per_unit() -> None:
    as_of, rates = parse_daily(DAILY)
    assert as_of == datetime(2026, 12, 4, 17, 0, tzinfo=UTC)  # published (Timestamp), not effective (Date)
    assert rates == {
        "USD": assets.parse_e8("92.4512"),
        "EUR": assets.parse_e8("100.25"),
        "JPY": assets.parse_e8("0.615"),
    }  # 61.5 roubles per 100 yen; the unusable one is left out


async def test_rates_are_recorded_and_crossed(
    client: httpx.AsyncClient, db: Database, settings: Settings, fake: FakeBybit
) -> None:
    config = make_settings(
        settings.resolved_database_url, settings.data_dir, fx_source="cbr", fx_url=f"{fake.rest_url}/daily_json.js"
    )
    feed = CbrFeed(db, config)
    fake.cbr = None
    with pytest.raises(httpx.HTTPStatusError):
        await feed.poll()
    fake.cbr = DAILY
    assert await feed.poll() == 3
    body = (await client.get("/api/v1/currency/rate", params={"from": "USD", "to": "RUB"})).json()
    assert body["rate"] == 92.4512 and body["source"] == "cbr" and body["as_of"] == "2026-12-04T17:00:00Z"
    crossed = (await client.get("/api/v1/currency/rate", params={"from": "EUR", "to": "USD"})).json()
    assert crossed["rate"] == pytest.approx(100.25 / 92.4512)
    # An operator rate set later wins; an older central-bank document does not replace it.
    async with db.transaction() as session:
        await assets.set_rate(session, None, base="USD", quote="RUB", rate="95")
    assert await feed.poll() == 3
    assert (await client.get("/api/v1/currency/rate", params={"from": "USD", "to": "RUB"})).json()["rate"] == 95.0
