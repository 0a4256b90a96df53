"""CI runs the HTTP benchmark and the in-process feed profile in their seconds-long smoke modes
(issue 14 point 6), so neither rots: every scenario of ``bench_http.py`` answers through a real
server and wrk, and ``profile_feed.py`` executes the feed and checks its answer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKEND, PG_ADMIN

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.timeout(600)
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk (Debian package) is not installed")
def test_the_http_benchmark_runs_every_scenario_in_smoke_mode() -> None:
    env = dict(os.environ, PREDICTQL_BENCH_PG_URL=PG_ADMIN)
    argv = [sys.executable, str(BENCH / "bench_http.py"), "--smoke", "--db", BACKEND]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=590, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    for scenario in ("raw_asgi", "lmsr_trade", "feed_query", "feed_cached", "feed_signed_in_cached"):
        assert scenario in rows, done.stdout


@pytest.mark.timeout(240)
def test_the_feed_profile_runs_in_smoke_mode() -> None:
    argv = [sys.executable, str(BENCH / "profile_feed.py"), "--smoke"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=230, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "5 executions:" in done.stdout
    assert "function calls" in done.stdout  # the cProfile table
