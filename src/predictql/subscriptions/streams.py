"""Live streams as the GraphQL subscriptions and the legacy feeds both consume them.

``follow`` turns one bus channel into "a snapshot, then every change": the snapshot is read after
the subscription is live, and queued messages it already includes are dropped, so nothing falls
between the two. A gap (slow consumer, lost Redis connection) is answered with a fresh snapshot
when the stream has one, else with the caller's gap marker.

``SocketGate`` caps the WebSockets one process holds (GraphQL and legacy feeds together).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from predictql.subscriptions.bus import Bus, Message

T = TypeVar("T")

TRY_AGAIN_LATER = 1013  # RFC 6455 close code: the server is at its connection cap


async def follow(
    bus: Bus,
    channel: str,
    *,
    live: Callable[[str], T | None],
    snapshot: Callable[[], Awaitable[T]] | None = None,
    gap: T | None = None,
    share: Hashable | None = None,
    reuse: bool = False,
) -> AsyncGenerator[T, None]:
    """Yield ``snapshot()`` (when given), then ``live(text)`` of each message, skipping None.

    ``live`` must be a module-level function: its result is computed once per message and shared
    by every subscriber of the channel. After a gap, the snapshot is read again (once for all the
    channel's subscribers passing the same ``share`` key) or, without one, ``gap`` is yielded.
    ``reuse``: the first snapshot may be one just read under the same key (``Subscription.load``):
    only for snapshots that do not depend on who is asking.
    """
    async with bus.subscribe(channel) as subscription:
        if snapshot is not None:
            yield await subscription.load(snapshot, share if reuse else None)
        async for delivery in subscription:
            if isinstance(delivery, Message):
                value = delivery.view(live)
                if value is not None:
                    yield value
            elif snapshot is not None:
                index, fresh = await delivery.shared(share, snapshot)
                subscription.discard_before(index)
                yield fresh
            elif gap is not None:
                yield gap


class SocketGate:
    """At most ``limit`` WebSockets open in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def enter(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1


async def refuse(scope: Scope, receive: Receive, send: Send, *, subprotocols: Sequence[str] = ()) -> None:
    """Answer a handshake at the cap with close code 1013 (accept first: a refused handshake has none)."""
    websocket = WebSocket(scope, receive, send)
    offered = scope.get("subprotocols") or []
    chosen = next((protocol for protocol in offered if protocol in subprotocols), None)
    await websocket.accept(subprotocol=chosen)
    await websocket.close(TRY_AGAIN_LATER, "too many connections; retry with backoff")
