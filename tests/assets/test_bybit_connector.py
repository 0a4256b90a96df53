"""The exchange connector against a local fake Bybit (``tests/fakes/bybit.py``): tickers arrive over
the socket with pings, a dropped connection is reconnected, the REST tickers stand in while the
socket is down, a silent socket is given up, and the app runs the connector when settings say so."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database
from predictql.models import AlertFiring, Notification, PriceAlert
from predictql.price_feeds.bybit import BybitFeed
from predictql.services import alerts, assets
from predictql.services.alerts import AlertSpec
from predictql.settings import Settings
from predictql.subscriptions import topics
from predictql.subscriptions.bus import Delivery, Message
from predictql.subscriptions.payloads import AssetPriceTick, NotificationTick
from tests.conftest import make_settings
from tests.fakes.bybit import FakeBybit, running_fake
from tests.subscriptions.conftest import Live
from tests.support import create_user

Heard = tuple[str, int, str]


def feed_settings(settings: Settings, fake: FakeBybit, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "price_source": "bybit",
        "bybit_ws_url": fake.ws_url,
        "bybit_rest_url": fake.rest_url,
        "bybit_ping_seconds": 0.2,
        "bybit_reconnect_max_seconds": 0.8,
        "bybit_rest_poll_seconds": 0.05,
        "price_record_seconds": 0.05,
        "price_symbols": ["BTCUSDT", "ETHUSDT"],
    }
    return make_settings(settings.resolved_database_url, settings.data_dir, **{**values, **overrides})


@pytest.fixture
async def fake() -> AsyncIterator[FakeBybit]:
    async with running_fake() as running:
        yield running


@contextlib.asynccontextmanager
async def connector(db: Database, settings: Settings) -> AsyncIterator[tuple[BybitFeed, asyncio.Queue[Heard]]]:
    heard: asyncio.Queue[Heard] = asyncio.Queue()
    feed = BybitFeed(db, settings, observer=lambda *item: heard.put_nowait(item))
    task = asyncio.create_task(feed.run())
    try:
        yield feed, heard
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def recorded(heard: asyncio.Queue[Heard], price: str, via: str, within: float = 10.0) -> Heard:
    """The first recording of ``price`` heard ``via`` ws or rest (earlier ones are skipped)."""

    async def first() -> Heard:
        while True:
            item = await heard.get()
            if item[1] == assets.parse_e8(price) and item[2] == via:
                return item

    return await asyncio.wait_for(first(), within)


async def stored(db: Database, symbol: str) -> assets.Quote:
    async with db.session() as session:
        return await assets.get_price(session, symbol=symbol, stale_seconds=60)


async def test_ticks_arrive_over_the_socket_with_pings(db: Database, settings: Settings, fake: FakeBybit) -> None:
    async with connector(db, feed_settings(settings, fake)) as (feed, heard):
        await asyncio.wait_for(feed.connected.wait(), 10)
        assert await fake.push("BTCUSDT", "84532.17") == 1
        await fake.push("SOLUSDT", "150")  # not followed: not subscribed, not recorded
        symbol, _, _ = await recorded(heard, "84532.17", "ws")
        assert symbol == "BTCUSDT"
        quote = await stored(db, "BTCUSDT")
        assert quote.price_e8 == assets.parse_e8("84532.17") and quote.source == "bybit" and not quote.stale
        await fake.wait_for(lambda: fake.pings >= 2)  # {"op":"ping"} every 0.2 s
        assert fake.connections == 1
    async with db.session() as session:
        with pytest.raises(Exception, match="asset not found"):
            await assets.get_price(session, symbol="SOLUSDT", stale_seconds=60)


async def test_a_dropped_connection_is_reconnected(db: Database, settings: Settings, fake: FakeBybit) -> None:
    async with connector(db, feed_settings(settings, fake)) as (feed, heard):
        await asyncio.wait_for(feed.connected.wait(), 10)
        await fake.push("ETHUSDT", "3000")
        await recorded(heard, "3000", "ws")
        await fake.drop()
        await fake.wait_for(lambda: fake.connections == 2 and len(fake.subscriptions) == 1)
        await asyncio.wait_for(feed.connected.wait(), 10)
        assert feed.sessions == 2
        await fake.push("ETHUSDT", "3050.5")
        await recorded(heard, "3050.5", "ws")
        assert (await stored(db, "ETHUSDT")).price_e8 == assets.parse_e8("3050.5")


async def test_rest_fallback_while_the_socket_is_down(db: Database, settings: Settings, fake: FakeBybit) -> None:
    async with connector(db, feed_settings(settings, fake)) as (feed, heard):
        await asyncio.wait_for(feed.connected.wait(), 10)
        fake.refuse = True  # the socket goes down and stays down
        await fake.drop()
        fake.prices["BTCUSDT"] = "90000.5"  # only the REST tickers know it
        await recorded(heard, "90000.5", "rest")
        assert not feed.connected.is_set() and fake.rest_calls > 0
        assert (await stored(db, "BTCUSDT")).price_e8 == assets.parse_e8("90000.5")
        fake.refuse = False  # back: the connector returns to the socket (back-off at most 0.8 s)
        await fake.wait_for(lambda: len(fake.subscriptions) == 1)
        await asyncio.wait_for(feed.connected.wait(), 10)
        await fake.push("BTCUSDT", "90100")
        await recorded(heard, "90100", "ws")


async def test_a_silent_socket_is_given_up(db: Database, settings: Settings, fake: FakeBybit) -> None:
    fake.silent = True  # no pong, no ticker: dropped after two ping periods
    async with connector(db, feed_settings(settings, fake)) as (feed, _):
        await fake.wait_for(lambda: fake.connections >= 2)
        assert feed.sessions >= 1


async def test_the_app_runs_the_connector_it_is_configured_with(
    live_with: Callable[..., AbstractAsyncContextManager[Live]], db: Database, settings: Settings, fake: FakeBybit
) -> None:
    configured = feed_settings(settings, fake)
    overrides = {
        name: getattr(configured, name)
        for name in (
            "price_source",
            "bybit_ws_url",
            "bybit_rest_url",
            "bybit_ping_seconds",
            "price_record_seconds",
            "price_symbols",
        )
    }
    async with live_with(**overrides) as live:
        async with live.bus.subscribe(topics.asset_price_channel("BTCUSDT")) as published:
            await fake.wait_for(lambda: len(fake.subscriptions) == 1)
            await fake.push("BTCUSDT", "84000")
            tick = AssetPriceTick.from_json((await asyncio.wait_for(anext(published), 10)).text)
        assert tick.price_e8 == assets.parse_e8("84000") and tick.source == "bybit"
        body = (await live.http.get("/api/v1/assets/BTCUSDT/price")).json()
        assert body["price"] == 84000.0 and body["source"] == "bybit"


async def test_rest_errors_are_survived(db: Database, settings: Settings, fake: FakeBybit) -> None:
    fake.refuse = True
    async with connector(db, feed_settings(settings, fake, price_symbols=["NOPEUSDT", "BTCUSDT"])) as (_, heard):
        fake.prices["BTCUSDT"] = "1.5"  # NOPEUSDT answers retCode 10001; BTCUSDT still goes through
        await recorded(heard, "1.5", "rest")


async def next_message(published: AsyncIterator[Delivery], within: float = 10.0) -> str:
    """The next message's text on a bus subscription (heartbeats skipped)."""

    async def first() -> str:
        while not isinstance(item := await anext(published), Message):
            pass
        return item.text

    return await asyncio.wait_for(first(), within)


async def test_an_asset_alert_fires_once_when_the_fake_ticker_crosses_it(
    live_with: Callable[..., AbstractAsyncContextManager[Live]], db: Database, settings: Settings, fake: FakeBybit
) -> None:
    """End to end: the app's connector hears the fake exchange's tickers, records them through
    ``assets.record_price``, and the crossing fires the alert once, as a notification on the owner's
    live channel and one line of the alert log; moves that stay above, or cross again, fire nothing."""
    owner = await create_user(db)
    async with db.transaction() as session:
        alert = await alerts.create(
            session,
            Actor(user_id=owner),
            AlertSpec(direction="above", level=Decimal(50000), symbol="BTCUSDT"),
            max_active=20,
        )
    configured = feed_settings(settings, fake)
    overrides = {
        name: getattr(configured, name)
        for name in (
            "price_source",
            "bybit_ws_url",
            "bybit_rest_url",
            "bybit_ping_seconds",
            "price_record_seconds",
            "price_symbols",
        )
    }
    async with live_with(**overrides) as live:
        prices = live.bus.subscribe(topics.asset_price_channel("BTCUSDT"))
        notes = live.bus.subscribe(topics.user_notifications_channel(owner))
        async with prices as heard_prices, notes as heard_notes:
            await fake.wait_for(lambda: len(fake.subscriptions) == 1)

            async def tick(price: str) -> None:
                """Push ``price`` and wait until the app recorded and published it (a recording takes a
                flush period, so the next ticker's ``ts`` is newer)."""
                await fake.push("BTCUSDT", price)
                while AssetPriceTick.from_json(await next_message(heard_prices)).price_e8 != assets.parse_e8(price):
                    pass

            for price in ("49000", "50500.5", "51000", "49999", "50001"):
                await tick(price)
            note = NotificationTick.from_json(await next_message(heard_notes))
            assert (note.type, note.user_id) == ("price_alert", owner)
            assert note.message == "BTCUSDT rose above 50000: now 50500.5"
    async with db.session() as session:
        fired = list(await session.scalars(select(AlertFiring).where(col(AlertFiring.alert_id) == alert.id)))
        rows = list(await session.scalars(select(Notification).where(col(Notification.user_id) == owner)))
        row = await session.get(PriceAlert, alert.id)
    assert [f.price for f in fired] == [Decimal("50500.5")]  # once: a one-off alert is spent
    assert [n.type for n in rows] == ["price_alert"] and row is not None
    assert (row.status, row.fire_count) == ("fired", 1)
