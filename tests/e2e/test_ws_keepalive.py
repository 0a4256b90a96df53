"""Server pings and the read deadline, on a real ``predictql serve`` with short intervals: a client
that never answers a ping is closed (1011); one that does (any WebSocket library) stays."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
import websockets

from predictql.db import Database
from predictql.services import assets
from predictql.settings import Settings
from tests.e2e.conftest import start_server, stop_server

pytestmark = pytest.mark.e2e

PING, PONG, CLOSE, TEXT = 0x9, 0xA, 0x8, 0x1


@pytest.fixture(scope="module")
def fast_pinging_server(settings: Settings, db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, base = start_server(
        settings,
        tmp_path_factory.mktemp("keepalive") / "server.log",
        PREDICTQL_WS_PING_INTERVAL_SECONDS="0.3",
        PREDICTQL_WS_READ_DEADLINE_SECONDS="0.9",
    )
    yield base
    stop_server(process)


async def _frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(length)


async def test_a_client_that_never_answers_pings_is_closed(fast_pinging_server: str) -> None:
    await _never_answering(fast_pinging_server, "/api/v1/ws/trades")


async def test_the_asset_price_feed_pings_and_has_a_read_deadline_too(fast_pinging_server: str, db: Database) -> None:
    """``/ws/assets/{symbol}/price`` is kept alive like the other feeds: the latest price, then
    pings, and 1011 when they go unanswered; a client that answers them stays."""
    async with db.transaction() as session:
        await assets.set_price(session, None, symbol="KEEPUSDT", price="1.25", record_seconds=1.0)
    await _never_answering(fast_pinging_server, "/api/v1/ws/assets/KEEPUSDT/price")
    ws_url = fast_pinging_server.replace("http://", "ws://") + "/api/v1/ws/assets/KEEPUSDT/price"
    async with websockets.connect(ws_url, ping_interval=None) as ws:  # pongs are automatic
        assert '"price_update"' in str(await ws.recv())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), 2.0)


async def _never_answering(base: str, path: str) -> None:
    url = urlparse(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101"), status
    started, seen = time.monotonic(), []
    try:
        while True:  # read everything, answer nothing
            opcode, payload = await asyncio.wait_for(_frame(reader), 5)
            seen.append(opcode)
            if opcode == CLOSE:
                break
    finally:
        writer.close()
    elapsed = time.monotonic() - started
    assert seen[0] == TEXT and PING in seen, seen  # the init snapshot, then pings
    assert struct.unpack("!H", payload[:2])[0] == 1011
    # first ping at 0.3 s, its pong overdue 0.6 s later: closed near 0.9 s (not before a ping was missed)
    assert 0.5 <= elapsed < 3.0, elapsed


async def test_a_client_that_answers_pings_stays_connected(fast_pinging_server: str) -> None:
    ws_url = fast_pinging_server.replace("http://", "ws://") + "/api/v1/ws/trades"
    async with websockets.connect(ws_url, ping_interval=None) as ws:  # pongs are automatic
        assert '"init"' in str(await ws.recv())
        # Several pings and read deadlines (0.3 s / 0.9 s) pass: the socket must not close meanwhile.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), 2.0)
        pong = await ws.ping()
        await asyncio.wait_for(pong, 2)
