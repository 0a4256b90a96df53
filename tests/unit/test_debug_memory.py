"""The soak census (``predictql.debug_memory``) reads the allocators it reports on."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from predictql import allocator, debug_memory


def test_pymalloc_figures_are_read_from_the_interpreter() -> None:
    found = debug_memory._pymalloc()
    assert found["arenas"] >= 1
    assert 0 < found["allocated_mb"] <= found["arenas"]  # 1 MiB arenas


@pytest.mark.skipif(allocator._libc() is None, reason="glibc only")
def test_glibc_heap_figures_are_read() -> None:
    found = debug_memory._malloc()
    assert found["in_use_mb"] > 0
    assert found["arena_mb"] >= found["in_use_mb"]


async def test_a_census_row_has_every_figure(tmp_path: Path) -> None:
    row = debug_memory._census(None, Counter(), time.monotonic(), tmp_path / "census.jsonl")
    assert {"rss_mb", "blocks", "objects", "malloc", "pymalloc", "tasks", "prepared"} <= row.keys()
    assert row["prepared"] == {"connections": 0, "held": 0, "distinct": 0}  # no asyncpg connection here
    assert isinstance(row["tasks"], int) and row["tasks"] >= 1
