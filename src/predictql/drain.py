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
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from types import FrameType
from typing import Any

from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger("predictql.drain")

GOING_AWAY = 1001  # RFC 6455: the server is going down; clients reconnect (elsewhere)
REASON = "server shutting down; reconnect and resume with fromSeq"


class Drain:
    """The open WebSockets of this process, and whether it is draining."""

    def __init__(self, sockets_timeout: float) -> None:
        self.sockets_timeout = sockets_timeout
        self.draining = False
        self._stopping = False
        # Per open socket: the future done when its app returned -> the one done when it must close.
        # Two plain futures, not a task waiting on an Event (~3 KB less per idle socket).
        self._open: dict[asyncio.Future[None], asyncio.Future[None]] = {}

    @contextlib.asynccontextmanager
    async def socket(self, receive: Receive, send: Send) -> AsyncIterator[tuple[Receive, Send]]:
        """``receive``/``send`` for a WebSocket app: on drain the socket is closed with 1001 and the
        app's pending ``receive`` returns ``websocket.disconnect``; what it sends afterwards is dropped."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        stop: asyncio.Future[None] = loop.create_future()
        if self._stopping:
            stop.set_result(None)
        self._open[done] = stop
        state = {"accepted": False, "closed": False}
        pending: asyncio.Future[Message] | None = None

        async def drained_receive() -> Message:
            nonlocal pending
            if state["closed"]:
                return {"type": "websocket.disconnect", "code": GOING_AWAY}
            if pending is None:
                pending = asyncio.ensure_future(receive())
            waiters: list[asyncio.Future[Any]] = [pending, stop]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if pending.done():
                message, pending = pending.result(), None
                return message
            if not state["closed"]:
                state["closed"] = True
                if state["accepted"]:
                    await send({"type": "websocket.close", "code": GOING_AWAY, "reason": REASON})
            return {"type": "websocket.disconnect", "code": GOING_AWAY}

        async def drained_send(message: Message) -> None:
            if state["closed"]:
                return  # closed by the drain: nobody is listening
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            await send(message)

        try:
            yield drained_receive, drained_send
        finally:
            stop.cancel()
            if pending is not None and not pending.done():
                pending.cancel()
            done.set_result(None)
            del self._open[done]

    @property
    def open_sockets(self) -> int:
        return len(self._open)

    async def begin(self) -> None:
        """Stop being ready and close every socket with 1001; returns once they are gone (bounded)."""
        self.draining = True
        waiting = list(self._open)
        log.warning("draining: closing %d WebSocket(s) with 1001", len(waiting))
        self._stopping = True
        for stop in self._open.values():
            if not stop.done():
                stop.set_result(None)
        if waiting:
            await asyncio.wait(waiting, timeout=self.sockets_timeout)  # bounded; nothing is cancelled


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
