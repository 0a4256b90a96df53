"""CI runs the fan-out benchmark in its seconds-long smoke mode, so the benchmark does not rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REDIS = os.environ.get("PREDICTQL_TEST_REDIS_URL")
BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_fanout.py"


@pytest.mark.skipif(not REDIS, reason="PREDICTQL_TEST_REDIS_URL not set (the benchmark's bus is Redis)")
def test_the_fanout_benchmark_runs_in_smoke_mode() -> None:
    assert REDIS is not None
    env = {**os.environ, "PREDICTQL_BENCH_REDIS_URL": REDIS}
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "smoke: every frame arrived" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith(("ours ", "naive "))]
    assert len(rows) == 2, done.stdout  # both servers measured: ours and the naive baseline
