"""``predictql.allocator``: freed heap pages go back to the system (glibc), on a timer."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import sys
from pathlib import Path

import pytest

from predictql import allocator

glibc_only = pytest.mark.skipif(allocator._libc() is None, reason="glibc only")


def _rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon")


def _burst() -> list[ctypes.Array[ctypes.c_char]]:
    """64 MB of 4 KB blocks (glibc's malloc, not pymalloc), every 64th kept: freeing the rest leaves
    free chunks between live ones, which glibc never returns by itself (only the heap's top)."""
    blocks = [ctypes.create_string_buffer(4000) for _ in range(16_000)]
    for block in blocks:
        ctypes.memset(block, 1, 4000)  # touched: resident
    return blocks[::64]


@glibc_only
def test_a_trim_returns_the_free_pages_in_the_middle_of_the_heap() -> None:
    kept = _burst()
    held = _rss_anon_mb()
    assert allocator.trim()
    returned = held - _rss_anon_mb()
    assert returned > 30, f"only {returned:.1f} MB returned"
    assert len(kept) == 250


@glibc_only
async def test_a_burst_s_memory_returns_within_one_trim_period() -> None:
    # The server's bound (README "Memory under sustained load"): what a burst touched and freed is
    # back within one PREDICTQL_MALLOC_TRIM_SECONDS, here shortened to 0.2 s.
    allocator.trim()
    baseline = _rss_anon_mb()
    task = asyncio.create_task(allocator.trim_forever(0.2))
    kept = _burst()
    assert _rss_anon_mb() - baseline > 50  # the burst is resident until the next trim
    await asyncio.sleep(0.5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    kept_mb = _rss_anon_mb() - baseline
    assert kept_mb < 8, f"{kept_mb:.1f} MB still held"  # 250 live blocks: 1 MB, plus the list
    assert len(kept) == 250


@glibc_only
def test_the_arenas_can_be_capped() -> None:
    assert allocator.limit_arenas(2)
    assert not allocator.limit_arenas(0)  # 0: glibc's default, nothing set


async def test_trims_run_every_period_until_cancelled() -> None:
    calls: list[float] = []
    twice = asyncio.Event()

    def fake() -> bool:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 2:
            twice.set()
        return True

    task = asyncio.create_task(allocator.trim_forever(0.01, fake))
    await asyncio.wait_for(twice.wait(), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    count = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == count  # cancelled: no more trims
    assert calls[1] - calls[0] >= 0.009


@glibc_only
def test_only_serve_re_executes_and_only_when_nothing_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    started = ["python", "-X", "dev", "-m", "predictql", "serve", "--port", "8001"]
    monkeypatch.setattr(sys, "orig_argv", started)
    # The same interpreter path (the venv's), with every option of the original command line.
    assert allocator.malloc_argv(["serve", "--port", "8001"], {}) == [sys.executable, *started[1:]]
    assert allocator.malloc_argv(["serve"], {"PREDICTQL_PYTHONMALLOC": "malloc"}) is not None
    assert allocator.malloc_argv(["migrate"], {}) is None
    assert allocator.malloc_argv([], {}) is None
    assert allocator.malloc_argv(["serve"], {"PYTHONMALLOC": "pymalloc"}) is None  # the operator's choice
    assert allocator.malloc_argv(["serve"], {"PYTHONMALLOC": "malloc"}) is None  # already re-executed
    assert allocator.malloc_argv(["serve"], {"PREDICTQL_PYTHONMALLOC": "off"}) is None
