"""CI's short burst: ``bench/bench_overload.py`` (1,000 messages a second on one channel to fast
readers, a real ``predictql serve`` process) must leave the server's memory near where it was with the
readers connected (README "Memory under sustained load": within ``BOUND_MB`` 20 s after the burst;
the periodic ``malloc_trim`` returns what the burst touched)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from predictql import allocator
from tests.conftest import REDIS_URL

OVERLOAD = Path(__file__).resolve().parents[2] / "bench" / "bench_overload.py"
BOUND_MB = 2.0

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(REDIS_URL is None, reason="the burst is published on the Redis bus"),
    pytest.mark.skipif(allocator._libc() is None, reason="glibc only: elsewhere nothing trims"),
]


@pytest.mark.timeout(180)
def test_memory_returns_near_its_baseline_after_a_burst_on_one_channel() -> None:
    env = dict(os.environ, PREDICTQL_BENCH_REDIS_URL=REDIS_URL or "")
    argv = [sys.executable, str(OVERLOAD), "--readers", "5", "--seconds", "10", "--after", "20", "--no-record"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=170, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary, _ = json.JSONDecoder().raw_decode(done.stdout)
    assert summary["published"] == 10_000
    kept = summary["rss_after_end_mb"] - summary["rss_connected_mb"]
    assert kept <= BOUND_MB, f"{kept:.1f} MB kept 20 s after the burst: {json.dumps(summary)}"
