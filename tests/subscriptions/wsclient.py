"""An in-process WebSocket client over ASGI (the app's own event loop, no server), and the
graphql-transport-ws steps the GraphQL tests need."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.types import ASGIApp, Message

from predictql.ws_guard import SEND_NOW

TIMEOUT = 5.0


class Closed(Exception):
    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


class AsgiSocket:
    """``async with AsgiSocket(app, "/api/v1/ws/trades") as ws``: the handshake, then text frames."""

    def __init__(
        self,
        app: ASGIApp,
        path: str,
        *,
        subprotocols: tuple[str, ...] = (),
        denial_extension: bool = True,
        buffer: int = 0,
        send_now: bool = False,
    ) -> None:
        """``buffer``: frames the "network" holds before the app's send blocks (0: unbounded), to
        play a client that stopped reading. ``send_now``: offer the app ``ws_guard.SEND_NOW`` as
        ``predictql serve``'s protocol does (pre-built frames; refused while the buffer is full)."""
        self.app = app
        self.path = path
        self.subprotocols = subprotocols
        self.denial_extension = denial_extension
        self.to_app: asyncio.Queue[Message] = asyncio.Queue()
        self.from_app: asyncio.Queue[Message] = asyncio.Queue(buffer)
        self.task: asyncio.Task[None] | None = None
        self.accepted: Message | None = None
        self.closed: Closed | None = None
        self.send_now = send_now
        self.frames_now = 0  # frames the app sent through SEND_NOW

    def _send_frame_now(self, frame: bytes) -> bool:
        """A server's SEND_NOW: one unmasked text frame (RFC 6455 5.2), taken unless the buffer is full."""
        assert frame[0] == 0x81, frame[:2]  # FIN, text
        length, start = frame[1], 2
        assert length & 0x80 == 0  # not masked
        if length == 126:
            length, start = int.from_bytes(frame[2:4]), 4
        elif length == 127:
            length, start = int.from_bytes(frame[2:10]), 10
        assert len(frame) == start + length
        if self.from_app.full():
            return False
        self.from_app.put_nowait({"type": "websocket.send", "text": frame[start:].decode()})
        self.frames_now += 1
        return True

    def _scope(self) -> dict[str, Any]:
        headers = [(b"host", b"testserver")]
        if self.subprotocols:
            headers.append((b"sec-websocket-protocol", ", ".join(self.subprotocols).encode()))
        extensions: dict[str, Any] = {"websocket.http.response": {}} if self.denial_extension else {}
        if self.send_now:
            extensions[SEND_NOW] = self._send_frame_now
        return {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "http_version": "1.1",
            "path": self.path,
            "raw_path": self.path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "subprotocols": list(self.subprotocols),
            "extensions": extensions,
        }

    async def __aenter__(self) -> AsgiSocket:
        self.task = asyncio.create_task(self.app(self._scope(), self.to_app.get, self.from_app.put))
        await self.to_app.put({"type": "websocket.connect"})
        message = await asyncio.wait_for(self.from_app.get(), TIMEOUT)
        if message["type"] == "websocket.accept":
            self.accepted = message
        elif message["type"] == "websocket.close":
            self.closed = Closed(message.get("code", 1000), message.get("reason") or "")
        elif message["type"] == "websocket.http.response.start":
            body = await asyncio.wait_for(self.from_app.get(), TIMEOUT)
            self.denied = (message["status"], json.loads(body["body"]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        with contextlib.suppress(Exception):  # the app may raise once its client is gone; the test is over
            await asyncio.wait_for(self.task, TIMEOUT)

    async def send(self, data: str) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": data})

    async def send_json(self, data: Any) -> None:
        await self.send(json.dumps(data))

    async def receive_text(self, within: float = TIMEOUT) -> str:
        message = await asyncio.wait_for(self.from_app.get(), within)
        if message["type"] == "websocket.close":
            raise Closed(message.get("code", 1000), message.get("reason") or "")
        assert message["type"] == "websocket.send", message
        assert message.get("bytes") is None, "frames must be text"
        text: str = message["text"]
        return text

    async def receive_json(self, within: float = TIMEOUT) -> Any:
        return json.loads(await self.receive_text(within))

    async def nothing(self, seconds: float = 0.2) -> None:
        """Assert no frame arrives within ``seconds``."""
        try:
            message = await asyncio.wait_for(self.from_app.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {message}")


class GraphQLSocket(AsgiSocket):
    """graphql-transport-ws over ``AsgiSocket``."""

    def __init__(
        self, app: ASGIApp, *, params: dict[str, Any] | None = None, buffer: int = 0, send_now: bool = False
    ) -> None:
        super().__init__(app, "/graphql", subprotocols=("graphql-transport-ws",), buffer=buffer, send_now=send_now)
        self.params = params or {}
        self.ids = 0
        self.pending: dict[str | None, list[Any]] = {}

    async def __aenter__(self) -> GraphQLSocket:
        await super().__aenter__()
        if self.accepted is not None:
            await self.send_json({"type": "connection_init", "payload": self.params})
            ack = await self.receive_json()
            assert ack["type"] == "connection_ack", ack
        return self

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self.ids += 1
        op = str(self.ids)
        await self.send_json({"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}})
        return op

    async def next(self, op: str, within: float = TIMEOUT) -> Any:
        """The next message of ``op``: a ``next`` payload, else the message (error/complete).
        Messages of other operations wait for their turn; pings are answered."""
        while not self.pending.get(op):
            message = await self.receive_json(within)
            if message["type"] == "ping":
                await self.send_json({"type": "pong"})
                continue
            self.pending.setdefault(message.get("id"), []).append(message)
        message = self.pending[op].pop(0)
        return message["payload"] if message["type"] == "next" else message

    async def complete(self, op: str) -> None:
        await self.send_json({"id": op, "type": "complete"})
