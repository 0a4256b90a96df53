"""The event bus over broadcaster's backends: ``memory://`` embedded, ``redis://`` across processes.

Messages are JSON strings, serialized once by the publisher (``subscriptions.topics``).

**One backend subscription per channel per process.** The first local subscriber of a channel
subscribes it on the backend (on Redis: one SUBSCRIBE, acknowledged before ``subscribe`` returns);
the last one to leave unsubscribes it. One listener task reads the backend and wraps each message
once in a ``Message``, which memoizes decoded views, so a payload is parsed or re-encoded once per
channel, not once per subscriber; the message is then appended to each local subscriber's queue.
The listener never waits for a subscriber: one client that stopped reading cannot slow the others.
(broadcaster's own ``Broadcast`` is not used: it registers a channel's queue only after the
backend's subscribe returns, so a message arriving right after the acknowledgement is dropped,
and its per-subscriber queues are unbounded.)

**Slow-consumer policy.** Each subscriber's queue holds at most ``queue_size`` items. When a
message finds it full, that subscriber's backlog is dropped and replaced by one ``Gap``
("overflow"); it then keeps receiving new messages. State streams (a market, a chart) answer a gap
with a fresh snapshot read from the database; event streams (trades) pass the gap on to the client.
Memory per subscriber is bounded, whatever the client does.

**Sequence numbers and heartbeats.** Published texts are ``"{seq}|{payload}"`` (``stream_log``);
``Message.seq`` is the channel's number, ``Message.text`` the payload. Every
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
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlparse

from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend

from predictql.subscriptions.redis_backend import GAP, RedisPubSubBackend
from predictql.subscriptions.stream_log import split

log = logging.getLogger("predictql.bus")

T = TypeVar("T")
GapReason = Literal["overflow", "reconnect"]
SNAPSHOT_TTL = 1.0  # seconds a keyed snapshot may be reused while its channel is quiet


class Message:
    """One published message as delivered to every local subscriber of its channel."""

    __slots__ = ("_views", "channel", "index", "seq", "text")

    def __init__(self, channel: str, text: str, index: int, seq: int = 0) -> None:
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


class _Closed:
    """The bus is shutting down: the subscription ends."""


_CLOSED = _Closed()
Delivery = Message | Gap | Heartbeat


class Subscription:
    """A local subscriber's bounded queue of ``Message``/``Gap``; iterate it with ``async for``."""

    __slots__ = ("_channel", "_items", "_limit", "_waiter", "overflows")

    def __init__(self, channel: _Channel, limit: int) -> None:
        self._channel = channel
        self._items: deque[Delivery | _Closed] = deque()
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None
        self.overflows = 0

    @property
    def channel(self) -> str:
        return self._channel.name

    def push(self, item: Delivery | _Closed) -> None:
        if isinstance(item, Heartbeat) and len(self._items) >= self._limit:
            return  # a subscriber this far behind learns the head from the messages it still has
        if len(self._items) >= self._limit and isinstance(item, Message):
            self._items.clear()
            self._items.append(Gap(self._channel, "overflow"))
            self.overflows += 1
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def discard_before(self, index: int) -> None:
        """Forget queued messages up to ``index``: a snapshot read after they arrived includes them."""
        self._items = deque(item for item in self._items if not (isinstance(item, Message) and item.index <= index))

    async def load(self, load: Callable[[], Awaitable[T]], key: Hashable | None = None) -> T:
        """Read a snapshot, then drop queued messages it already includes. With a ``key``, a snapshot
        of the channel read under the same key less than ``SNAPSHOT_TTL`` ago, with no message since,
        is reused (a burst of connects costs one read); the key must cover everything the result
        depends on, the caller's visibility included."""
        index, value = await self._channel.load(load, key)
        self.discard_before(index)
        return value

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Delivery:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if isinstance(item, _Closed):
            self._items.appendleft(item)
            raise StopAsyncIteration
        return item


class _Channel:
    def __init__(self, name: str, wire: str) -> None:
        self.name = name
        self.wire = wire  # the backend's channel name (with the bus prefix)
        self.subscribers: set[Subscription] = set()
        self.count = 0
        self.subscribed: asyncio.Task[None] | None = None
        self.snapshots: dict[Hashable, tuple[int, float, asyncio.Future[Any]]] = {}
        self.head = 0  # the highest seq seen here (messages, heartbeats)

    def receive(self, text: str) -> None:
        if text == GAP:
            self.snapshots.clear()  # messages were lost: a cached snapshot may lack them
            self.fan_out(Gap(self, "reconnect"))
            return
        self.count += 1
        seq, payload = split(text)
        self.head = max(self.head, seq)
        self.fan_out(Message(self.name, payload, self.count, seq))

    def fan_out(self, item: Delivery | _Closed) -> None:
        for subscription in self.subscribers:
            subscription.push(item)

    async def load(self, load: Callable[[], Awaitable[T]], key: Hashable | None = None) -> tuple[int, T]:
        """``load()`` and the message count when it started (the messages it includes)."""
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


class Bus:
    def __init__(self, url: str, *, queue_size: int = 256, prefix: str = "", ack_timeout: float = 5.0) -> None:
        self.url = url
        self.queue_size = queue_size
        self.prefix = prefix  # namespaces channels when several deployments share one Redis
        self.backend = _backend(url, ack_timeout)
        self._channels: dict[str, _Channel] = {}  # by wire name
        self._listener: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.log: Any = None  # the StreamLog resumable streams read (set by the app), or None

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
        for channel in self._channels.values():
            channel.fan_out(_CLOSED)
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
        await self.backend.publish(self.prefix + channel, message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        """A live subscription: every message published after this returns is delivered (or a Gap).

        The channel's one backend subscription is made by its first local subscriber and ends with
        its last; it is registered before the SUBSCRIBE is sent, so nothing acknowledged is lost.
        """
        wire = self.prefix + channel
        found = self._channels.get(wire)
        if found is None:
            found = self._channels[wire] = _Channel(channel, wire)
            found.subscribed = asyncio.create_task(self.backend.subscribe(wire))
        subscription = Subscription(found, self.queue_size)
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

    def stats(self) -> dict[str, int]:
        redis = self.backend if isinstance(self.backend, RedisPubSubBackend) else None
        return {
            "channels": len(self._channels),
            "subscribers": sum(len(channel.subscribers) for channel in self._channels.values()),
            "reconnects": redis.reconnects if redis is not None else 0,
            "dropped_publishes": redis.dropped_publishes if redis is not None else 0,
        }
