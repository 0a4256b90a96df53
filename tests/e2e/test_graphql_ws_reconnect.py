"""The real ``graphql-ws`` npm client (``node/reconnect.mjs``) against a real server whose access
tokens live 2 s: each time its token expires the server closes the socket with 4403; the client
reconnects with a fresh token from its ``connectionParams`` and resubscribes every private stream
with ``fromSeq`` of the last seq it saw. Trades and orders are made while it is connected and while
it is away; each of the five private streams must arrive whole: every seq from 1 to the channel's
head exactly once.

Skipped only when ``node`` is absent; ``npm ci`` installs the pinned client when needed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from predictql.db import Database
from predictql.services import sessions
from predictql.settings import Settings
from predictql.subscriptions import stream_log, topics
from tests.api.test_lmsr_api import TRADE, live_market
from tests.e2e.conftest import start_server, stop_server
from tests.markets.factories import create_market_setup
from tests.support import bearer, create_user, unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")]

NODE_DIR = Path(__file__).with_name("node")
STREAMS = {
    "myBalance": topics.user_balance_channel,
    "myFills": topics.user_fills_channel,
    "myPositions": topics.user_positions_channel,
    "myNotifications": topics.user_notifications_channel,
    "myOrders": topics.user_orders_channel,
}
CYCLES = 2  # forced reconnects
WAIT = 15.0  # seconds for any one expected event (a token lives 2 s)

Event = dict[str, Any]


@pytest.fixture(scope="module")
def node_client() -> Path:
    if not (NODE_DIR / "node_modules" / "graphql-ws").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, capture_output=True)
    return NODE_DIR / "reconnect.mjs"


@pytest.fixture(scope="module")
def short_lived(settings: Settings, db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose access tokens live 2 seconds."""
    log = tmp_path_factory.mktemp("reconnect") / "server.log"
    process, base = start_server(settings, log, PREDICTQL_ACCESS_TOKEN_TTL_SECONDS="2")
    yield base
    stop_server(process)


class NodeClient:
    """The node script's stdout as events; ``until`` reads them up to one that matches."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[Event] = []
        self.resume = False  # let the client reconnect as soon as it waits to

    async def until(self, matches: Callable[[Event], bool], *, seen: bool = False) -> Event:
        """The next event that ``matches`` (with ``seen``: or one already read)."""
        assert self.process.stdout is not None
        for event in self.events if seen else []:
            if matches(event):
                return event
        while True:
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
            except TimeoutError:
                pytest.fail(f"the client went quiet; it printed {self.events}")
            assert line, f"the client exited; it printed {self.events}"
            event: Event = json.loads(line)
            self.events.append(event)
            assert event["event"] not in ("error", "complete"), event
            if event["event"] == "waiting" and self.resume:
                await self.tell("reconnect")
            if matches(event):
                return event

    async def tell(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()

    def seqs(self, stream: str) -> list[int]:
        return [e["seq"] for e in self.events if e.get("stream") == stream and e["kind"] != "HEARTBEAT"]


@pytest.fixture
async def client_of(node_client: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[asyncio.subprocess.Process] = []

    async def start(base: str, email: str) -> NodeClient:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(node_client),
            base,
            email,
            "password123",
            *STREAMS,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        started.append(process)
        return NodeClient(process)

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()


def message(stream: str, seq: int) -> Callable[[Event], bool]:
    return lambda e: e["event"] == "message" and e["stream"] == stream and e["seq"] >= seq


async def test_graphql_ws_reconnects_on_token_expiry_and_loses_nothing(
    short_lived: str, db: Database, settings: Settings, client_of: Callable[..., Any]
) -> None:
    email = unique_email("reconnect")
    user_id = await create_user(db, email=email, balance=1_000_000)
    market = await live_market(db)
    _, _, (book,) = await create_market_setup(db, market_type="orderbook", probabilities=(0.5,))
    async with db.transaction() as session:  # the test trades as that user, in a session of its own
        own = (await sessions.open_session(session, settings, user_id)).access_token
    trades = 0

    async with httpx.AsyncClient(base_url=short_lived, timeout=WAIT) as http:

        async def trade() -> None:
            """An LMSR trade (a fill, a position, a notification, a balance) and an order that rests."""
            nonlocal trades
            body = {"market_id": market.id, "side": "buy_yes", "amount_type": "spend", "amount": 1_000}
            response = await http.post(TRADE, json=body, headers=bearer(own))
            assert response.status_code == 200, response.text
            order = {
                "market_id": book.id,
                "type": "buy",
                "kind": "limit",
                "token_type": "YES",
                "price": 1000,
                "amount": 1_000,
            }
            response = await http.post("/api/v1/market/orders", json=order, headers=bearer(own))
            assert response.status_code == 200, response.text
            trades += 1

        client = await client_of(short_lived, email)
        await client.until(lambda e: e["event"] == "connected")
        for _ in range(CYCLES):
            await trade()  # live, while connected
            client.resume = True  # on a loaded machine the token may expire before the message arrives
            await client.until(message("myFills", trades), seen=True)
            client.resume = False
            await client.until(lambda e: e["event"] == "waiting")  # the next expiry: the client is away
            for _ in range(2):  # committed while it is away
                await trade()
            await client.tell("reconnect")
            await client.until(lambda e: e["event"] == "connected")
        await trade()
        client.resume = True

        heads = await stream_log.StreamLog(db).heads([channel(user_id) for channel in STREAMS.values()])
        for stream, channel in STREAMS.items():
            await client.until(message(stream, heads[channel(user_id)]), seen=True)
        await client.tell("stop")
        await client.until(lambda e: e["event"] == "stopped")

    assert trades == 3 * CYCLES + 1
    for stream, channel in STREAMS.items():
        head = heads[channel(user_id)]
        assert client.seqs(stream) == list(range(1, head + 1)), (stream, client.seqs(stream))
    assert heads[topics.user_fills_channel(user_id)] == trades  # one fill per trade, none missed
    assert heads[topics.user_orders_channel(user_id)] == trades  # one resting order per trade
    closes = [(e["code"], e["reason"]) for e in client.events if e["event"] == "closed"]
    assert len(closes) >= CYCLES and set(closes) == {(4403, "token expired")}
    tokens = [e["via"] for e in client.events if e["event"] == "token"]
    connections = [e for e in client.events if e["event"] == "connected"]
    assert tokens == ["signIn"] + ["refresh"] * (len(connections) - 1)  # a fresh token for every connection
