"""The caller of a request, from memory while nothing can have changed it (README "How sessions end").

Resolving a token from the database (``sessions.lookup``) costs a pooled connection and a query
per request; a process answers thousands of requests a second from a few hundred callers. This
per-process cache keeps each credential's actor, keyed by its session id (access tokens) or its
hash (API tokens), and drops it as soon as what could change it commits, in whichever process:

- **Invalidation.** Everything that ends or narrows a caller (sign-out, refresh-token reuse, a
  password reset, an API-token revocation, a role change) calls ``topics.access_changed`` in its
  transaction, which emits on the one channel ``topics.ACCESS`` too. Every process follows it
  (``ActorCache.follow``) and drops that user's entries on each message.
- **Fail-safe.** The cache answers only while its follower is subscribed on a connected bus whose
  connection has not been remade since (``Bus.connection``); before that every request reads the
  database. A gap (overflow, reconnect), a message skipping a seq, or a heartbeat ahead of the last
  message seen (a message lost) empties it. A database read that started before an invalidation is
  not stored (``_epoch``). No entry lives longer than ``ttl``: the last net for a loss nothing
  signals, and for a ban written into the database by hand (there is no ban operation).
- **Ordered with the commit.** The revoking transaction's own process drops the entries at once,
  then the request waits (at most ``ECHO_TIMEOUT``) until its message has come back from the bus:
  Redis has then sent it to every process before the revoking request answers. What remains is a
  request that reaches another process in the instant between Redis sending it the message and
  that process's event loop reading it, or while a dead Redis connection is not yet noticed (its
  PING probe: up to 10 s); the TTL bounds both.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.commit_effects import effects
from predictql.db import Database, after_commit
from predictql.services import sessions
from predictql.settings import Settings
from predictql.subscriptions import topics
from predictql.subscriptions.bus import Bus, Heartbeat, Message
from predictql.subscriptions.payloads import AccessChange
from predictql.subscriptions.stream_log import split

log = logging.getLogger("predictql.sessions")

ECHO_TIMEOUT = 1.0  # seconds a revoking request waits for its message to come back from the bus
RETRY_SECONDS = 1.0  # before following again after the subscription failed
MAX_ENTRIES = 100_000  # the oldest entry leaves when a new one would exceed this


class ActorCache:
    """Actors by credential, for ``ttl`` seconds at most, while ``follow`` keeps them current."""

    def __init__(self, bus: Bus, ttl: float, *, max_entries: int = MAX_ENTRIES) -> None:
        self.bus = bus
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Actor, float]] = {}  # credential key -> (actor, expiry)
        self._by_user: dict[int, set[str]] = {}
        self._loading: dict[str, asyncio.Future[Actor]] = {}  # credential key -> its read under way
        self._epoch = 0  # bumped by every invalidation: a read started before one is not stored
        self._followed_on: int | None = None  # the bus connection the follower is live on
        self._seen = 0  # the highest seq of the access channel known here
        self._advanced = asyncio.Event()  # set (and replaced) whenever ``_seen`` grows

    @property
    def live(self) -> bool:
        """Whether every invalidation committed from now on will reach this cache."""
        return self.ttl > 0 and self._followed_on is not None and self._followed_on == self.bus.connection

    async def resolve(self, db: Database, settings: Settings, token: str | None) -> Actor:
        """``sessions.resolve_actor``, from memory when the cache can be sure of the answer."""
        found = sessions.credential(settings, token)
        if isinstance(found, Actor):
            return found
        if not self.live:
            return await _read(db, found)
        entry = self._entries.get(found.key)
        if entry is not None and entry[1] > time.monotonic():
            return entry[0]
        # One read per credential at a time: a burst of its requests (its entry just expired) waits
        # for it instead of taking a connection each. An invalidation forgets the reads under way,
        # so a request arriving after it reads again. The read runs outside the caller's context:
        # never inside one request's held transaction (``Database.unit``) that others then wait on.
        loading = self._loading.get(found.key)
        if loading is None:
            read = self._load(db, found)
            loading = asyncio.get_running_loop().create_task(read, context=contextvars.Context())
            self._loading[found.key] = loading
            loading.add_done_callback(lambda done: self._loaded(found.key, done))
        return await asyncio.shield(loading)

    async def _load(self, db: Database, found: sessions.Credential) -> Actor:
        epoch = self._epoch
        actor = await _read(db, found)
        if actor.user_id is not None and epoch == self._epoch and self.live:
            self._store(found.key, actor.user_id, actor)
        return actor

    def _loaded(self, key: str, done: asyncio.Future[Actor]) -> None:
        if self._loading.get(key) is done:
            del self._loading[key]
        if not done.cancelled():
            done.exception()  # its waiters got it; none may be left to (the database is away)

    def _store(self, key: str, user_id: int, actor: Actor) -> None:
        self._drop(key)
        if len(self._entries) >= self.max_entries:
            self._drop(next(iter(self._entries)))
        # Expiries spread over the second half of the TTL: the entries of a burst do not all expire
        # (and read the database) together.
        self._entries[key] = (actor, time.monotonic() + self.ttl * (0.5 + random.random() / 2))
        self._by_user.setdefault(user_id, set()).add(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None and entry[0].user_id is not None:
            keys = self._by_user.get(entry[0].user_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_user[entry[0].user_id]

    def forget(self, user_ids: Iterable[int]) -> None:
        """Drop what is known of these users (their access changed)."""
        self._epoch += 1
        self._loading.clear()
        for user_id in user_ids:
            for key in list(self._by_user.get(user_id, ())):
                self._drop(key)

    def clear(self) -> None:
        """Drop everything (an invalidation may have been missed)."""
        self._epoch += 1
        self._loading.clear()
        self._entries.clear()
        self._by_user.clear()

    def __len__(self) -> int:
        return len(self._entries)

    # -- following the access channel ---------------------------------------------------------

    async def follow(self) -> None:
        """Keep the cache current for as long as this runs (a task of the app's lifespan)."""
        while True:
            try:
                await self._follow_once()
            except Exception:
                log.warning("following the access channel failed; callers are read from the database", exc_info=True)
            await asyncio.sleep(RETRY_SECONDS)

    async def _follow_once(self) -> None:
        try:
            async with self.bus.subscribe(topics.ACCESS, counted=False) as subscription:
                # Read before the head: a reconnect after it shows. None (Redis down): not live
                # until the gap that the late acknowledgement brings.
                connection = self.bus.connection
                self._advance(await self._head())
                self.clear()
                self._followed_on = connection
                async for delivery in subscription:
                    self._take(delivery)
        finally:
            self._followed_on = None
            self.clear()

    async def _head(self) -> int:
        return await self.bus.log.head(topics.ACCESS) if self.bus.log is not None else 0

    def _take(self, delivery: Message | Heartbeat | object) -> None:
        if isinstance(delivery, Message):
            if self._seen and delivery.seq > self._seen + 1:  # one was skipped: maybe lost
                self.clear()
            else:
                self.forget([AccessChange.from_json(delivery.text).user_id])
            self._advance(delivery.seq)
        elif isinstance(delivery, Heartbeat):
            if delivery.seq > self._seen:  # committed, and never delivered here
                self.clear()
                self._advance(delivery.seq)
        else:  # a gap: messages may be lost; after a reconnect, live again on the new connection
            self.clear()
            self._followed_on = self.bus.connection

    def _advance(self, seq: int) -> None:
        if seq > self._seen:
            self._seen = seq
            self._advanced.set()
            self._advanced = asyncio.Event()

    # -- ordering with the commit -------------------------------------------------------------

    async def committed(self, session: AsyncSession) -> None:
        """A ``Database`` commit hook, after ``stream_log.sequence``: a transaction that changed
        access answers only once this process knows (and the bus has delivered) its message."""
        users, last = [], 0
        for channel, text in effects(session).messages:
            if channel == topics.ACCESS:
                seq, payload, _ = split(text)
                users.append(AccessChange.from_json(payload).user_id)
                last = max(last, seq)
        if users:
            after_commit(session, lambda: self._delivered(users, last))

    async def _delivered(self, users: list[int], seq: int) -> None:
        self.forget(users)
        if not self.live:
            return
        try:
            async with asyncio.timeout(ECHO_TIMEOUT):
                while self._seen < seq:
                    await self._advanced.wait()
        except TimeoutError:
            log.warning("access change %s not back from the bus within %.1f s", seq, ECHO_TIMEOUT)


async def _read(db: Database, found: sessions.Credential) -> Actor:
    async with db.session() as session:
        return await sessions.lookup(session, found)
