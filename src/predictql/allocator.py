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
- ``trim_forever`` calls ``malloc_trim(0)`` every ``PREDICTQL_MALLOC_TRIM_SECONDS`` (default 10;
  0: never): glibc releases the free pages of every arena (``madvise``), not only the heap's top.
  It takes 2-7 ms on the server's ~120 MB heap (~80 ``madvise`` calls; 12 ms, ~220 calls, at the
  former 60 s). Between two trims the RSS climbs by the free pages the load touches again (~1.5 MB
  a minute in a soak, more in a burst): the period bounds that sawtooth and how long a burst's
  memory stays. glibc's tunables (a fixed ``mmap_threshold``/``trim_threshold``, one arena) did
  not change it (bench/RESULTS.md, "Overload on one channel").

Both are no-ops off glibc (musl, macOS). pymalloc's arenas are not touched: a 1 MiB arena returns
when its last block is freed, and on PostgreSQL its fragmentation grew RSS by a few hundred bytes per
trade with its allocated bytes flat. So ``serve`` runs on glibc's malloc instead:

- ``serve_with_malloc``: ``predictql serve`` re-executes itself once, in the same process (same pid),
  with ``PYTHONMALLOC=malloc``, so Python's objects live in glibc's heap, which the periodic trim
  reaches. Not when the operator set ``PYTHONMALLOC`` already, when ``PREDICTQL_PYTHONMALLOC=off``,
  off glibc (without the trim it grows faster), or under ``python -E``/``-I`` (the variable would be
  ignored). It runs before the heavy imports (``predictql.__main__``), so the first interpreter costs
  little. ``--workers`` children inherit the variable.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("predictql.allocator")

M_ARENA_MAX = -8  # glibc's malloc.h
PYTHONMALLOC_SETTING = "PREDICTQL_PYTHONMALLOC"  # Settings.pythonmalloc, read here before Settings exist


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


def malloc_argv(command: list[str], environ: Mapping[str, str]) -> list[str] | None:
    """The command line that re-executes this process with ``PYTHONMALLOC=malloc``, or None to go on
    as is: only for ``serve``, on glibc, when neither the operator's ``PYTHONMALLOC`` nor
    ``PREDICTQL_PYTHONMALLOC=off`` says otherwise. ``command``: the arguments after the program."""
    if command[:1] != ["serve"] or "PYTHONMALLOC" in environ or environ.get(PYTHONMALLOC_SETTING, "malloc") != "malloc":
        return None
    if sys.flags.ignore_environment or _libc() is None:
        return None
    # sys.executable, not orig_argv[0]: a bare "python" would be looked up on PATH (outside the venv).
    return [sys.executable, *sys.orig_argv[1:]]


def serve_with_malloc(command: list[str]) -> None:
    """Re-executes ``predictql serve`` with ``PYTHONMALLOC=malloc`` (see the module's docstring);
    returns when it does not apply. Call before anything else runs: ``exec`` replaces the process."""
    argv = malloc_argv(command, os.environ)
    if argv is None:
        return
    os.environ["PYTHONMALLOC"] = "malloc"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
