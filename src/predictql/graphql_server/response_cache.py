"""A micro-cache of anonymous GraphQL query responses (the public feed is the same for everyone).

An entry is served only while it is younger than the TTL *and* no write transaction has committed
in this process since it was stored (``Database.version``), so a process never serves data older
than its own last write; writes in other processes are bounded by the TTL. Signed-in callers,
mutations and responses with errors are never cached.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from strawberry.types.graphql import OperationType

from predictql.graphql_server.operations import operation_type
from predictql.jsonutil import dumps


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    version: int
    stored_at: float


def is_query(document: str, operation_name: str | None) -> bool:
    return operation_type(document, operation_name) is OperationType.QUERY


def key_of(query: str, operation_name: str | None, variables: dict[str, Any] | None, media: str) -> str:
    """The key of a validated request: the same operation, variables and answer media type."""
    return hashlib.sha256(dumps([query, operation_name, variables, media])).hexdigest()


class ResponseCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 256) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, key: str, version: int) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.version != version or time.monotonic() - entry.stored_at > self.ttl:
            del self._entries[key]
            return None
        return entry.body

    def put(self, key: str, version: int, body: bytes) -> None:
        self._entries[key] = Entry(body, version, time.monotonic())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
