"""The shared cache of public GraphQL query responses: one entry per operation for every caller.

An operation whose fields are all PUBLIC (``cache_control``) is answered from one entry whoever asks,
signed in or not. The entry is always computed as an anonymous caller, so it holds only what anyone
may see; a signed-in caller whose public answer has a null root field (a hidden event, another
user's object asked by id) or errors gets their own execution instead, never shared.

An entry is served only while it is younger than the TTL *and* no write has committed since it was
stored: in this process (``Database.version``) and, when Redis is configured, in any process (a
generation counter in Redis that every commit increments before its request answers; it is read
before each lookup and before each execution, so an entry computed before another process's commit
is never served after it). If Redis cannot be read, the cache is bypassed. Mutations, subscriptions,
PRIVATE operations and responses with errors are never stored.

One execution fills a missing entry: requests that miss the same key at the same version while it
runs wait for its entry (``filling``) instead of each executing the operation again. When the entry
expires under load, every request arriving during its re-execution otherwise executed it too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from redis import asyncio as aioredis
from strawberry.types.graphql import OperationType

from predictql.graphql_server.operations import operation_type
from predictql.jsonutil import dumps
from predictql.settings import Settings

log = logging.getLogger("predictql.graphql.cache")


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    version: tuple[int, int]
    stored_at: float
    etag: str
    personal: bool  # a root field is null: a signed-in caller may see more (their own execution)


def is_query(document: str, operation_name: str | None) -> bool:
    return operation_type(document, operation_name) is OperationType.QUERY


def key_of(query: str, operation_name: str | None, variables: dict[str, Any] | None, media: str) -> str:
    """The key of a validated request: the same operation, variables and answer media type."""
    return hashlib.sha256(dumps([query, operation_name, variables, media])).hexdigest()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def has_null_root(body: bytes) -> bool:
    """True when the answer's ``data`` has a null top-level field or a null item in a top-level list
    (``node``/``nodes`` of what only its owner sees, a hidden event), or is not an object."""
    try:
        data = orjson.loads(body).get("data")
    except Exception:  # not JSON (another media type): be conservative
        return True
    if not isinstance(data, dict):
        return True
    return any(value is None or (isinstance(value, list) and None in value) for value in data.values())


def cache_redis_url(settings: Settings) -> str | None:
    """Where the shared generation lives: ``redis_url``, else the bus when it is Redis; None without."""
    for url in (settings.redis_url, settings.broadcast_url):
        if url and url.startswith(("redis://", "rediss://", "unix://")):
            return url
    return None


class Generation:
    """Commits of every process sharing one Redis: a counter incremented after each commit."""

    def __init__(self, redis_url: str | None, key: str) -> None:
        self.key = key
        self.client: aioredis.Redis | None = (
            aioredis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2) if redis_url else None
        )

    async def bump(self) -> None:
        if self.client is None:
            return
        try:
            # Shielded: redis-py can swallow a cancellation that lands inside a command, and a
            # background loop cancelled at shutdown while committing then slept on for ever (seen
            # as a hung lifespan teardown on PostgreSQL + Redis). The caller is cancelled at once;
            # the increment finishes on its own.
            await asyncio.shield(self.client.incr(self.key))
        except Exception:  # the data is committed; other processes' entries expire by the TTL
            log.exception("cache generation bump failed")

    async def current(self) -> int | None:
        """The shared generation (0 without Redis); None when Redis cannot answer (bypass the cache)."""
        if self.client is None:
            return 0
        try:
            value = await asyncio.shield(self.client.get(self.key))  # as in bump: cancellation stays ours
        except Exception:
            log.warning("cache generation unreadable: cache bypassed", exc_info=True)
            return None
        return int(value or 0)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()


NO_GENERATION = Generation(None, "")


class ResponseCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 256) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._filling: dict[tuple[str, tuple[int, int]], asyncio.Future[Entry | None]] = {}

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, key: str, version: tuple[int, int]) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.version != version or time.monotonic() - entry.stored_at > self.ttl:
            del self._entries[key]
            return None
        return entry

    def put(self, key: str, version: tuple[int, int], body: bytes) -> Entry:
        entry = Entry(body, version, time.monotonic(), etag_of(body), has_null_root(body))
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        pending = self._filling.pop((key, version), None)
        if pending is not None and not pending.done():
            pending.set_result(entry)  # the requests waiting for it (``filling``)
        return entry

    async def filled(self, key: str, version: tuple[int, int]) -> Entry | None:
        """The entry an execution under way for this key and version stores, once it has (None if
        none is under way, or it stored nothing: an error, a failure, a cancelled request)."""
        pending = self._filling.get((key, version))
        if pending is None:
            return None
        return await asyncio.shield(pending)  # a waiter cancelled must not cancel the others' wait

    @contextmanager
    def filling(self, key: str, version: tuple[int, int]) -> Iterator[None]:
        """While the body runs, requests missing ``key`` at ``version`` wait (``filled``) for the
        entry it ``put``s; they are released with None if it stores none."""
        slot = (key, version)
        pending: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        self._filling.setdefault(slot, pending)
        try:
            yield
        finally:
            if self._filling.get(slot) is pending:
                del self._filling[slot]
            if not pending.done():
                pending.set_result(None)
