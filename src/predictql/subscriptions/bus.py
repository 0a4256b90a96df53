"""The event bus over broadcaster's backends: ``memory://`` embedded, ``redis://`` across processes.

Messages are JSON strings, serialized once by the publisher (``subscriptions.topics``).

**One backend subscription per channel per process.** The first local subscriber of a channel
subscribes it on the backend (on Redis: one SUBSCRIBE, acknowledged before ``subscribe`` returns);
the last one to leave unsubscribes it. One listener task reads the backend and wraps each message
once in a ``Message``, which memoizes decoded views, so a payload is parsed or re-encoded once per
channel, not once per subscriber. (broadcaster's own ``Broadcast`` is not used: it registers a
channel's queue only after the backend's subscribe returns, so a message arriving right after the
acknowledgement is dropped, and its per-subscriber queues are unbounded.)

**One buffer per channel, shared.** A message is appended once to its channel's buffer; each
subscriber reads the buffer at its own position, and only subscribers waiting at its end are woken.
The listener never waits for a subscriber, and a subscriber busy sending costs nothing per message.
The buffer keeps what the slowest subscriber has not read yet, but at most ``queue_size`` items and
``max_lag`` seconds; when every subscriber has read everything it is emptied, so memory returns
after a burst. A subscriber the buffer left behind gets one ``Gap`` ("overflow") and resumes at the
newest message: memory per channel and the delay of what a subscriber receives are both bounded,
whatever the client does. Subscribers left behind together share the gap (``GAP_SHARE_SECONDS``):
a state stream (a market, a chart) answers it with one snapshot read for all of them; an event
stream (trades) passes it on to the client, which may resume from its last seq.

**Sequence numbers and heartbeats.** Published texts are ``"{seq}@{published}|{payload}"``
(``stream_log``; ``publish`` adds the time, readers also accept ``"{seq}|{payload}"`` and bare
payloads from older publishers); ``Message.seq`` is the channel's number, ``Message.text`` the
payload, ``Message.published`` the publish time (``predictql.metrics``: bus lag). Every
``PREDICTQL_STREAM_HEARTBEAT_SECONDS`` a ``Heartbeat`` with each local channel's latest seq (read
from ``stream_heads``, one query per few hundred channels) is queued to its subscribers;
``streams.follow`` uses messages that skip a number, heartbeats ahead of it and gaps to repair
what it missed from the log.

**Lost Redis connection.** The Redis backend (``redis_backend``) reconnects with backoff,
resubscribes every channel, and delivers a ``Gap`` ("reconnect") on each: one object shared by all
the channel's subscribers, so the snapshot that answers it is read once (``Gap.shared``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from contextlib import AbstractContextManager, asynccontextmanager, suppress
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlparse

from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend

from predictql.subscriptions.redis_backend import GAP, RedisPubSubBackend
from predictql.subscriptions.stream_log import split, stamp

log = logging.getLogger("predictql.bus")

T = TypeVar("T")
GapReason = Literal["overflow", "reconnect"]
Replayed = list[tuple[int, str]] | None  # (seq, payload) read from the stream log; None: some were gone
SNAPSHOT_TTL = 1.0  # seconds a keyed snapshot may be reused while its channel is quiet
REPLAYS_KEPT = 8  # recent log reads per channel, shared by the subscribers repairing the same span
REPLAY_TTL = 1.0  # seconds a finished log read stays shared
GAP_SHARE_SECONDS = 0.1  # subscribers left behind this close together share one gap (one snapshot)


_unsubscribing: set[asyncio.Task[None]] = set()  # backend unsubscribes started by ``Bus.leave``


class Message:
    """One published message as delivered to every local subscriber of its channel."""

    __slots__ = ("__weakref__", "_views", "channel", "index", "published", "seq", "text")  # weak: sinks' frames

    def __init__(self, channel: str, text: str, index: int, seq: int = 0, published: float = 0.0) -> None:
        # When it was published (Unix seconds, the publisher's clock); an older publisher does not
        # say: then when it reached this process (predictql.metrics: bus lag).
        self.published = published or time.time()
        self.channel = channel
        self.text = text  # the payload (JSON)
        self.index = index  # position in this process's stream of the channel, from 1
        self.seq = seq  # the channel's sequence number (stream_log); 0 when published unnumbered
        self._views: dict[Callable[[str], Any], Any] = {}

    def view(self, decode: Callable[[str], T]) -> T:
        """``decode(self.text)``, computed once per message whoever asks (key: the function)."""
        try:
            return self._views[decode]  # type: ignore[no-any-return]
        except KeyError:
            value = self._views[decode] = decode(self.text)
            return value


class Gap:
    """Messages of ``channel`` may have been missed by whoever receives this."""

    __slots__ = ("_channel", "_loads", "channel", "reason")

    def __init__(self, channel: _Channel, reason: GapReason) -> None:
        self._channel = channel
        self.channel = channel.name
        self.reason = reason
        self._loads: dict[Hashable, asyncio.Future[tuple[int, Any]]] = {}

    async def shared(self, key: Hashable | None, load: Callable[[], Awaitable[T]]) -> tuple[int, T]:
        """Run ``load`` once for every receiver of this gap that passes the same ``key`` (None: not
        shared). Returns the channel's message count when the load started (messages up to it are
        in the result) and the result."""
        if key is None:
            return await self._channel.load(load)
        found = self._loads.get(key)
        if found is None:
            found = self._loads[key] = asyncio.ensure_future(self._channel.load(load))
        return await asyncio.shield(found)


class Heartbeat:
    """Sent to every subscriber of a channel now and then: the channel's latest ``seq``."""

    __slots__ = ("seq",)

    def __init__(self, seq: int) -> None:
        self.seq = seq


Delivery = Message | Gap | Heartbeat


class Subscription:
    """A local subscriber's cursor in its channel's buffer; iterate it with ``async for``."""

    __slots__ = ("_channel", "_next", "_waiter", "overflows")

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel
        self._next = channel.end  # the position of the next item to deliver
        self._waiter: asyncio.Future[None] | None = None
        self.overflows = 0

    @property
    def channel(self) -> str:
        return self._channel.name

    @property
    def head(self) -> int:
        """The highest seq this process has seen on the channel."""
        return self._channel.head

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def discard_before(self, index: int) -> None:
        """Skip messages up to ``index``: a snapshot read after they arrived includes them."""
        self._next = max(self._next, index + 1)

    async def load(self, load: Callable[[], Awaitable[T]], key: Hashable | None = None) -> T:
        """Read a snapshot, then drop queued messages it already includes. With a ``key``, a snapshot
        of the channel read under the same key less than ``SNAPSHOT_TTL`` ago, with no message since,
        is reused (a burst of connects costs one read); the key must cover everything the result
        depends on, the caller's visibility included."""
        index, value = await self._channel.load(load, key)
        self.discard_before(index)
        return value

    async def replay(self, span: tuple[int, int], read: Callable[[], Awaitable[Replayed]]) -> list[Message] | None:
        """Messages read from the stream log (``read``: all of ``span``'s, or None when some are
        gone), read and decoded once for every subscriber of the channel repairing the same span."""
        return await self._channel.replay(span, read)

    def hand_over(self, successor: Subscription) -> None:
        """``successor`` (a subscriber fed by the channel itself: ``graphql_server.sinks``) reads on
        from this cursor's position; the channel keeps its backend subscription while either lives."""
        successor._channel, successor._next = self._channel, self._next
        self._channel.subscribers.add(successor)

    def adopt(self, other: Subscription) -> None:
        """Read on from ``other``'s position (one handed back), which leaves the channel."""
        if other._channel is self._channel:
            self._next = other._next
        other.leave()

    def leave(self) -> None:
        """Stop reading (a subscriber outside ``Bus.subscribe``: ``hand_over``); the last subscriber
        of a channel unsubscribes it on the backend."""
        self._channel.leave(self)

    @property
    def caught_up(self) -> bool:
        """Everything buffered so far has been read."""
        return self._next >= self._channel.end

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Delivery:
        channel = self._channel
        while self._next >= channel.end and not channel.closed:
            channel.idle(self)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
                channel.waiting.discard(self)
        if channel.closed:
            raise StopAsyncIteration
        if self._next < channel.base:  # the buffer moved on without this subscriber: skip to now
            self._next = channel.end
            self.overflows += 1
            return channel.overflow_gap()
        item = channel.ring[self._next - channel.base]
        self._next += 1
        return item


class _Channel:
    """One channel's subscribers and its recent deliveries, shared: each subscriber reads the buffer
    at its own position. The buffer holds what the slowest subscriber has not read, at most ``limit``
    items and ``max_lag`` seconds; whoever the buffer leaves behind gets a ``Gap`` and resumes at the
    newest item."""

    def __init__(self, name: str, wire: str, limit: int, max_lag: float) -> None:
        self.name = name
        self.wire = wire  # the backend's channel name (with the bus prefix)
        self.limit, self.max_lag = limit, max_lag
        self.subscribers: set[Subscription] = set()
        self.waiting: set[Subscription] = set()  # at the end of the buffer, waiting for an item
        self.ring: deque[Delivery] = deque()
        self.stamps: deque[float] = deque()  # when each buffered item arrived (loop time)
        self.base = self.end = 1  # positions of the buffer's first item and of the next one
        self.subscribed: asyncio.Task[None] | None = None
        self.snapshots: dict[Hashable, tuple[int, float, asyncio.Future[Any]]] = {}
        self.replays: dict[tuple[int, int], asyncio.Future[list[Message] | None]] = {}
        self.head = 0  # the highest seq seen here (messages, heartbeats)
        self._gap: tuple[float, Gap] | None = None
        self.closed = False  # the bus is shutting down: every subscription ends
        self.counted = True  # in ``Bus.stats`` (False: followed by the process itself)
        self.on_empty: Callable[[_Channel], None] | None = None  # Bus._left

    @property
    def count(self) -> int:
        """The position of the latest item: a snapshot read now includes everything up to it."""
        return self.end - 1

    def receive(self, text: str) -> None:
        if text == GAP:
            self.snapshots.clear()  # messages were lost: a cached snapshot may lack them
            self.fan_out(Gap(self, "reconnect"))
            return
        seq, payload, published = split(text)
        self.head = max(self.head, seq)
        self.fan_out(Message(self.name, payload, self.end, seq, published))

    def fan_out(self, item: Delivery) -> None:
        """Buffer ``item`` once for every subscriber and wake those waiting; a subscriber busy
        sending costs nothing here."""
        now = asyncio.get_running_loop().time()
        if len(self.waiting) == len(self.subscribers):
            self._trim(self.end)  # everyone has read everything: nothing buffered is needed
        self.ring.append(item)
        self.stamps.append(now)
        self.end += 1
        self._trim(self.end - self.limit)
        while len(self.stamps) > 1 and now - self.stamps[0] > self.max_lag:
            self._trim(self.base + 1)
        waiting, self.waiting = self.waiting, set()  # a sink woken here may wait again at once
        for subscription in waiting:
            subscription.wake()

    def leave(self, subscription: Subscription) -> None:
        self.subscribers.discard(subscription)
        self.waiting.discard(subscription)
        if self.on_empty is not None:
            self.on_empty(self)

    def close(self) -> None:
        self.closed = True
        for subscription in list(self.subscribers):
            subscription.wake()

    def _trim(self, position: int) -> None:
        while self.base < position:
            self.ring.popleft()
            self.stamps.popleft()
            self.base += 1

    def idle(self, subscription: Subscription) -> None:
        """``subscription`` read everything: when all have, the buffer is emptied (memory returns)."""
        self.waiting.add(subscription)
        if len(self.waiting) == len(self.subscribers):
            self._trim(self.end)

    def overflow_gap(self) -> Gap:
        """The gap for a subscriber the buffer left behind; those left behind within
        ``GAP_SHARE_SECONDS`` of each other share it, so one snapshot read answers them all."""
        now = asyncio.get_running_loop().time()
        if self._gap is None or now - self._gap[0] > GAP_SHARE_SECONDS:
            self._gap = (now, Gap(self, "overflow"))
        return self._gap[1]

    async def replay(self, span: tuple[int, int], read: Callable[[], Awaitable[Replayed]]) -> list[Message] | None:
        found = self.replays.get(span)
        if found is None or (found.done() and found.exception() is not None):
            if len(self.replays) >= REPLAYS_KEPT:
                del self.replays[next(iter(self.replays))]
            found = self.replays[span] = asyncio.ensure_future(self._replayed(read))
            found.add_done_callback(lambda done: self._forget_replay(span, done))
        return await asyncio.shield(found)

    def _forget_replay(self, span: tuple[int, int], done: asyncio.Future[list[Message] | None]) -> None:
        """A finished repair is shared for ``REPLAY_TTL`` more seconds (subscribers repairing the
        same span just after it), then dropped: its decoded messages are not kept for the channel's
        life."""

        def drop() -> None:
            if self.replays.get(span) is done:
                del self.replays[span]

        asyncio.get_running_loop().call_later(REPLAY_TTL, drop)

    async def _replayed(self, read: Callable[[], Awaitable[Replayed]]) -> list[Message] | None:
        found = await read()
        now = time.time()  # read from the log: no publish time (not counted as bus lag)
        return None if found is None else [Message(self.name, payload, 0, seq, now) for seq, payload in found]

    async def load(self, load: Callable[[], Awaitable[T]], key: Hashable | None = None) -> tuple[int, T]:
        """``load()`` and the position when it started (the messages it includes)."""
        if key is None:
            index = self.count
            return index, await load()
        now = asyncio.get_running_loop().time()
        found = self.snapshots.get(key)
        if found is None or found[0] != self.count or now - found[1] > SNAPSHOT_TTL:
            found = self.snapshots[key] = (self.count, now, asyncio.ensure_future(load()))
        return found[0], await asyncio.shield(found[2])


def _backend(url: str, ack_timeout: float) -> BroadcastBackend:
    scheme = urlparse(url).scheme
    if scheme in ("redis", "rediss"):
        return RedisPubSubBackend(url, ack_timeout=ack_timeout)
    if scheme == "memory":
        return MemoryBackend(url)
    raise ValueError(f"unsupported bus URL {url!r}: use memory:// or redis://")


class HeadSource(Protocol):
    async def heads(self, channels: Iterable[str]) -> dict[str, int]: ...


class PublishTracer(Protocol):
    """``predictql.tracing.Tracing``: the span of one publish (system, channel, payload size)."""

    def publishing(self, system: str, channel: str, size: int) -> AbstractContextManager[None]: ...


class Bus:
    def __init__(
        self, url: str, *, queue_size: int = 1024, max_lag: float = 10.0, prefix: str = "", ack_timeout: float = 5.0
    ) -> None:
        self.url = url
        self.queue_size = queue_size  # items a subscriber may fall behind its channel
        self.max_lag = max_lag  # seconds a subscriber may fall behind its channel
        self.prefix = prefix  # namespaces channels when several deployments share one Redis
        self.backend = _backend(url, ack_timeout)
        self._channels: dict[str, _Channel] = {}  # by wire name
        self._closing = False
        self._listener: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.log: Any = None  # the StreamLog resumable streams read (set by the app), or None
        self.tracer: PublishTracer | None = None  # set by the app when tracing is on (predictql.tracing)
        self.system = "redis" if isinstance(self.backend, RedisPubSubBackend) else "memory"

    def start_heartbeats(self, heads: HeadSource, interval: float) -> None:
        """Every ``interval`` seconds, send each local channel's latest seq (read from ``heads``,
        one query per few hundred channels) to its subscribers."""
        self._heartbeat = asyncio.create_task(self._beat(heads, interval), name="bus heartbeat")

    async def _beat(self, source: HeadSource, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            channels = list(self._channels.values())
            if not channels:
                continue
            try:
                heads = await source.heads(channel.name for channel in channels)
            except Exception:  # the database is away: heartbeats carry what this process has seen
                log.warning("reading stream heads failed", exc_info=True)
                heads = {}
            for channel in channels:
                channel.head = max(channel.head, heads.get(channel.name, 0))
                channel.fan_out(Heartbeat(channel.head))

    async def connect(self) -> None:
        await self.backend.connect()
        self._listener = asyncio.create_task(self._listen(), name="bus listener")

    async def disconnect(self) -> None:
        self._closing = True  # channels whose last subscriber leaves now are not unsubscribed one by one
        for channel in list(self._channels.values()):
            channel.close()
        self._channels.clear()
        for task in (self._listener, self._heartbeat):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        await self.backend.disconnect()

    async def _listen(self) -> None:
        while True:
            event = await self.backend.next_published()
            channel = self._channels.get(event.channel)
            if channel is not None:
                channel.receive(event.message)

    async def publish(self, channel: str, message: str) -> None:
        """Publish ``message`` (``"{seq}|{payload}"`` or a bare payload) stamped with the time now."""
        message = stamp(message, time.time())
        if self.tracer is None:
            await self.backend.publish(self.prefix + channel, message)
            return
        with self.tracer.publishing(self.system, channel, len(message)):
            await self.backend.publish(self.prefix + channel, message)

    @asynccontextmanager
    async def subscribe(self, channel: str, *, counted: bool = True) -> AsyncIterator[Subscription]:
        """A live subscription: every message published after this returns is delivered (or a Gap).
        ``counted=False``: a channel only the process itself follows (``stats`` leaves it out).

        The channel's one backend subscription is made by its first local subscriber and ends with
        its last; it is registered before the SUBSCRIBE is sent, so nothing acknowledged is lost.
        """
        wire = self.prefix + channel
        found = self._channels.get(wire)
        if found is None:
            found = self._channels[wire] = _Channel(channel, wire, self.queue_size, self.max_lag)
            found.on_empty = self._left
            found.counted = counted
            found.subscribed = asyncio.create_task(self.backend.subscribe(wire))
        subscription = Subscription(found)
        found.subscribers.add(subscription)
        try:
            assert found.subscribed is not None
            await asyncio.shield(found.subscribed)
            yield subscription
        finally:
            found.subscribers.discard(subscription)
            if not found.subscribers and self._channels.get(wire) is found:
                del self._channels[wire]
                await self.backend.unsubscribe(wire)

    def _left(self, channel: _Channel) -> None:
        """A handed-over subscriber left ``channel``: the last one unsubscribes it (in a task)."""
        if not channel.subscribers and self._channels.get(channel.wire) is channel and not self._closing:
            del self._channels[channel.wire]
            task = asyncio.ensure_future(self.backend.unsubscribe(channel.wire))
            _unsubscribing.add(task)
            task.add_done_callback(_unsubscribing.discard)

    @property
    def connection(self) -> int | None:
        """None while the backend's connection is down; else a number that changes each time it is
        remade, when messages may have been lost (``redis_backend``); always 0 in memory."""
        return self.backend.connection if isinstance(self.backend, RedisPubSubBackend) else 0

    def stats(self) -> dict[str, int]:
        """Channels and subscribers of the streams served (the process's own followers left out:
        ``subscribe(counted=False)``), what they buffer, and the Redis connection's losses."""
        redis = self.backend if isinstance(self.backend, RedisPubSubBackend) else None
        served = [channel for channel in self._channels.values() if channel.counted]
        return {
            "channels": len(served),
            "subscribers": sum(len(channel.subscribers) for channel in served),
            "buffered": sum(len(channel.ring) for channel in served),
            "reconnects": redis.reconnects if redis is not None else 0,
            "dropped_publishes": redis.dropped_publishes if redis is not None else 0,
        }
