"""Hand freed heap memory back to the system, so a long-running server's RSS follows its live memory.

Soaks (``bench/soak.py`` with the census of ``debug_memory``) found no Python object retained per
trade: live objects, Python's allocated blocks and glibc's bytes in use stay flat for the whole run,
while RSS rose with the number of trades. What rose was memory the allocators hold *free*: glibc's
free lists in its arenas (each thread that allocates, e.g. every aiosqlite connection's thread, gets
an arena of its own, up to 8 per core, and a freed chunk in the middle of an arena is never returned)
and pymalloc's partly used 1 MiB arenas. glibc gives such pages back only when asked:

- ``limit_arenas`` caps glibc's arenas (``mallopt(M_ARENA_MAX)``, ``PREDICTQL_MALLOC_ARENA_MAX``,
  default 2): fewer arenas, less free memory stranded in each. Called before the server's threads
  allocate (threads reuse the capped set).
- ``trim_forever`` calls ``malloc_trim(0)`` every ``PREDICTQL_MALLOC_TRIM_SECONDS`` (default 60;
  0: never): glibc releases the free pages of every arena (``madvise``), not only the heap's top.
  It takes a few milliseconds on a heap of this size.

Both are no-ops off glibc (musl, macOS). pymalloc's arenas are not touched: a 1 MiB arena returns
when its last block is freed.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("predictql.allocator")

M_ARENA_MAX = -8  # glibc's malloc.h


def _libc() -> Any | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas at ``count`` (0: leave glibc's default); False when not glibc."""
    libc = _libc()
    if libc is None or count <= 0:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, count))


def trim() -> bool:
    """``malloc_trim(0)``: True when glibc returned some memory to the system."""
    libc = _libc()
    return libc is not None and bool(libc.malloc_trim(0))


async def trim_forever(period: float, trim_once: Callable[[], bool] = trim) -> None:
    """Trims every ``period`` seconds until cancelled (the app's lifespan owns the task)."""
    while True:
        await asyncio.sleep(period)
        trim_once()
