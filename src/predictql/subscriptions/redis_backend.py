"""A broadcaster backend for Redis pub/sub that can be trusted with live streams.

broadcaster 0.3.1's ``RedisBackend`` has three defects we measured (PITFALLS.md):

- **The first channel misses every message.** Its ``subscribe`` wakes the listener *before*
  redis-py records the channel; the listener's ``listen()`` sees no subscription, returns at once
  and goes back to sleep, and nothing reads the socket until another channel is subscribed.
- **A lost connection hangs every subscriber.** redis-py either reconnects silently (its default
  retries resubscribe, and whatever was published meanwhile is gone without a trace) or raises
  in the listener task, which dies while subscribers wait forever.
- ``subscribe`` returns before Redis has processed the SUBSCRIBE, so a message published right
  after it can still be missed.

Here one listener task owns the subscriber connection (redis-py retries off, so a failure
surfaces) and reads every reply: ``subscribe`` returns once Redis has acknowledged the
SUBSCRIBE. A silent connection is probed with PING. When the connection is lost the listener
reconnects with exponential backoff, resubscribes every wanted channel and, as each is
acknowledged again, queues a ``GAP`` event for it, so the bus can tell subscribers that they may
have missed messages. Publishing goes through a second client and a sender task that pipelines
whatever is queued: a commit never waits for a Redis round trip per event.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from typing import Any

from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend
from redis import asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger("predictql.bus")

# Queued as an event's message when a channel was resubscribed after a lost connection. Real
# messages are JSON texts and never start with a NUL.
GAP = "\x00gap"
OUTBOX_LIMIT = 100_000
BATCH = 500


class RedisPubSubBackend(BroadcastBackend):
    def __init__(
        self,
        url: str,
        *,
        ack_timeout: float = 5.0,
        health_interval: float = 5.0,
        backoff: tuple[float, float] = (0.05, 5.0),
    ) -> None:
        self._url = url
        self._ack_timeout = ack_timeout
        self._health_interval = health_interval
        self._backoff = backoff
        # One retry lets a publish survive a pooled connection that died with a Redis restart.
        self._publisher = aioredis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), socket_connect_timeout=2)
        # Named, so an operator (or a test) can find it in CLIENT LIST.
        self.client_name = f"predictql-sub-{os.getpid()}-{id(self):x}"
        self._subscriber = aioredis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2, client_name=self.client_name
        )
        self._pubsub: PubSub | None = None
        self._live = False
        self._lock = asyncio.Lock()  # one command at a time on the subscriber connection
        self._wanted: set[str] = set()
        self._acked: dict[str, asyncio.Event] = {}
        self._gap_on_ack: set[str] = set()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._outbox: deque[tuple[str, str]] = deque()
        self._outbox_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.reconnects = 0
        self.dropped_publishes = 0

    @property
    def connection(self) -> int | None:
        """None while the subscriber connection is down; else how many times it was remade (what
        was published while it was down is lost: a change of this number says so at once)."""
        return self.reconnects if self._live else None

    async def connect(self) -> None:
        """Fails fast when Redis is unreachable at start-up; later losses are handled in the background."""
        self._pubsub = await self._open()
        self._live = True
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="redis bus listener"),
            asyncio.create_task(self._send_forever(), name="redis bus sender"),
        ]

    async def disconnect(self) -> None:
        for _ in range(200):  # let what was committed reach Redis (at most about 2 s)
            if not self._outbox:
                break
            await asyncio.sleep(0.01)
        # redis-py may swallow a cancellation that lands inside a command (measured with redis 8.1:
        # the sender then waited forever): stop the sender with a flag, and never wait unbounded.
        self._closing = True
        self._outbox_ready.set()
        for task in self._tasks:
            task.cancel()
        _, stuck = await asyncio.wait(self._tasks, timeout=2.0)
        for task in stuck:
            log.warning("bus task %s did not stop within 2 s", task.get_name())
        if self._pubsub is not None:
            await _close(self._pubsub)
        await self._publisher.aclose()
        await self._subscriber.aclose()

    async def subscribe(self, channel: str) -> None:
        """Returns once Redis acknowledged the SUBSCRIBE. If that takes longer than ``ack_timeout``
        (Redis down), returns anyway: the late acknowledgement then brings a ``GAP``."""
        self._wanted.add(channel)
        acked = self._acked.setdefault(channel, asyncio.Event())
        if self._live and self._pubsub is not None:
            try:
                async with self._lock:
                    await self._pubsub.subscribe(channel)
            except Exception as exc:  # the listener notices the lost connection and resubscribes
                log.warning("SUBSCRIBE %s failed: %s", channel, exc)
        try:
            await asyncio.wait_for(acked.wait(), self._ack_timeout)
        except TimeoutError:
            log.warning("SUBSCRIBE %s not acknowledged within %.1f s", channel, self._ack_timeout)
            self._gap_on_ack.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._wanted.discard(channel)
        self._acked.pop(channel, None)
        self._gap_on_ack.discard(channel)
        if self._live and self._pubsub is not None:
            try:
                async with self._lock:
                    await self._pubsub.unsubscribe(channel)
            except Exception as exc:
                log.warning("UNSUBSCRIBE %s failed: %s", channel, exc)

    async def publish(self, channel: str, message: Any) -> None:
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._outbox.popleft()
            self.dropped_publishes += 1
        self._outbox.append((channel, message))
        self._outbox_ready.set()

    async def next_published(self) -> Event:
        return await self._queue.get()

    # -- the subscriber connection ------------------------------------------------------------

    async def _open(self) -> PubSub:
        pubsub = self._subscriber.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]
            if self._wanted:
                await pubsub.subscribe(*self._wanted)
        except BaseException:
            await _close(pubsub)
            raise
        return pubsub

    async def _listen_forever(self) -> None:
        while not self._closing:
            assert self._pubsub is not None
            try:
                await self._read(self._pubsub)
            except Exception as exc:
                log.warning("Redis pub/sub connection lost (%s); reconnecting", exc)
            self._live = False
            await _close(self._pubsub)
            self._pubsub = await self._reconnect()

    async def _reconnect(self) -> PubSub:
        delay, ceiling = self._backoff
        while True:
            await asyncio.sleep(delay)
            try:
                async with self._lock:
                    # Whatever was published while we were away is lost: every channel gets a GAP
                    # once it is acknowledged again.
                    self._gap_on_ack.update(self._wanted)
                    pubsub = await self._open()
                    self._live = True
            except Exception as exc:
                log.warning("Redis reconnect failed (%s); next attempt in %.2f s", exc, min(delay * 2, ceiling))
                delay = min(delay * 2, ceiling)
                continue
            self.reconnects += 1
            log.warning("Redis pub/sub reconnected; %d channel(s) resubscribed", len(self._wanted))
            return pubsub

    async def _read(self, pubsub: PubSub) -> None:
        """Until the connection fails: route messages, record acknowledgements, probe silence."""
        ping_sent = False
        while True:
            message = await pubsub.get_message(timeout=self._health_interval)
            if message is None:
                if ping_sent:
                    raise ConnectionError(f"no reply to PING within {self._health_interval} s")
                async with self._lock:
                    await pubsub.ping()
                ping_sent = True
                continue
            ping_sent = False
            kind = message["type"]
            if kind == "message":
                self._queue.put_nowait(Event(_text(message["channel"]), _text(message["data"])))
            elif kind == "subscribe":
                self._acknowledged(_text(message["channel"]))

    def _acknowledged(self, channel: str) -> None:
        if channel not in self._wanted:
            return
        self._acked.setdefault(channel, asyncio.Event()).set()
        if channel in self._gap_on_ack:
            self._gap_on_ack.discard(channel)
            self._queue.put_nowait(Event(channel, GAP))

    # -- publishing ---------------------------------------------------------------------------

    async def _send_forever(self) -> None:
        while not self._closing:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
                try:
                    async with self._publisher.pipeline(transaction=False) as pipe:
                        for channel, message in batch:
                            pipe.publish(channel, message)
                        await pipe.execute()
                except Exception as exc:  # the data is committed; subscribers learn of the loss by seq
                    self.dropped_publishes += len(batch)
                    log.warning("publish of %d message(s) failed: %s", len(batch), exc)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _close(pubsub: PubSub) -> None:
    try:
        # redis-py types aclose() in some releases and not in others: call it untyped either way.
        closer: Any = pubsub.aclose
        await closer()
    except Exception:  # closing a broken connection may fail too; nothing is left to do
        log.debug("closing the pub/sub connection failed", exc_info=True)
