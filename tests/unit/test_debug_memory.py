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
    # Earlier tests (PostgreSQL runs) may leave asyncpg connections for the collector: only the shape here.
    assert set(row["prepared"]) == {"connections", "held", "distinct"}
    assert isinstance(row["tasks"], int) and row["tasks"] >= 1


class AsyncAdapt_asyncpg_connection:  # the census recognises SQLAlchemy's adapter by its class name
    def __init__(self, *statements: str) -> None:
        self._prepared_statement_cache = dict.fromkeys(statements)


def test_prepared_statements_are_counted_per_connection_and_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = [AsyncAdapt_asyncpg_connection("SELECT 1", "SELECT  2"), AsyncAdapt_asyncpg_connection("SELECT 1"), object()]
    monkeypatch.setattr(debug_memory.gc, "get_objects", lambda: live)
    found = debug_memory._prepared_statements(tmp_path / "census.jsonl")
    assert found == {"connections": 2, "held": 3, "distinct": 2}
    assert (tmp_path / "census.jsonl.sql").read_text() == "1\tSELECT 2\n2\tSELECT 1\n"  # sorted by the raw text
