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
import gc
import json
import logging
import os
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

log = logging.getLogger("predictql.debug_memory")

TOP = 15


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


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
            "at": [f"{f.filename}:{f.lineno}" for f in d.traceback[-4:]],
        }
        for d in snapshot.compare_to(baseline, "traceback")[:TOP]
    ]


def _census(baseline: tracemalloc.Snapshot | None, types0: Counter[str], started: float) -> dict[str, object]:
    types = _type_counts()
    total = sum(types.values())
    types.subtract(types0)
    return {
        "t": round(time.monotonic() - started, 1),
        "rss_mb": _rss_mb(),
        "blocks": sys.getallocatedblocks(),
        "objects": total,
        "traced_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 2),
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
            row = _census(baseline, types0, started)
            with path.open("a") as out:
                out.write(json.dumps(row) + "\n")
    finally:
        if frames:
            tracemalloc.stop()
