"""uvicorn's WebSocket protocol, except that a connection past its read deadline is dropped.

uvicorn answers a missed pong by sending a 1011 close and calling ``transport.close()``. asyncio
closes a transport only once its write buffer is flushed, and a client that stopped reading never
lets it flush: the socket stayed open for good, its ``send`` waiting for room that never came, so
the application's streams on it, their subscriptions and the buffered frames stayed too. Here the
transport is aborted (with a reset: the kernel drops its buffer too) when it still holds unsent
data at that moment, or the kernel holds data the peer has not acknowledged: the application sees the
disconnect at once and lets go of everything the socket held (a reader that stops reading is cut
off within ``PREDICTQL_WS_READ_DEADLINE_SECONDS``; what it held meanwhile is bounded by the shared
channel buffer, which skips it, and the transport's high-water mark).

The connection's incoming-event queue and its "writable" event are also lighter than uvicorn's
``asyncio.Queue`` and ``asyncio.Event``: those allocate four and one ``collections.deque`` (~760
bytes each, empty) per connection, ~4.5 KB of every idle subscriber (issue 14 point 3). The lean
ones hold a list and create their waiters only while someone waits; and the handshake's
response and its request's headers are let go once the response is sent.

**Pre-built frames** (issue 14 point 3). A subscription's ``next`` frame is the same bytes for every
subscriber of one message (server frames are not masked), so the fan-out builds it once
(``text_frame``) and offers it to each socket through the ``SEND_NOW`` ASGI extension: written to
the transport at once when the socket could take an ordinary ``websocket.send`` without waiting
(open, handshake done, no close sent, no extension negotiated, the transport below its high-water
mark); otherwise refused (False), and the caller sends the text through ``send`` as before, which
waits, raises on a disconnect, and so on. One call and one ``transport.write`` per delivery instead
of five coroutines, an event dict, websockets' ``Frame`` and its serialization.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import struct
import termios
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.protocol import State

from predictql.ws_guard import SEND_NOW


def text_frame(text: str) -> bytes:
    """``text`` as one unmasked, unfragmented WebSocket text frame (RFC 6455 5.2), as websockets
    serializes a server's ``send_text`` without extensions."""
    data = text.encode()
    length = len(data)
    if length < 126:
        head = bytes((0x81, length))
    elif length < 65536:
        head = struct.pack("!BBH", 0x81, 126, length)
    else:
        head = struct.pack("!BBQ", 0x81, 127, length)
    return head + data


class DroppingWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]  # put_nowait/get/empty, as uvicorn uses
        self.writable = LeanEvent(is_set=True)  # type: ignore[assignment]  # set/clear/wait/is_set

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)  # the app's task is created, not yet started
        if self.handshake_initiated and not self.handshake_complete:
            self.scope["extensions"][SEND_NOW] = self.send_frame_now  # type: ignore[assignment]

    def send_frame_now(self, frame: bytes) -> bool:
        """Write ``frame`` (``text_frame``) if a ``websocket.send`` would go out without waiting;
        False: nothing was done, send it through ``send``."""
        conn = self.conn
        if (
            self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or self.initial_response is not None
            or not self.writable.is_set()
            or conn.state is not State.OPEN
            or conn.extensions
            or conn.expect_continuation_frame
            or conn.debug
        ):
            return False
        self.transport.write(frame)
        return True

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake's response (its headers) is read only before the handshake completes.
            self.response = None  # type: ignore[assignment]
            # So is its request: the app has the headers in its scope. websockets' parser keeps the
            # Request for the connection's life (a local of its generator): its Headers go, ~2.5 KB
            # per socket (a dozen strings, their dict and list).
            self.request.headers = Headers()
            self.request = None  # type: ignore[assignment]

    def keepalive_timeout(self) -> None:
        unacked = _unacked(self.transport)  # read before the close frame adds its own bytes
        super().keepalive_timeout()
        if unacked or self.transport.get_write_buffer_size():  # the close frame cannot leave: nobody reads
            sock = self.transport.get_extra_info("socket")
            if sock is not None:  # a reset, not a FIN queued behind megabytes the kernel would keep
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()


def _unacked(transport: asyncio.BaseTransport) -> int:
    """Bytes the kernel sent on this socket that the peer has not acknowledged (``SIOCOUTQ``).

    Past the read deadline a reader that stopped reading has them whether or not asyncio's own
    buffer is empty at that moment (it is, while the kernel's buffer is still filling): a close
    frame queued behind them would never leave, the FIN neither, and the connection would stay
    established. A reader that reads acknowledges within a round trip."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    try:
        return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0])
    except (OSError, ValueError):  # not a socket the kernel reports on (closed, not TCP)
        return 0


class LeanQueue:
    """An unbounded FIFO with ``asyncio.Queue``'s ``put_nowait``, ``get`` and ``empty``."""

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake()

    async def get(self) -> Any:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            finally:
                self._getters.remove(getter)
                if not self._getters:
                    self._getters = None
                if self._items:  # woken but cancelled: another getter takes the item
                    self._wake()
        return self._items.pop(0)

    def _wake(self) -> None:
        for getter in self._getters or ():
            if not getter.done():
                getter.set_result(None)
                return


class LeanEvent:
    """``asyncio.Event``'s ``set``, ``clear``, ``is_set`` and ``wait``."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, *, is_set: bool = False) -> None:
        self._set = is_set
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True
