"""Bus publish-to-delivery lag (issue 15 point 1): ``Bus.publish`` stamps each message with its
publish time (``stream_log.wire``), and ``predictql_bus_delivery_lag_seconds`` counts from it to the
delivery to each subscriber, across bus clients (on Redis: two connections, as two processes), while
texts of older publishers (``"{seq}|{payload}"``, bare payloads) still deliver, counted from arrival."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from predictql import metrics
from predictql.db import Database
from predictql.settings import Settings
from predictql.subscriptions.bus import Bus
from predictql.subscriptions.stream_log import wire
from predictql.subscriptions.streams import Item, follow
from tests.conftest import REDIS_URL
from tests.ops.test_metrics import TOKEN, _scrape, value
from tests.support import lifespan_client, wait_until

needs_redis = pytest.mark.skipif(REDIS_URL is None, reason="PREDICTQL_TEST_REDIS_URL not set")
BUSES = [pytest.param("memory://", id="memory"), pytest.param(REDIS_URL or "", id="redis", marks=needs_redis)]
OLD = 30.0  # seconds: how long ago the "other process" published (far beyond any delivery delay)
DEADLINE = 30.0  # generous, for a loaded machine


def as_text(text: str) -> str:  # ``follow``'s decoder: module level, shared per message
    return text


@contextlib.asynccontextmanager
async def buses(url: str) -> AsyncIterator[tuple[Bus, Bus]]:
    """A subscribing and a publishing client of one bus (on Redis, two connections; the memory
    backend lives in one client, so both are the same)."""
    prefix = f"test-lag-{secrets.token_hex(4)}:"
    one = Bus(url, prefix=prefix)
    await one.connect()
    other = Bus(url, prefix=prefix) if url.startswith("redis") else one
    try:
        if other is not one:
            await other.connect()
        yield one, other
    finally:
        if other is not one:
            await other.disconnect()
        await one.disconnect()


async def _live(bus: Bus, channel: str, count: int) -> list[Item[str]]:
    items = follow(bus, channel, live=as_text)
    found: list[Item[str]] = []
    async with contextlib.aclosing(items):
        async for item in items:
            if item.kind == "LIVE":
                found.append(item)
                if len(found) == count:
                    return found
    return found


@contextlib.asynccontextmanager
async def following(bus: Bus, channel: str, count: int) -> AsyncIterator[asyncio.Task[list[Item[str]]]]:
    """A ``follow`` of ``channel`` collecting ``count`` LIVE items, subscribed when this yields."""
    async with bus.subscribe(channel):  # holds the channel's backend subscription (acknowledged)
        task = asyncio.ensure_future(_live(bus, channel, count))
        try:
            await wait_until(lambda: bus.stats()["subscribers"] == 2, within=DEADLINE)
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def lag() -> tuple[float, float]:
    """This process's (count, sum) of the lag histogram."""
    count = total = 0.0
    for family in metrics.BUS_LAG.collect():
        for sample in family.samples:
            if sample.name.endswith("_count"):
                count += sample.value
            elif sample.name.endswith("_sum"):
                total += sample.value
    return count, total


@pytest.mark.parametrize("url", BUSES)
async def test_a_published_message_shows_in_the_scraped_histogram(settings: Settings, db: Database, url: str) -> None:
    own = settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    name = "predictql_bus_delivery_lag_seconds"
    async with lifespan_client(own) as http, buses(url) as (bus, _):
        before = await _scrape(http)
        started = time.monotonic()
        async with following(bus, "market:1:trades", 1) as task:
            await bus.publish("market:1:trades", wire(1, '{"n": 1}'))  # as a commit publishes it
            (item,) = await asyncio.wait_for(task, DEADLINE)
        took = time.monotonic() - started
        after = await _scrape(http)
    assert (item.seq, item.value) == (1, '{"n": 1}')
    assert value(after, f"{name}_count") >= value(before, f"{name}_count") + 1
    added = value(after, f"{name}_sum") - value(before, f"{name}_sum")
    assert 0 <= added <= took + 1  # plausible: no more than the test's own duration (plus clock steps)
    assert value(after, f"{name}_bucket", le="+Inf") == value(after, f"{name}_count")


@pytest.mark.parametrize("url", BUSES)
async def test_the_lag_counts_from_the_publishers_time_and_old_texts_still_deliver(url: str) -> None:
    channel = "market:2:trades"
    async with buses(url) as (bus, publisher):
        wired = publisher.prefix + channel
        async with following(bus, channel, 1) as task:
            count, total = lag()
            # published by another process OLD seconds ago (its stamp), received just now
            await publisher.backend.publish(wired, wire(7, '{"n": 7}', time.time() - OLD))
            (item,) = await asyncio.wait_for(task, DEADLINE)
            assert (item.seq, item.value) == (7, '{"n": 7}')
            await wait_until(lambda: lag()[0] >= count + 1, within=DEADLINE)
            got_count, got_total = lag()
        assert got_count == count + 1 and OLD <= got_total - total < OLD + DEADLINE

        async with following(bus, channel, 2) as task:
            count, total = lag()
            # an older version's texts, without a publish time: counted from their arrival here
            await publisher.backend.publish(wired, '8|{"n": 8}')
            await publisher.backend.publish(wired, '{"n": "bare"}')
            items = await asyncio.wait_for(task, DEADLINE)
            assert [(i.seq, i.value) for i in items] == [(8, '{"n": 8}'), (0, '{"n": "bare"}')]
            await wait_until(lambda: lag()[0] >= count + 2, within=DEADLINE)
            got_count, got_total = lag()
        assert got_count == count + 2 and 0 <= got_total - total < OLD


def test_observe_many_records_what_observe_records_one_by_one() -> None:
    """A fan-out records its deliveries' lags in one go (``metrics.observe_many``): the same buckets,
    count and sum as ``observe`` for each, bounds included."""
    from prometheus_client import CollectorRegistry, Histogram

    buckets = metrics.BUS_LAG._upper_bounds[:-1]
    registry = CollectorRegistry()
    one_by_one = Histogram("one_by_one", "", buckets=buckets, registry=registry)
    at_once = Histogram("at_once", "", buckets=buckets, registry=registry)
    amounts = [0.0, 0.0005, 0.001, 0.0011, 0.005, 0.3, 0.25, 1.0, 2.49, 10.0, 10.5, 1e6, *[0.02] * 50]
    for amount in amounts:
        one_by_one.observe(amount)
    metrics.observe_many(at_once, amounts)
    metrics.observe_many(at_once, [])

    def samples(histogram: Histogram) -> list[tuple[str, dict[str, str], float]]:
        return [(s.name.removeprefix(f.name), s.labels, s.value) for f in histogram.collect() for s in f.samples]

    expected, got = samples(one_by_one), samples(at_once)
    assert [(n, labels) for n, labels, _ in got] == [(n, labels) for n, labels, _ in expected]
    for (name, _, want), (_, _, have) in zip(expected, got, strict=True):
        assert have == pytest.approx(want), name
