"""Market affinity with a real ``predictql serve --workers 2`` (``services.writer_relay``): trades on
two markets (one owned by each worker; REST and GraphQL) arrive on both workers, and every trade of a
market commits in its owner's batches: the other worker relayed its share. The ledger balances, each market's
trades, positions, q and ticks agree. ``PREDICTQL_WRITER_AFFINITY=0``: each worker batches alone.

Skipped on SQLite (``--workers`` needs PostgreSQL).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from predictql.db import Database
from predictql.models import Market
from predictql.settings import Settings
from tests.api.test_lmsr_api import live_market, trader
from tests.conftest import BACKEND
from tests.e2e.conftest import free_port, server_env, stop_server, wait_healthy
from tests.e2e.test_market_writer_processes import PATIENT, TRADE, assert_consistent, body
from tests.graphql.test_trading_graphql import TRADE as GQL_TRADE
from tests.graphql.test_trading_graphql import trade_input
from tests.ops.test_metrics import TOKEN, Samples, parse, value
from tests.support import Kind, bearer, gid

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(BACKEND == "sqlite", reason="--workers needs PostgreSQL"),
]
PER_MARKET = 64  # trades per market: 56 over REST, 8 GraphQL mutations (their answers carry ORM rows)
GRAPHQL = 8


async def one_of_each_parity(db: Database) -> list[Market]:
    """Two live LMSR markets, owned by different workers (``market_id % 2``)."""
    first = await live_market(db)
    while True:
        other = await live_market(db)
        if (other.id or 0) % 2 != (first.id or 0) % 2:
            return [first, other]


def start_two_workers(settings: Settings, logs: Path, **extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(settings, PREDICTQL_PUBLIC_URL=base, PREDICTQL_METRICS_TOKEN=TOKEN, **PATIENT, **extra)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(logs / "prom")
    log = logs / "server.log"
    command = [sys.executable, "-m", "predictql", "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_healthy(process, base, log, 120)
    if extra.get("PREDICTQL_WRITER_AFFINITY") != "0":
        # Both workers listening: before that an item for the late one's market runs where it arrived.
        relay = Path(re.findall(r"\(relay in (\S+)\)", log.read_text())[0])
        deadline = time.monotonic() + 120
        while not all((relay / f"worker-{i}.sock").exists() for i in range(2)):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)  # polling another process's start-up
    return process, base


async def trade_on_two_workers(
    db: Database, settings: Settings, logs: Path, **extra: str
) -> tuple[list[Market], Samples]:
    """``PER_MARKET`` trades on each of two markets, each on a new connection (the kernel spreads
    them over both workers); all answered 200; then a scrape of the workers' metrics."""
    process, base = await asyncio.to_thread(start_two_workers, settings, logs, **extra)
    try:
        markets = await one_of_each_parity(db)
        tokens = [(await trader(db, settings, balance=500_000))[1] for _ in range(16)]
        close = {"Connection": "close"}
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            rest = [
                client.post(
                    TRADE, json=body(markets[i % 2].id or 0, i // 2), headers={**bearer(tokens[i % 16]), **close}
                )
                for i in range(2 * (PER_MARKET - GRAPHQL))
            ]
            graphql = [
                client.post(
                    "/graphql",
                    json={"query": GQL_TRADE, "variables": trade_input(markets[i % 2].id or 0, "buy_yes", 700)},
                    headers={**bearer(tokens[i % 16]), **close},
                )
                for i in range(2 * GRAPHQL)
            ]
            responses = await asyncio.gather(*rest, *graphql)
            assert [r.status_code for r in responses] == [200] * len(responses), [
                r.text for r in responses if r.is_error
            ]
            for i, answer in enumerate(responses[len(rest) :]):
                payload = answer.json()["data"]["lmsrTrade"]
                assert payload["userErrors"] == [] and payload["trade"]["shares"] > 0, payload
                assert payload["market"]["id"] == gid(Kind.MARKET, markets[i % 2].id or 0)
                assert payload["position"]["tokenType"] == "YES" and payload["balances"]["cash"] > 0, payload
            scraped = await client.get("/metrics", headers=bearer(TOKEN))
        assert scraped.status_code == 200, scraped.text
        return markets, parse(scraped.text)
    finally:
        await asyncio.to_thread(stop_server, process)


@pytest.mark.timeout(900)
async def test_each_markets_trades_commit_in_its_owners_batches(
    db: Database, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    markets, samples = await trade_on_two_workers(db, settings, tmp_path_factory.mktemp("affinity"))
    for worker in ("0", "1"):  # each worker committed exactly its own market's trades, in batches
        writer = {k: v for k, v in samples.items() if k[0].startswith("predictql_writer")}
        assert value(samples, "predictql_writer_items_total", worker=worker) == PER_MARKET, writer
        batches = value(samples, "predictql_writer_batches_total", worker=worker)
        assert 1 <= batches <= PER_MARKET
    relayed = {
        role: value(samples, "predictql_writer_relayed_items_total", role=role)
        for role in ("sent", "served", "local", "lost")
    }
    assert relayed["sent"] == relayed["served"] > 0, relayed  # trades arrived on the non-owner, went over
    assert relayed["local"] == relayed["lost"] == 0, relayed
    for market in markets:
        await assert_consistent(db, market.id or 0, market)


@pytest.mark.timeout(900)
async def test_affinity_off_each_worker_batches_what_it_receives(
    db: Database, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    markets, samples = await trade_on_two_workers(
        db, settings, tmp_path_factory.mktemp("no-affinity"), PREDICTQL_WRITER_AFFINITY="0"
    )
    assert value(samples, "predictql_writer_items_total", worker="-") == 2 * PER_MARKET
    assert value(samples, "predictql_writer_relayed_items_total") == 0
    for market in markets:
        await assert_consistent(db, market.id or 0, market)
