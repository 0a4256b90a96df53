"""Graceful drain on SIGTERM (README "Readiness and drain").

uvicorn alone, on SIGTERM, stops accepting, lets in-flight HTTP requests finish, then runs the
lifespan shutdown; but it cuts every WebSocket with 1012 and without telling the application. Here
the signal first goes to ``Drain``: readiness answers 503 (a load balancer stops sending), every
open WebSocket (GraphQL and the legacy feeds) is closed with **1001 "going away"** so its client
reconnects elsewhere and resumes each stream with ``fromSeq`` (the stream log holds what it missed),
a handshake arriving meanwhile is closed with 1001 too; once the sockets are gone (or after
``PREDICTQL_DRAIN_SOCKETS_SECONDS``) uvicorn's own handler runs: the listener closes, in-flight
requests (writes included) complete, the lifespan shutdown disposes of the bus and the database.

The handler is installed by the lifespan of ``predictql serve`` only (each worker process has its
own), over uvicorn's; a second SIGTERM goes straight to uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from predictql.ws_guard import SendNow

log = logging.getLogger("predictql.drain")

GOING_AWAY = 1001  # RFC 6455: the server is going down; clients reconnect (elsewhere)
REASON = "server shutting down; reconnect and resume with fromSeq"


class Drain:
    """The open WebSockets of this process, and whether it is draining."""

    def __init__(self, sockets_timeout: float) -> None:
        self.sockets_timeout = sockets_timeout
        self.draining = False
        self._stopping = False
        self._open: set[DrainedSocket] = set()
        self._gone: asyncio.Future[None] | None = None  # done once the last socket is gone (draining)

    def open(self, receive: Receive, send: Send, now: SendNow | None = None) -> DrainedSocket:
        """``receive``/``send`` for a WebSocket app (the socket's ``receive``/``send``): on drain the
        socket is closed with 1001 and the app's pending ``receive`` returns ``websocket.disconnect``;
        what it sends afterwards is dropped. ``close`` it when the app returned."""
        socket = DrainedSocket(receive, send, now)
        if self._stopping:
            socket.stopping = True
        self._open.add(socket)
        return socket

    def close(self, socket: DrainedSocket) -> None:
        self._open.discard(socket)
        if not self._open and self._gone is not None and not self._gone.done():
            self._gone.set_result(None)

    @property
    def open_sockets(self) -> int:
        return len(self._open)

    async def begin(self) -> None:
        """Stop being ready and close every socket with 1001; returns once they are gone (bounded)."""
        self.draining = True
        log.warning("draining: closing %d WebSocket(s) with 1001", len(self._open))
        self._stopping = True
        if not self._open:
            return
        self._gone = asyncio.get_running_loop().create_future()
        for socket in list(self._open):
            socket.stop()
        await asyncio.wait([self._gone], timeout=self.sockets_timeout)  # bounded; nothing is cancelled


class DrainedSocket:
    """One open WebSocket under a ``Drain``: no task and no future of its own while idle (~10,000
    idle subscribers per process). A drain interrupts the app's pending ``receive`` by cancelling
    the task awaiting it (that task alone, and only inside ``receive``)."""

    __slots__ = ("_now", "_receive", "_send", "accepted", "closed", "interrupted", "receiving", "stopping")

    def __init__(self, receive: Receive, send: Send, now: SendNow | None = None) -> None:
        self._receive, self._send, self._now = receive, send, now
        self.accepted = self.closed = self.stopping = self.interrupted = False
        self.receiving: asyncio.Task[Any] | None = None  # the task awaiting ``receive``

    def stop(self) -> None:
        self.stopping = True
        if self.receiving is not None and not self.interrupted:
            self.interrupted = True
            self.receiving.cancel()

    async def receive(self) -> Message:
        if self.closed:
            return {"type": "websocket.disconnect", "code": GOING_AWAY}
        if not self.stopping:
            task = self.receiving = asyncio.current_task()
            try:
                return await self._receive()
            except asyncio.CancelledError:
                # Our own cancel (``stop``), unless someone else cancels the task too.
                if not self.interrupted or task is None or task.uncancel() > 0:
                    raise
            finally:
                self.receiving = None
        if not self.closed:
            self.closed = True
            if self.accepted:
                await self._send({"type": "websocket.close", "code": GOING_AWAY, "reason": REASON})
        return {"type": "websocket.disconnect", "code": GOING_AWAY}

    async def send(self, message: Message) -> None:
        if self.closed:
            return  # closed by the drain: nobody is listening
        if message["type"] == "websocket.accept":
            self.accepted = True
        elif message["type"] == "websocket.close":
            self.closed = True
        await self._send(message)

    def send_now(self, frame: bytes) -> bool:
        """``send`` of a pre-built frame without waiting (``ws_protocol.SEND_NOW``): True if done
        (or dropped, as ``send`` drops it), False if it must go through ``send``."""
        if self.closed:
            return True
        return self._now is not None and self._now(frame)


async def refuse_going_away(scope: Scope, receive: Receive, send: Send) -> None:
    """A handshake while draining: accepted (so the client reads the code) and closed with 1001."""
    offered = scope.get("subprotocols") or []
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
    await send({"type": "websocket.close", "code": GOING_AWAY, "reason": REASON})


def install_sigterm(drain: Drain) -> Callable[[], None]:
    """SIGTERM drains first, then goes on to the handler that was there (uvicorn's). Returns the
    function that puts that handler back."""
    previous = signal.getsignal(signal.SIGTERM)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def forward(signum: int, frame: FrameType | None) -> None:
        if callable(previous):
            previous(signum, frame)

    async def drain_then_forward() -> None:
        try:
            await drain.begin()
        finally:
            forward(signal.SIGTERM, None)

    def handler(signum: int, frame: FrameType | None) -> None:
        if drain.draining:  # a second SIGTERM: no more waiting
            forward(signum, frame)
            return
        drain.draining = True

        def start() -> None:
            task = loop.create_task(drain_then_forward(), name="drain")
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        loop.call_soon_threadsafe(start)

    signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, previous)

    return restore
