"""Runs a ``bench/`` script in its seconds-long smoke mode, as CI does for every benchmark so none of
them rots (issue 14 point 6): the script must exit 0 (it exits non-zero itself when its path is
broken: no answers, errors, an unbalanced ledger) and must leave ``bench/results/`` untouched, so CI
keeps the tree clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKEND, PG_ADMIN, REDIS_URL

BENCH = Path(__file__).resolve().parent.parent / "bench"
RESULTS = BENCH / "results"

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk (Debian package) is not installed")
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="PREDICTQL_TEST_REDIS_URL not set (the benchmark's bus is Redis)"
)
needs_postgresql = pytest.mark.skipif(BACKEND == "sqlite", reason="serve --workers needs PostgreSQL")
# A smoke that does not use the store under test (no --db) runs in one of CI's two suite runs only.
once = pytest.mark.skipif(BACKEND != "sqlite", reason="no --db: run once, by the SQLite run of the suite")


def _results() -> dict[str, int]:
    return {str(path): path.stat().st_mtime_ns for path in RESULTS.rglob("*")} if RESULTS.is_dir() else {}


def run_smoke(script: str, *args: str, timeout: float = 230) -> str:
    """``bench/<script> --smoke *args`` on this run's PostgreSQL server and Redis; its stdout."""
    env = dict(os.environ, PREDICTQL_BENCH_PG_URL=PG_ADMIN)
    if REDIS_URL:
        env["PREDICTQL_BENCH_REDIS_URL"] = REDIS_URL
    before = _results()
    argv = [sys.executable, str(BENCH / script), "--smoke", *args]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, (
        f"{script} --smoke exited {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    assert _results() == before, f"{script} --smoke wrote into bench/results/"
    return done.stdout
