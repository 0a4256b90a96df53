"""Prometheus metrics at ``/metrics`` (README "Metrics").

Counted where they happen, in this process: HTTP requests and latency by route template and
status (the gateway), GraphQL operations by name with duration and error codes (a schema
extension), open WebSockets (the socket gate), active subscriptions, deliveries, gaps and skipped
slow consumers by stream and the bus's publish-to-delivery lag (``subscriptions.streams``), the
database pool's connections in use (pool events). Read from the database at scrape time, so they
are the same whichever process is scraped and survive restarts: trades, fills and volume, orders by
status, the stream log's size. The last ``predictql ledger check`` writes its result beside the data
(``ledger_check.json``); the scrape reports it.

With ``--workers`` the processes share ``PROMETHEUS_MULTIPROC_DIR`` (``serve`` creates one when it is
not set) and a scrape of any worker aggregates all of them (prometheus-client's multiprocess mode).

Access: ``/metrics`` answers only ``Authorization: Bearer $PREDICTQL_METRICS_TOKEN``; without that
setting it is 404.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import os
import re
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import Scope

from predictql.db import Database
from predictql.rest_compat.errors import envelope
from predictql.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LEDGER_CHECK_FILE = "ledger_check.json"
SCRAPE_TIMEOUT_SECONDS = 5.0
log = logging.getLogger("predictql.metrics")

HTTP_REQUESTS = Counter(
    "predictql_http_requests", "HTTP requests answered, by route template and status", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram("predictql_http_request_duration_seconds", "HTTP request latency", ["method", "route"])
GRAPHQL_OPERATIONS = Counter(
    "predictql_graphql_operations",
    "GraphQL operations (HTTP and WebSocket) by name, type and error code (none: no error)",
    ["operation", "type", "code"],
)
GRAPHQL_SECONDS = Histogram("predictql_graphql_operation_duration_seconds", "GraphQL operation duration", ["operation"])
WEBSOCKETS = Gauge("predictql_websockets_open", "Open WebSockets (GraphQL, legacy feeds)", multiprocess_mode="livesum")
SUBSCRIPTIONS = Gauge(
    "predictql_subscriptions_active", "Live streams being followed, by stream", ["stream"], multiprocess_mode="livesum"
)
DELIVERIES = Counter("predictql_stream_deliveries", "Stream items delivered, by stream and kind", ["stream", "kind"])
GAPS = Counter("predictql_stream_gaps", "GAP items (missed messages the log could not repair), by stream", ["stream"])
SLOW_SKIPPED = Counter(
    "predictql_stream_slow_consumers_skipped",
    "Subscribers left behind by their channel's buffer and skipped ahead (snapshot or GAP), by stream",
    ["stream"],
)
WRITER_BATCHES = Counter(
    "predictql_writer_batches",
    "Market-writer batch transactions committed, by worker (its market-affinity index; '-' without one)",
    ["worker"],
)
WRITER_ITEMS = Counter(
    "predictql_writer_items", "Writes in committed market-writer batches, by worker (items per commit)", ["worker"]
)
WRITER_RELAYED = Counter(
    "predictql_writer_relayed_items",
    "Writer items between workers (market affinity): sent to their owner, served for another worker,"
    " local (the owner unreachable: run here), lost (the owner went away after the send: 503)",
    ["role"],
)
BUS_LAG = Histogram(
    "predictql_bus_delivery_lag_seconds",
    "Bus lag: from a message's publish (after its commit, in whichever process committed it) to its"
    " delivery to each subscriber here, so a subscriber that is slow to take it counts its wait."
    " Wall clocks: skew between hosts adds in. Messages from older publishers, which carry no"
    " publish time, count from their arrival in this process.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def observe_many(histogram: Histogram, amounts: Sequence[float]) -> None:
    """``histogram.observe(amount)`` for each of ``amounts`` (an unlabelled histogram), with one
    increment of each bucket hit and one of the sum instead of two locked increments per amount
    (a fan-out records one lag per delivery: ``graphql_server.sinks``). Reads prometheus-client's
    ``Histogram`` internals (per-bucket counts ``_buckets`` by ``_upper_bounds``, ``_sum``), as
    ``observe`` itself does: tests/ops/test_bus_lag.py compares the two."""
    bounds: list[float] = histogram._upper_bounds  # ends with +Inf
    hits = [0] * len(bounds)
    for amount in amounts:
        hits[bisect_left(bounds, amount)] += 1  # the first bound >= amount, as ``observe``
    histogram._sum.inc(math.fsum(amounts))
    for index, count in enumerate(hits):
        if count:
            histogram._buckets[index].inc(count)


POOL_IN_USE = Gauge("predictql_db_pool_in_use", "Database connections checked out", multiprocess_mode="livesum")
POOL_SIZE = Gauge("predictql_db_pool_size", "Database pool size (without overflow)", multiprocess_mode="livesum")

_DIGITS = re.compile(r":\d+")


_SYMBOL = re.compile(r"^asset:[^:]*:")


def stream_of(channel: str) -> str:
    """A channel without its ids (``market:7:trades`` -> ``market:{id}:trades``; ``asset:BTCUSDT:price``
    -> ``asset:{symbol}:price``): bounded labels."""
    return _DIGITS.sub(":{id}", _SYMBOL.sub("asset:{symbol}:", channel))


def route_of(scope: Scope) -> str:
    """The route template the router matched (``/api/v1/markets/{market_id}``); ``/api/v1/*`` for
    a path under a mount that matched none of its routes; else ``unmatched``."""
    route = scope.get("route")
    if isinstance(route, Mount):  # inside a mount, no route of its own matched (or its files)
        return str(scope.get("root_path", "")) + "/*"
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return "unmatched"
    return str(scope.get("root_path", "")) + path


# The labelled children of a (method, route, status): prometheus-client looks each up under a lock
# on every ``labels`` call. Bounded as the labels are (route templates, not paths).
_HTTP_CHILDREN: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_http(scope: Scope, status: int, seconds: float) -> None:
    method = str(scope.get("method", ""))
    route = route_of(scope)
    children = _HTTP_CHILDREN.get((method, route, status))
    if children is None:
        children = HTTP_REQUESTS.labels(method, route, str(status)), HTTP_SECONDS.labels(method, route)
        _HTTP_CHILDREN[method, route, status] = children
    children[0].inc()
    children[1].observe(seconds)


def watch_pool(engine: AsyncEngine) -> None:
    """Connections in use, from the pool's checkout/checkin events."""
    pool = engine.sync_engine.pool
    size = getattr(pool, "size", None)
    if callable(size):
        POOL_SIZE.inc(size())
    event.listen(pool, "checkout", lambda *_: POOL_IN_USE.inc())
    event.listen(pool, "checkin", lambda *_: POOL_IN_USE.dec())


def unwatch_pool(engine: AsyncEngine) -> None:
    size = getattr(engine.sync_engine.pool, "size", None)
    if callable(size):
        POOL_SIZE.dec(size())


# --- the ledger check's last result ----------------------------------------------------------------


def record_ledger_check(settings: Settings, ok: bool, violations: int) -> None:
    path = settings.data_dir / LEDGER_CHECK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"ok": ok, "violations": violations, "at": time.time()}))
    tmp.replace(path)


def _ledger_check(data_dir: Path) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads((data_dir / LEDGER_CHECK_FILE).read_text())
    except (OSError, ValueError):
        return None
    return found


# --- read at scrape time ---------------------------------------------------------------------------


class _Snapshot(Collector):
    """Values read once for this scrape."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self.families


async def _from_database(db: Database, data_dir: Path) -> list[GaugeMetricFamily]:
    trades = GaugeMetricFamily("predictql_trades", "Trades, by kind (order-book fills and LMSR)", labels=["kind"])
    volume = GaugeMetricFamily("predictql_trade_volume_kopecks", "Sum of trade amounts, by kind", labels=["kind"])
    orders = GaugeMetricFamily("predictql_orders", "Order-book orders, by status", labels=["status"])
    log_size = GaugeMetricFamily("predictql_stream_log_messages", "Messages kept in the stream log (for fromSeq)")
    async with db.session() as session:
        for kind, count, amount in await session.execute(
            text("SELECT kind, count(*), coalesce(sum(amount), 0) FROM trades GROUP BY kind")
        ):
            trades.add_metric([kind], count)
            volume.add_metric([kind], amount)
        for status, count in await session.execute(text("SELECT status, count(*) FROM orders GROUP BY status")):
            orders.add_metric([status], count)
        log_size.add_metric([], (await session.execute(text("SELECT count(*) FROM stream_events"))).scalar_one())
    families = [trades, volume, orders, log_size]
    check = _ledger_check(data_dir)
    if check is not None:
        ok = GaugeMetricFamily("predictql_ledger_check_ok", "1 when the last `predictql ledger check` found nothing")
        ok.add_metric([], 1 if check.get("ok") else 0)
        found = GaugeMetricFamily("predictql_ledger_check_violations", "Violations the last ledger check found")
        found.add_metric([], float(check.get("violations", 0)))
        at = GaugeMetricFamily("predictql_ledger_check_timestamp_seconds", "When the last ledger check ran (Unix time)")
        at.add_metric([], float(check.get("at", 0)))
        families += [ok, found, at]
    return families


def _counted() -> bytes:
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def authorized(request: Request, settings: Settings) -> bool:
    if settings.metrics_token is None:
        return False
    expected = f"Bearer {settings.metrics_token.get_secret_value()}"
    return hmac.compare_digest(request.headers.get("authorization", "").encode(), expected.encode())


async def endpoint(request: Request) -> Response:
    """``GET /metrics``: 404 unless the metrics token is set and presented."""
    settings: Settings = request.state.settings
    if not authorized(request, settings):
        return envelope(404, "NOT_FOUND", f"no route {request.method} {request.url.path}")
    up = GaugeMetricFamily("predictql_metrics_database_read_ok", "1 when this scrape could read the database")
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_SECONDS):
            families = await _from_database(request.state.db, settings.data_dir)
        up.add_metric([], 1)
    except Exception:  # an outage must not hide the counted metrics
        log.warning("metrics: the database could not be read", exc_info=True)
        families = []
        up.add_metric([], 0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot([*families, up]))
    return Response(_counted() + generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
