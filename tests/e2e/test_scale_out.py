"""Scale-out, end to end: two real ``predictql serve`` processes on one PostgreSQL database and one
Redis bus, each behind Debian's nginx running the committed ``deploy/nginx/predictql.conf``
(``tests/e2e/nginx.py``), so the deployment example cannot rot. Real WebSocket clients subscribe on
process B through its nginx; a trade is made over HTTP through A's nginx; B's subscribers must see
it (and the market's new price) within a bounded time. One nginx in front of both processes (the
committed shape) keeps ``/metrics`` from a public client and serves it to a private one.

Covered on B: GraphQL over ``graphql-transport-ws`` (``marketUpdated`` and ``trades``), the legacy
``graphql-ws`` subprotocol (``marketUpdated``) and the raw legacy feed ``/api/v1/ws/trades``.

Skipped without Redis (``PREDICTQL_TEST_REDIS_URL``: the memory bus cannot cross processes) and on
SQLite (embedded mode is one process by design), and without nginx (``.ci/run`` installs it). The
processes use this run's channel prefix, so parallel runs on one Redis do not hear each other.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from redis import asyncio as aioredis
from sqlmodel import col, select

from predictql.db import Database
from predictql.models import Trade
from predictql.subscriptions import topics
from predictql.subscriptions.topics import MarketState
from tests.api.test_lmsr_api import TRADE, live_market, market_row, trader
from tests.conftest import BACKEND, REDIS_URL, RUN_PREFIX
from tests.e2e.conftest import start_server, stop_server
from tests.e2e.nginx import CLIENT_ADDRESS_HEADER, nginx_binary, start_nginx, stop_nginx
from tests.markets.factories import create_market_setup
from tests.support import Kind, bearer, gid

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(REDIS_URL is None, reason="PREDICTQL_TEST_REDIS_URL not set: the memory bus is one process"),
    pytest.mark.skipif(BACKEND == "sqlite", reason="several processes need PostgreSQL (SQLite is one process)"),
    pytest.mark.skipif(nginx_binary() is None, reason="no nginx (apt-get install nginx; .ci/run installs it)"),
]
METRICS_TOKEN = "scale-out-metrics-token"

DELIVERY_BOUND = 2.0  # seconds from the trade's HTTP request to a frame on the other process
RECEIVE_TIMEOUT = 5.0

MARKET_UPDATED = """subscription($id: ID!) { marketUpdated(marketId: $id) {
  kind seq data { marketId yesPrice noPrice yesProbability qYes qNo volume at } } }"""
TRADES = """subscription($id: ID!) { trades(marketId: $id) {
  kind seq data { id side tokenType shares price amount market { id } } } }"""


@pytest.fixture(scope="module")
def direct(settings: Any, db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(A, B): two ``predictql serve`` processes on the test database and the test Redis."""
    assert settings.bus_channel_prefix == RUN_PREFIX and settings.broadcast_url == REDIS_URL
    logs = tmp_path_factory.mktemp("scale-out")
    started = [
        start_server(settings, Path(logs / f"server-{name}.log"), PREDICTQL_METRICS_TOKEN=METRICS_TOKEN)
        for name in "AB"
    ]
    yield started[0][1], started[1][1]
    for process, _ in started:
        stop_server(process)


def address(base: str) -> str:
    return base.removeprefix("http://")


@pytest.fixture(scope="module")
def processes(direct: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(A, B) as clients reach them: each behind its own nginx running the committed configuration
    (one upstream server each, so the test knows which process a request reaches)."""
    prefix = tmp_path_factory.mktemp("nginx")
    fronts = [start_nginx([address(base)], prefix / name) for name, base in zip("AB", direct, strict=True)]
    yield fronts[0][1], fronts[1][1]
    for process, _ in fronts:
        stop_nginx(process)


@pytest.fixture(scope="module")
def balanced(direct: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One nginx in front of both processes, as deployed."""
    process, base = start_nginx([address(base) for base in direct], tmp_path_factory.mktemp("nginx-both"))
    yield base
    stop_nginx(process)


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    assert REDIS_URL is not None
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


async def subscribed(redis: aioredis.Redis, channel: str) -> None:
    """Wait until some process holds a Redis subscription of ``channel`` (with this run's prefix).

    graphql-transport-ws has no "subscribed" acknowledgement and ``trades`` has no snapshot; the
    bus registers its local subscriber before it sends SUBSCRIBE, so once Redis counts the
    subscription, every later publish reaches the subscriber.
    """
    wire = RUN_PREFIX + channel
    deadline = time.monotonic() + RECEIVE_TIMEOUT
    while time.monotonic() < deadline:
        counts = dict(await redis.pubsub_numsub(wire))
        if counts.get(wire.encode(), 0) >= 1:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"nobody subscribed {wire!r} on Redis")


class TransportWs:
    """graphql-transport-ws over a real socket: ``next(op)`` returns that operation's next payload."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.pending: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    async def open(cls, ws: websockets.ClientConnection) -> TransportWs:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT))
        assert ack["type"] == "connection_ack", ack
        return cls(ws)

    async def subscribe(self, op: str, query: str, variables: dict[str, Any]) -> None:
        payload = {"query": query, "variables": variables}
        await self.ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))

    async def next(self, op: str) -> dict[str, Any]:
        while not self.pending.get(op):
            message = json.loads(await asyncio.wait_for(self.ws.recv(), RECEIVE_TIMEOUT))
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            assert message["type"] == "next", message
            self.pending.setdefault(message["id"], []).append(message["payload"])
        payload = self.pending[op].pop(0)
        assert "errors" not in payload, payload
        return payload["data"]  # type: ignore[no-any-return]


async def legacy_ws_next(ws: websockets.ClientConnection) -> dict[str, Any]:
    """The next ``data`` payload of the legacy graphql-ws protocol (keep-alives skipped)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT))
        if message["type"] == "ka":
            continue
        assert message["type"] == "data", message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]  # type: ignore[no-any-return]


async def test_a_trade_on_one_process_reaches_subscribers_of_the_other(
    processes: tuple[str, str], db: Database, settings: Any, redis: aioredis.Redis
) -> None:
    a, b = processes
    market = await live_market(db)
    mid = market.id or 0
    _, token = await trader(db, settings, balance=100_000)
    variables = {"id": gid(Kind.MARKET, mid)}
    connect = {"compression": None, "open_timeout": RECEIVE_TIMEOUT}

    async with (
        websockets.connect(ws_url(b, "/graphql"), subprotocols=["graphql-transport-ws"], **connect) as modern,  # type: ignore[list-item]
        websockets.connect(ws_url(b, "/graphql"), subprotocols=["graphql-ws"], **connect) as legacy_gql,  # type: ignore[list-item]
        websockets.connect(ws_url(b, "/api/v1/ws/trades"), **connect) as feed,
        httpx.AsyncClient(base_url=a, timeout=RECEIVE_TIMEOUT) as http_a,
    ):
        gql = await TransportWs.open(modern)
        await gql.subscribe("market", MARKET_UPDATED, variables)
        await gql.subscribe("trades", TRADES, variables)
        await legacy_gql.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(legacy_gql.recv(), RECEIVE_TIMEOUT))["type"] == "connection_ack"
        await legacy_gql.send(
            json.dumps({"id": "1", "type": "start", "payload": {"query": MARKET_UPDATED, "variables": variables}})
        )

        # Every stream is live on B before the trade: snapshots for the state streams, the init frame
        # for the raw feed, and Redis's subscription count for the snapshot-less trades stream.
        snapshot = (await gql.next("market"))["marketUpdated"]
        assert snapshot["kind"] == "SNAPSHOT" and snapshot["data"]["marketId"] == gid(Kind.MARKET, mid)
        before = snapshot["data"]
        legacy_snapshot = (await legacy_ws_next(legacy_gql))["marketUpdated"]
        assert legacy_snapshot["kind"] == "SNAPSHOT" and legacy_snapshot["data"]["yesPrice"] == before["yesPrice"]
        init = json.loads(await asyncio.wait_for(feed.recv(), RECEIVE_TIMEOUT))
        assert init["type"] == "init"
        await subscribed(redis, topics.market_trades_channel(mid))

        started = time.monotonic()
        response = await http_a.post(
            TRADE,
            json={"market_id": mid, "side": "buy_yes", "amount_type": "spend", "amount": 5000},
            headers=bearer(token),
        )
        assert response.status_code == 200, response.text

        updated = (await gql.next("market"))["marketUpdated"]
        traded = (await gql.next("trades"))["trades"]
        legacy_updated = (await legacy_ws_next(legacy_gql))["marketUpdated"]
        frame = json.loads(await asyncio.wait_for(feed.recv(), RECEIVE_TIMEOUT))
        elapsed = time.monotonic() - started

    # What B's subscribers saw is what A committed.
    after = MarketState.of(await market_row(db, mid))
    async with db.session() as session:
        (trade,) = list(await session.scalars(select(Trade).where(col(Trade.market_id) == mid)))
    assert after.yes_price > int(before["yesPrice"])  # buying YES moved the price
    # One commit, one number per channel: the change after the snapshot is the next seq.
    assert updated["kind"] == "LIVE" and int(updated["seq"]) == int(snapshot["seq"]) + 1
    state = updated["data"]
    assert (state["yesPrice"], state["noPrice"], int(state["qYes"]), int(state["volume"])) == (
        after.yes_price,
        after.no_price,
        after.q_yes,
        after.volume,
    )
    assert legacy_updated["kind"] == "LIVE" and legacy_updated["data"]["yesPrice"] == after.yes_price
    assert traded["kind"] == "LIVE" and int(traded["seq"]) >= 1
    live_trade = traded["data"]
    assert live_trade["id"] == gid(Kind.TRADE, trade.id or 0) and live_trade["market"] == {"id": gid(Kind.MARKET, mid)}
    assert (live_trade["side"], live_trade["tokenType"], int(live_trade["shares"])) == ("BUY", "YES", trade.shares)
    assert frame["type"] == "trade" and frame["trade"]["token"] == "YES" and frame["trade"]["amount"] == trade.amount
    assert elapsed < DELIVERY_BOUND, f"delivery across processes took {elapsed:.2f} s"


async def test_an_order_book_fill_on_one_process_reaches_subscribers_of_the_other(
    processes: tuple[str, str], db: Database, settings: Any, redis: aioredis.Redis
) -> None:
    a, b = processes
    _, _, (market,) = await create_market_setup(db, market_type="orderbook")
    mid = market.id or 0
    tokens = [(await trader(db, settings, balance=100_000))[1] for _ in range(2)]
    async with (
        websockets.connect(ws_url(b, "/graphql"), subprotocols=["graphql-transport-ws"], compression=None) as ws,  # type: ignore[list-item]
        httpx.AsyncClient(base_url=a, timeout=RECEIVE_TIMEOUT) as http_a,
    ):
        gql = await TransportWs.open(ws)
        await gql.subscribe("trades", TRADES, {"id": gid(Kind.MARKET, mid)})
        await subscribed(redis, topics.market_trades_channel(mid))
        for token, token_type in zip(tokens, ("YES", "NO"), strict=True):  # a YES and a NO buy mint a pair
            body = {
                "market_id": mid,
                "type": "buy",
                "kind": "limit",
                "token_type": token_type,
                "price": 5000,
                "amount": 5000,
            }
            response = await http_a.post("/api/v1/market/orders", json=body, headers=bearer(token))
            assert response.status_code == 200, response.text
        try:
            traded = (await asyncio.wait_for(gql.next("trades"), DELIVERY_BOUND))["trades"]
        except TimeoutError:
            pytest.fail("no trade reached process B within the bound")
    assert traded["kind"] == "LIVE" and traded["data"]["market"] == {"id": gid(Kind.MARKET, mid)}


async def test_nginx_balances_http_and_websockets_over_both_processes(balanced: str, direct: tuple[str, str]) -> None:
    async with httpx.AsyncClient(base_url=balanced, timeout=RECEIVE_TIMEOUT) as http:
        for _ in range(4):
            response = await http.post("/graphql", json={"query": "{ __typename }"})
            assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}
    connect = {"subprotocols": ["graphql-transport-ws"], "compression": None}
    async with (
        websockets.connect(ws_url(balanced, "/graphql"), **connect) as first,  # type: ignore[arg-type]
        websockets.connect(ws_url(balanced, "/graphql"), **connect) as second,  # type: ignore[arg-type]
    ):
        await TransportWs.open(first)
        await TransportWs.open(second)
        # least_conn: the second socket went to the process without one.
        assert [await open_sockets(base) for base in direct] == [1, 1]


async def open_sockets(base: str) -> int:
    async with httpx.AsyncClient(base_url=base, timeout=RECEIVE_TIMEOUT) as http:
        scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200, scraped.text
    (line,) = [line for line in scraped.text.splitlines() if line.startswith("predictql_websockets_open ")]
    return int(float(line.split()[1]))


async def test_metrics_through_nginx_are_refused_to_a_public_client(balanced: str) -> None:
    token = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    async with httpx.AsyncClient(base_url=balanced, timeout=RECEIVE_TIMEOUT) as http:
        public = await http.get("/metrics", headers={**token, CLIENT_ADDRESS_HEADER: "203.0.113.7"})
        assert public.status_code == 403 and "nginx" in public.text  # refused by nginx, never reached predictql
        for private in ("127.0.0.1", "10.1.2.3", "192.168.7.8"):  # this host and the private networks
            scraped = await http.get("/metrics", headers={**token, CLIENT_ADDRESS_HEADER: private})
            assert scraped.status_code == 200, (private, scraped.text)
            assert "predictql_http_requests_total" in scraped.text
        # The rest of the site is public.
        assert (await http.get("/api/v1/health", headers={CLIENT_ADDRESS_HEADER: "203.0.113.7"})).status_code == 200
