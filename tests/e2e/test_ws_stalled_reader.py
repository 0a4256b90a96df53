"""A reader that stops reading is cut off at its read deadline: real uvicorn, real sockets.

The client completes the handshake, then never reads: the kernel buffers fill (megabytes on
loopback), the server's writes back up, its pings go unanswered. At the read deadline uvicorn
sends a 1011 close and asks the transport to close, which asyncio does only after a flush that
never comes: the application's ``send`` waited forever and kept what the socket held. With
``predictql.ws_protocol`` (what ``predictql serve`` runs) the connection is dropped instead and the
application sees the disconnect.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from pathlib import Path

import pytest
from starlette.types import Receive, Scope, Send

from tests.e2e.conftest import uvicorn_serving

pytestmark = pytest.mark.e2e

ESTABLISHED = "01"
PING, DEADLINE = 0.3, 0.9


def _tcp_state(local_port: int) -> str | None:
    """This machine's TCP state of the connection from ``local_port`` (None: gone)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                return fields[3]
    return None


async def test_a_reader_that_stops_reading_is_dropped_and_its_sender_released() -> None:
    released = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """A fast publisher: 64 KB frames for as long as the socket takes them."""
        assert scope["type"] == "websocket"
        await receive()
        await send({"type": "websocket.accept"})
        try:
            while True:
                await send({"type": "websocket.send", "text": "x" * 65536})
        except Exception:  # uvicorn's ClientDisconnected: the socket is gone
            released.set()

    async with uvicorn_serving(app, ws_ping_interval=PING, ws_ping_timeout=DEADLINE - PING) as port:
        with socket.socket() as sock:
            await _stop_reading(sock, port, released)


async def test_a_reader_that_stopped_reading_is_reset_even_when_the_kernel_took_every_byte() -> None:
    """The publisher fell silent after one frame more than the reader's window: asyncio's buffer is
    empty at the read deadline, the kernel still holds bytes the reader never acknowledged. A close
    frame (and a FIN) queued behind them would never leave; the connection is reset instead."""
    released = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "x" * 12_000})  # > the reader's window, < the kernel's buffer
        while (await receive())["type"] != "websocket.disconnect":
            pass
        released.set()

    async with uvicorn_serving(app, ws_ping_interval=PING, ws_ping_timeout=DEADLINE - PING) as port:
        with socket.socket() as sock:
            await _stop_reading(sock, port, released)


async def _stop_reading(sock: socket.socket, port: int, released: asyncio.Event) -> None:
    """Handshake, read nothing more: released within a few deadlines, the connection reset."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += await asyncio.to_thread(sock.recv, 1)  # byte by byte: nothing after it is read
    assert answer.startswith(b"HTTP/1.1 101"), answer
    local_port = sock.getsockname()[1]
    started = time.monotonic()
    # Not before a ping was missed; well within a few deadlines on a loaded machine.
    await asyncio.wait_for(released.wait(), 15)
    elapsed = time.monotonic() - started
    assert elapsed >= PING, elapsed
    for _ in range(50):  # the reset reaches the client side's table
        if _tcp_state(local_port) != ESTABLISHED:
            break
        await asyncio.sleep(0.1)
    assert _tcp_state(local_port) != ESTABLISHED
