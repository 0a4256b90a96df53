"""``/metrics`` (issue 15 point 1): hidden without the token; with it, the Prometheus text format,
parsed by prometheus-client's own parser, carrying what a real request, a GraphQL operation, a
trade, a subscription and a ledger check left behind. With ``serve --workers 2`` (PostgreSQL) a
scrape of either worker counts the requests both answered."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from predictql import metrics
from predictql.db import Database
from predictql.settings import Settings
from tests.api.test_lmsr_api import TRADE, trader
from tests.conftest import BACKEND
from tests.e2e.conftest import free_port, server_env, start_server, stop_server, wait_healthy
from tests.markets.factories import create_market_setup
from tests.outages.owned import next_trade, subscribe_trades
from tests.support import bearer, lifespan_client

TOKEN = "scrape-secret"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= got)


async def _scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics", headers=bearer(TOKEN))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


async def test_metrics_need_the_token(settings: Settings, db: Database) -> None:
    async with lifespan_client(settings) as http:  # no token configured: there is no /metrics
        assert (await http.get("/metrics")).status_code == 404
    own = settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    async with lifespan_client(own) as http:
        for headers in ({}, bearer("wrong"), {"Authorization": TOKEN}):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 404 and refused.json()["error"]["code"] == "NOT_FOUND"
        assert (await http.get("/metrics", headers=bearer(TOKEN))).status_code == 200


async def test_a_scrape_shows_requests_operations_trades_streams_and_the_ledger_check(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    own = settings.model_copy(update={"metrics_token": SecretStr(TOKEN), "data_dir": tmp_path})
    _, _, (market,) = await create_market_setup(db)
    _, token = await trader(db, settings, balance=1_000_000)
    metrics.record_ledger_check(own, ok=True, violations=0)
    async with lifespan_client(own) as http:
        before = await _scrape(http)
        assert (await http.get(f"/api/v1/markets/{market.id}")).status_code in (200, 404)
        body = {"market_id": market.id, "side": "buy_yes", "amount_type": "spend", "amount": 1000}
        assert (await http.post(TRADE, json=body, headers=bearer(token))).status_code == 200
        query = {"query": "query Probe { latestTrades { amount } }", "operationName": "Probe"}
        assert (await http.post("/graphql", json=query)).status_code == 200
        bad = {"query": "query Broken { nothingHere }", "operationName": "Broken"}
        await http.post("/graphql", json=bad)
        assert (await http.get("/api/v1/no-such-route")).status_code == 404
        after = await _scrape(http)

    assert value(after, "predictql_http_requests_total", route=TRADE, status="200", method="POST") == (
        value(before, "predictql_http_requests_total", route=TRADE, status="200", method="POST") + 1
    )
    assert value(after, "predictql_http_request_duration_seconds_count", route=TRADE) >= 1
    assert value(after, "predictql_http_requests_total", route="/metrics", status="200") >= 1
    assert value(after, "predictql_http_requests_total", route="/api/v1/*", status="404") >= 1  # bounded labels
    assert value(after, "predictql_graphql_operations_total", operation="Probe", type="query", code="none") >= 1
    assert value(after, "predictql_graphql_operations_total", operation="Broken", code="GRAPHQL_VALIDATION_FAILED") >= 1
    assert value(after, "predictql_graphql_operation_duration_seconds_count", operation="Probe") >= 1
    assert value(after, "predictql_trades", kind="lmsr") == value(before, "predictql_trades", kind="lmsr") + 1
    assert value(after, "predictql_trade_volume_kopecks", kind="lmsr") > value(before, "predictql_trade_volume_kopecks")
    assert value(after, "predictql_stream_log_messages") > value(before, "predictql_stream_log_messages")
    assert value(after, "predictql_ledger_check_ok") == 1 and value(after, "predictql_ledger_check_violations") == 0
    assert value(after, "predictql_metrics_database_read_ok") == 1
    assert ("predictql_db_pool_in_use", frozenset()) in after
    assert ("predictql_websockets_open", frozenset()) in after


@pytest.mark.e2e
async def test_a_live_subscription_is_counted_by_stream(settings: Settings, db: Database, tmp_path: Path) -> None:
    """A real ``serve``: a trades subscription, a trade delivered to it, then a scrape."""
    _, _, (market,) = await create_market_setup(db)
    _, token = await trader(db, settings, balance=1_000_000)
    process, base = start_server(settings, tmp_path / "server.log", startup_timeout=120, PREDICTQL_METRICS_TOKEN=TOKEN)
    try:
        ws = await subscribe_trades(base, market.id or 0)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            body = {"market_id": market.id, "side": "buy_yes", "amount_type": "spend", "amount": 1000}
            assert (await http.post(TRADE, json=body, headers=bearer(token))).status_code == 200
            await next_trade(ws)
            samples = await _scrape(http)
            await ws.close()
    finally:
        stop_server(process)
    stream = "market:{id}:trades"
    assert metrics.stream_of(f"market:{market.id}:trades") == stream
    assert value(samples, "predictql_subscriptions_active", stream=stream) == 1
    assert value(samples, "predictql_stream_deliveries_total", stream=stream, kind="LIVE") >= 1
    assert value(samples, "predictql_websockets_open") == 1
    assert value(samples, "predictql_bus_delivery_lag_seconds_count") >= 1
    assert value(samples, "predictql_stream_gaps_total", stream=stream) == 0


@pytest.mark.e2e
@pytest.mark.skipif(BACKEND == "sqlite", reason="--workers needs PostgreSQL")
def test_workers_share_their_counts(settings: Settings, db: Database, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(settings, PREDICTQL_PUBLIC_URL=base, PREDICTQL_METRICS_TOKEN=TOKEN)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prom")
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "predictql", "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_healthy(process, base, log, timeout=120)
        requests = 40
        for _ in range(requests):  # new connections: the kernel spreads them over both workers
            assert httpx.get(f"{base}/api/v1/ready", timeout=30).status_code == 200
        pids = {p.name.split("_")[-1] for p in (tmp_path / "prom").glob("counter_*.db")}
        assert len(pids) == 2, pids  # both workers counted something
        for _ in range(4):  # whichever worker answers the scrape, it sees both
            scraped = httpx.get(f"{base}/metrics", headers=bearer(TOKEN), timeout=30)
            assert scraped.status_code == 200, scraped.text
            total = value(parse(scraped.text), "predictql_http_requests_total", route="/api/v1/ready", status="200")
            assert total >= requests
    finally:
        stop_server(process)


def test_ledger_check_records_its_result(tmp_path: Path, settings: Settings) -> None:
    own = settings.model_copy(update={"data_dir": tmp_path})
    metrics.record_ledger_check(own, ok=False, violations=3)
    recorded = json.loads((tmp_path / metrics.LEDGER_CHECK_FILE).read_text())
    assert recorded["ok"] is False and recorded["violations"] == 3
    assert asyncio.iscoroutinefunction(metrics.endpoint)
