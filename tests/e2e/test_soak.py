"""CI's one-minute soak: ``bench/soak.py --minutes 1`` against a real ``predictql serve`` process
(this run's database backend; the Redis bus when the run has Redis, else the embedded one) must
pass its own verdict: no memory or fd growth, no lost message, no failed trade, bounded lag."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKEND, PG_ADMIN, REDIS_URL

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.timeout(180)
def test_a_one_minute_soak_at_mixed_load_shows_no_growth() -> None:
    env = dict(os.environ, PREDICTQL_BENCH_PG_URL=PG_ADMIN, PREDICTQL_BENCH_REDIS_URL=REDIS_URL or "")
    argv = [
        sys.executable,
        str(SOAK),
        "--minutes",
        "1",
        "--db",
        BACKEND,
        "--bus",
        "redis" if REDIS_URL else "memory",
        "--trades-per-second",
        "10",
        "--traders",
        "2",
        "--graphql",
        "6",
        "--feeds",
        "4",
        "--sample",
        "2",
        "--no-record",
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=170, check=False)
    assert done.returncode == 0 and "VERDICT: no growth" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
