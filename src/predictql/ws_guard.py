"""Per-socket bounds applied by the gateway to every WebSocket (GraphQL and the legacy feeds).

A handshake spends one request from the client's per-IP (and per-user) budget, like any HTTP
request; over budget it is accepted and closed at once with ``4429`` (a refused handshake carries
no close code a GraphQL client could read). After that, the socket's own messages are metered by a
token bucket: ``PREDICTQL_WS_MESSAGES_PER_SECOND`` sustained, ``PREDICTQL_WS_MESSAGE_BURST`` at
once. A client past it is flooding; the socket is closed with ``4429`` and the application sees an
ordinary disconnect.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

# The ASGI extension (``scope["extensions"]``) by which the server (``ws_protocol``) takes a pre-built
# WebSocket frame at once: True if sent (or dropped, as ``send`` would drop it), False if the caller
# must send the message through ``send`` instead.
SEND_NOW = "predictql.websocket.send_frame_now"
SendNow = Callable[[bytes], bool]
RATE_LIMITED = 4429  # graphql-transport-ws uses 4429 for "too many requests" of its own kind


class Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved up."""

    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


async def refuse_rate_limited(scope: Scope, receive: Receive, send: Send, retry_after: int) -> None:
    websocket = WebSocket(scope, receive, send)
    offered = scope.get("subprotocols") or []
    await websocket.accept(subprotocol=offered[0] if offered else None)
    await websocket.close(RATE_LIMITED, f"rate limited; retry after {retry_after} s")


def offered_send_now(scope: Scope) -> SendNow | None:
    """The server's ``SEND_NOW``, if it offers one."""
    found: SendNow | None = scope.get("extensions", {}).get(SEND_NOW)
    return found


def offer_send_now(scope: Scope, socket: Metered) -> None:
    """The app's ``SEND_NOW`` goes through the socket's guards (when the server offers one)."""
    extensions = scope.get("extensions")
    if extensions is not None and SEND_NOW in extensions:
        extensions[SEND_NOW] = socket.send_now


class Metered:
    """``receive``/``send`` for the app: past the bucket the socket is closed with 4429 (one small
    object per socket: ~10,000 idle subscribers per process)."""

    __slots__ = ("_now", "_receive", "_send", "bucket", "closed")

    def __init__(self, receive: Receive, send: Send, bucket: Bucket, now: SendNow | None = None) -> None:
        self._receive, self._send, self.bucket, self._now = receive, send, bucket, now
        self.closed = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "websocket.receive" and not self.closed and not self.bucket.take():
            self.closed = True
            await self._send({"type": "websocket.close", "code": RATE_LIMITED, "reason": "too many messages"})
            return {"type": "websocket.disconnect", "code": RATE_LIMITED}
        return message

    async def send(self, message: Message) -> None:
        if not self.closed:  # whatever the app still sends after the cut-off has nobody to go to
            await self._send(message)

    def send_now(self, frame: bytes) -> bool:
        """``send`` of a pre-built frame without waiting (``ws_protocol.SEND_NOW``): True if done
        (or dropped, as ``send`` drops it), False if it must go through ``send``."""
        if self.closed:
            return True
        return self._now is not None and self._now(frame)
