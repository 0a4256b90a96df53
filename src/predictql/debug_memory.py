"""Opt-in memory census for soaks: ``PREDICTQL_DEBUG_MEMORY=path`` (never in production use).

Every ``PREDICTQL_DEBUG_MEMORY_SECONDS`` appends one JSON line to *path*: RSS, the blocks Python's
allocator holds, the object types whose live count grew most since the first census (the baseline,
taken one period after start) and, with ``PREDICTQL_DEBUG_MEMORY_FRAMES`` > 0, the ``tracemalloc``
allocation sites that grew most (tracemalloc slows the server 2-3x: on a loaded machine a soak then
fails for lack of CPU). A leak shows as a type or a site growing census after census; memory held
outside Python objects (SQLite's page cache, the C allocator's free lists) as RSS rising while the
blocks and the counts stay flat.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import logging
import os
import re
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

log = logging.getLogger("predictql.debug_memory")

TOP = 15


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _malloc() -> dict[str, float]:
    """glibc's heap (``mallinfo2``, main arena + per-thread arenas): MB obtained with brk/mmap
    arenas, in use, free inside the arenas (fragmentation or cached free lists) and in large mmap
    chunks. Empty off glibc. Memory outside Python's objects shows here and not in ``blocks``."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    mb = 2**20
    return {
        "arena_mb": round(info.arena / mb, 2),
        "in_use_mb": round(info.uordblks / mb, 2),
        "free_mb": round(info.fordblks / mb, 2),
        "mmap_mb": round(info.hblkhd / mb, 2),
    }


def _prepared_statements(path: Path) -> dict[str, int]:
    """The asyncpg connections' prepared-statement caches (SQLAlchemy's, per connection): how many
    connections, statements held and distinct texts; every distinct text (with how many connections
    hold it) is written beside the census (``<path>.sql``), so a family of statements that differ
    only by their number of parameters shows."""
    held: Counter[str] = Counter()
    connections = 0
    for obj in gc.get_objects():
        if type(obj).__name__ == "AsyncAdapt_asyncpg_connection":
            cache = getattr(obj, "_prepared_statement_cache", None)
            if cache is not None:
                connections += 1
                held.update(list(cache.keys()))
    if connections:
        lines = (f"{n}\t{' '.join(text.split())}" for text, n in sorted(held.items()))
        path.with_suffix(path.suffix + ".sql").write_text("\n".join(lines) + "\n")
    return {"connections": connections, "held": sum(held.values()), "distinct": len(held)}


_STAT = re.compile(
    r"^# (arenas allocated current|bytes in allocated blocks|bytes in available blocks) += +([\d,]+)", re.M
)


def _pymalloc() -> dict[str, float]:
    """Python's small-object allocator (``sys._debugmallocstats``, read from its stderr output):
    1 MiB arenas held, MB in allocated blocks and MB free inside them. Arenas growing while the
    allocated blocks do not is fragmentation: a few live blocks pinning whole arenas."""
    with tempfile.TemporaryFile("w+") as out:
        saved = os.dup(2)
        sys.stderr.flush()
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        found = dict(_STAT.findall(out.read()))
    value = {name: int(text.replace(",", "")) for name, text in found.items()}
    return {
        "arenas": value.get("arenas allocated current", 0),
        "allocated_mb": round(value.get("bytes in allocated blocks", 0) / 2**20, 2),
        "available_mb": round(value.get("bytes in available blocks", 0) / 2**20, 2),
    }


def _type_counts() -> Counter[str]:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def _sites(baseline: tracemalloc.Snapshot | None) -> list[dict[str, object]]:
    if baseline is None:
        return []
    snapshot = tracemalloc.take_snapshot().filter_traces((tracemalloc.Filter(False, tracemalloc.__file__),))
    return [
        {
            "kb": round(d.size_diff / 1024, 1),
            "count": d.count_diff,
            # the allocating frame first (a traceback is stored oldest first): the frames nearest the
            # allocation tell what holds it; a site whose innermost frame is the event loop's entry
            # (``runners.py``) was allocated by C code (uvloop, asyncpg's protocol) the loop ran
            "at": [f"{f.filename}:{f.lineno}" for f in reversed(d.traceback[-6:])],
        }
        for d in snapshot.compare_to(baseline, "traceback")[:TOP]
    ]


def _census(
    baseline: tracemalloc.Snapshot | None, types0: Counter[str], started: float, path: Path
) -> dict[str, object]:
    types = _type_counts()
    total = sum(types.values())
    types.subtract(types0)
    return {
        "t": round(time.monotonic() - started, 1),
        "rss_mb": _rss_mb(),
        "blocks": sys.getallocatedblocks(),
        "objects": total,
        "traced_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 2),
        "malloc": _malloc(),
        "pymalloc": _pymalloc(),
        "tasks": len(asyncio.all_tasks()),
        "prepared": _prepared_statements(path),
        "types": [[name, n] for name, n in types.most_common(TOP) if n > 0],
        "sites": _sites(baseline),
    }


async def census_forever(path: Path, period: float, frames: int = 0) -> None:
    """Writes a census every *period* seconds until cancelled (the app's lifespan owns the task)."""
    if frames:
        tracemalloc.start(frames)
    started = time.monotonic()
    await asyncio.sleep(period)
    gc.collect()
    baseline = tracemalloc.take_snapshot() if frames else None
    types0 = _type_counts()
    log.warning("memory census every %ss to %s (tracemalloc frames: %s)", period, path, frames)
    try:
        while True:
            await asyncio.sleep(period)
            gc.collect()
            row = _census(baseline, types0, started, path)
            with path.open("a") as out:
                out.write(json.dumps(row) + "\n")
    finally:
        if frames:
            tracemalloc.stop()
