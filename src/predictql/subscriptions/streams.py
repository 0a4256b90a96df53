"""Live streams as the GraphQL subscriptions and the legacy feeds both consume them.

``follow`` turns one bus channel into a sequenced stream of ``Item``s: optionally a ``SNAPSHOT``
(the state now, with the channel's seq it includes), then every ``LIVE`` message in seq order,
with a ``HEARTBEAT`` now and then carrying the channel's latest seq.

- **Resume**: given ``from_seq``, the messages after it are replayed from the stored log
  (``stream_log``), then live ones follow; the subscription is live before the log is read, and
  any message at or below the last seq yielded is dropped, so there is no gap and no duplicate.
- **Repair**: a message whose seq skips ahead (two commits published out of order, or a message
  the bus lost), a heartbeat ahead of what was yielded, or a lost Redis connection is repaired from
  the log, read and decoded once for every subscriber of the channel repairing the same span. When
  the log cannot (more than ``REPLAY_LIMIT`` missed, or pruned), a state stream yields a fresh
  ``SNAPSHOT`` and an event stream a ``GAP`` (reload).
- **Skip**: a subscriber its channel's buffer left behind (``bus``: too many messages or seconds
  behind) is not replayed what it missed, which would only keep it behind: a state stream yields a
  fresh ``SNAPSHOT`` (one read for all those left behind together), an event stream a ``GAP`` at
  the newest seq (the client may resume from its last seq).

The snapshot's seq is the channel's head read *before* the snapshot, so the snapshot includes
at least everything up to it; a later message it already includes may be delivered again, which
is harmless because every payload is a full state or a full event (never a relative change).

``SocketGate`` caps the WebSockets one process holds (GraphQL and legacy feeds together).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from predictql import metrics
from predictql.subscriptions.bus import Bus, Gap, Heartbeat, Message, Subscription
from predictql.subscriptions.stream_log import StreamLog

T = TypeVar("T")
Kind = Literal["SNAPSHOT", "LIVE", "GAP", "HEARTBEAT"]

TRY_AGAIN_LATER = 1013  # RFC 6455 close code: the server is at its connection cap


@dataclass(frozen=True, slots=True)
class Item(Generic[T]):
    kind: Kind
    seq: int  # LIVE: the message's; SNAPSHOT: the last one it includes; GAP/HEARTBEAT: the head
    value: T | None = None  # None for GAP and HEARTBEAT


class Followed:
    """What the ``follow`` started in the current task follows, and how far it got: a GraphQL
    subscription's fast path (``graphql_server.sinks``) takes the stream over from there, and may
    hand it back (``resume``)."""

    __slots__ = ("at_rest", "bus", "channel", "direct", "follows", "last", "live", "resume", "resumed", "subscription")

    def __init__(self, resume: tuple[int, Subscription] | None = None) -> None:
        # (last seq sent, cursor): the next follow reads on from that cursor's position after that
        # seq, with no snapshot and no replay (a stream handed back by the fast path)
        self.resume = resume
        self.resumed = resume is not None
        self.follows = 0  # follows started in the task (more than one: not taken over)
        self.direct = False  # the resolver yields the follow's items unfiltered (``messages(direct=True)``)
        self.bus: Bus | None = None
        self.channel = ""
        self.live: Callable[[str], Any] | None = None
        self.subscription: Subscription | None = None  # the follow's cursor, once live
        self.last = -1  # the follow's last seq when it yielded its latest item at rest
        self.at_rest = False  # that item was the follow's last before it reads its cursor again

    def release(self) -> None:
        """A cursor handed back and never taken (the task ended first) leaves its channel."""
        if self.resume is not None:
            cursor, self.resume = self.resume[1], None
            cursor.leave()


_followed: ContextVar[Followed | None] = ContextVar("predictql_followed", default=None)


def track(resume: tuple[int, Subscription] | None = None) -> Followed:
    """Record what the current task's ``follow`` follows (``resume``: see ``Followed``)."""
    found = Followed(resume)
    _followed.set(found)
    return found


def tracked() -> Followed | None:
    return _followed.get()


def follow(
    bus: Bus,
    channel: str,
    *,
    live: Callable[[str], T | None],
    snapshot: Callable[[], Awaitable[T]] | None = None,
    from_seq: int | None = None,
    share: Hashable | None = None,
    reuse: bool = False,
) -> AsyncGenerator[Item[T], None]:
    """``_follow`` counted (``predictql.metrics``): active subscriptions, deliveries, gaps."""
    state = _followed.get()
    if state is not None:
        state.follows += 1
        state.bus, state.channel, state.live = bus, channel, live
    return _counted(bus, channel, live, snapshot, from_seq, share, reuse, state)


async def _counted(
    bus: Bus,
    channel: str,
    live: Callable[[str], T | None],
    snapshot: Callable[[], Awaitable[T]] | None,
    from_seq: int | None,
    share: Hashable | None,
    reuse: bool,
    state: Followed | None,
) -> AsyncGenerator[Item[T], None]:
    stream = metrics.stream_of(channel)
    active = metrics.SUBSCRIPTIONS.labels(stream)
    active.inc()
    try:
        items = _follow(
            bus, channel, live=live, snapshot=snapshot, from_seq=from_seq, share=share, reuse=reuse, state=state
        )
        async with contextlib.aclosing(items):
            async for item in items:
                _delivered(stream, item.kind).inc()
                if item.kind == "GAP":
                    metrics.GAPS.labels(stream).inc()
                yield item
    finally:
        active.dec()


_counters: dict[tuple[str, str], Any] = {}  # (stream, kind) -> its DELIVERIES child: no lookup per delivery


def delivered(stream: str, kind: str) -> Any:
    """The DELIVERIES counter of ``stream``'s ``kind`` (looked up once)."""
    return _delivered(stream, kind)


def _delivered(stream: str, kind: str) -> Any:
    found = _counters.get((stream, kind))
    if found is None:
        found = _counters[(stream, kind)] = metrics.DELIVERIES.labels(stream, kind)
    return found


async def _follow(
    bus: Bus,
    channel: str,
    *,
    live: Callable[[str], T | None],
    snapshot: Callable[[], Awaitable[T]] | None = None,
    from_seq: int | None = None,
    share: Hashable | None = None,
    reuse: bool = False,
    state: Followed | None = None,
) -> AsyncGenerator[Item[T], None]:
    """The channel as ``Item``s; ``live(payload)`` decodes a message (None: not for this stream).

    ``live`` must be a module-level function: its result is computed once per message and shared
    by every subscriber of the channel. ``snapshot`` (a state stream) is read first unless
    ``from_seq`` can be replayed, and again when missed messages cannot be. ``share``: subscribers
    passing the same key after one gap read one snapshot; with ``reuse`` the first snapshot may be
    one just read under that key (only for snapshots that do not depend on who is asking).
    ``state`` is told the cursor and the last seq yielded (``Followed``).
    """
    stream_log: StreamLog | None = bus.log
    loader = _with_head(stream_log, channel, snapshot) if snapshot is not None else None
    resuming = state is not None and state.resume is not None and state.follows == 1
    # Neither snapshot nor replay: the stream starts at the channel's head read *before* it goes
    # live. Read after, it would count a message committed meanwhile as seen, though the bus
    # delivers it (the subscription was live): that message was lost. Read before, a message
    # committed meanwhile is read from the log once the subscription is live.
    start = None
    if loader is None and from_seq is None and stream_log is not None and not resuming:
        start = await stream_log.head(channel)
    async with bus.subscribe(channel) as subscription:
        last = -1
        if state is not None:
            state.subscription = subscription
            if state.resume is not None and state.follows == 1:  # handed back: read on from there
                (last, cursor), state.resume = state.resume, None
                subscription.adopt(cursor)
        if last >= 0:
            pass
        elif from_seq is not None and stream_log is not None:
            head = await stream_log.head(channel)
            if 0 <= from_seq <= head:
                replay = await stream_log.after(channel, from_seq, head)
                if replay.complete:
                    for seq, payload in replay.messages:
                        value = live(payload)
                        if value is not None:
                            _busy(state)
                            yield Item("LIVE", seq, value)
                    last = head
        if last < 0:
            if loader is not None:
                last, value = await subscription.load(loader, share if reuse else None)
                _rest(state, last)
                yield Item("SNAPSHOT", last, value)
            elif start is not None and stream_log is not None:
                # Committed between the start and going live, so never on this subscription's bus:
                # read from the log now rather than at the next message or heartbeat.
                last, missed = await _repair(
                    stream_log, subscription, channel, start, await stream_log.head(channel), live, None
                )
                for item in missed:
                    _rest(state, last) if item is missed[-1] else _busy(state)
                    yield item
            else:
                last = await stream_log.head(channel) if stream_log is not None else 0
                if from_seq is not None:
                    _rest(state, last)
                    yield Item("GAP", last)
        async for delivery in subscription:
            if isinstance(delivery, Message):
                seq = delivery.seq
                if seq and seq <= last:
                    continue  # already yielded (replayed, repaired, or in the snapshot)
                if seq > last + 1 and stream_log is not None:
                    last, missed = await _repair(stream_log, subscription, channel, last, seq - 1, live, loader)
                    for item in missed:
                        _busy(state)
                        yield item
                    if seq <= last:
                        continue
                last = max(last, seq)
                value = delivery.view(live)
                if value is not None:
                    metrics.BUS_LAG.observe(max(0.0, time.time() - delivery.published))
                    _rest(state, last)
                    yield Item("LIVE", seq, value)
            elif isinstance(delivery, Heartbeat):
                if delivery.seq > last and stream_log is not None:
                    last, missed = await _repair(stream_log, subscription, channel, last, delivery.seq, live, loader)
                    for item in missed:
                        _busy(state)
                        yield item
                _rest(state, last)
                yield Item("HEARTBEAT", max(last, delivery.seq))
            elif delivery.reason == "overflow":  # too far behind: skip to now, no log reads
                metrics.SLOW_SKIPPED.labels(metrics.stream_of(channel)).inc()
                last, missed = await _skip(subscription, last, loader, delivery, share)
                for item in missed:
                    _rest(state, last) if item is missed[-1] else _busy(state)
                    yield item
            else:
                head = await stream_log.head(channel) if stream_log is not None else last + 1
                last, missed = await _repair(
                    stream_log, subscription, channel, last, head, live, loader, delivery, share
                )
                for item in missed:
                    _rest(state, last) if item is missed[-1] else _busy(state)
                    yield item


def _rest(state: Followed | None, last: int) -> None:
    """The item about to be yielded is the follow's last before it reads its cursor again."""
    if state is not None:
        state.at_rest, state.last = True, last


def _busy(state: Followed | None) -> None:
    """More items follow the one about to be yielded (a replay, a repair)."""
    if state is not None:
        state.at_rest = False


async def _repair(
    stream_log: StreamLog | None,
    subscription: Subscription,
    channel: str,
    last: int,
    upto: int,
    live: Callable[[str], T | None],
    loader: Callable[[], Awaitable[tuple[int, T]]] | None,
    gap: Gap | None = None,
    share: Hashable | None = None,
) -> tuple[int, list[Item[T]]]:
    """What was missed after ``last`` up to ``upto``: from the log, else a snapshot, else a GAP.
    Returns the new last seq and the items to yield."""
    if upto <= last:
        return last, []
    if stream_log is not None:
        messages = await subscription.replay((last, upto), lambda: _read(stream_log, channel, last, upto))
        if messages is not None:
            decoded = ((message.seq, message.view(live)) for message in messages)
            return upto, [Item("LIVE", seq, value) for seq, value in decoded if value is not None]
    return await _skip(subscription, upto, loader, gap, share)


async def _read(stream_log: StreamLog, channel: str, last: int, upto: int) -> list[tuple[int, str]] | None:
    replay = await stream_log.after(channel, last, upto)
    return replay.messages if replay.complete else None


async def _skip(
    subscription: Subscription,
    last: int,
    loader: Callable[[], Awaitable[tuple[int, T]]] | None,
    gap: Gap | None,
    share: Hashable | None,
) -> tuple[int, list[Item[T]]]:
    """Past what was missed: a state stream reads a snapshot, an event stream yields a GAP."""
    if loader is None:
        upto = max(last, subscription.head)
        return upto, [Item("GAP", upto)]
    if gap is not None:  # one snapshot for all the channel's subscribers that share it
        index, (seq, value) = await gap.shared(share, loader)
        subscription.discard_before(index)
    else:
        seq, value = await subscription.load(loader)
    return seq, [Item("SNAPSHOT", seq, value)]


def _with_head(
    stream_log: StreamLog | None, channel: str, snapshot: Callable[[], Awaitable[T]]
) -> Callable[[], Awaitable[tuple[int, T]]]:
    """The snapshot with the channel's head read just before it (what it includes at least)."""

    async def load() -> tuple[int, T]:
        head = await stream_log.head(channel) if stream_log is not None else 0
        return head, await snapshot()

    return load


class SocketGate:
    """At most ``limit`` WebSockets open in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def enter(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        metrics.WEBSOCKETS.inc()
        return True

    def leave(self) -> None:
        self.open -= 1
        metrics.WEBSOCKETS.dec()


async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a handshake at the cap with close code 1013 (accept first: a refused handshake has
    none); the client's first subprotocol is accepted, so a GraphQL client reads the close code."""
    websocket = WebSocket(scope, receive, send)
    offered = scope.get("subprotocols") or []
    await websocket.accept(subprotocol=offered[0] if offered else None)
    await websocket.close(TRY_AGAIN_LATER, "too many connections; retry with backoff")
