"""CI's one-minute soak: ``bench/soak.py --minutes 1`` against a real ``predictql serve`` process
(this run's database backend; the Redis bus when the run has Redis, else the embedded one) must
pass its own verdict: no memory or fd growth, no lost message, no failed trade, bounded lag."""

from __future__ import annotations

import pytest

from tests.benchsmoke import run_smoke
from tests.conftest import BACKEND, REDIS_URL

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.timeout(180)
def test_a_one_minute_soak_at_mixed_load_shows_no_growth() -> None:
    bus = "redis" if REDIS_URL else "memory"
    out = run_smoke("soak.py", "--db", BACKEND, "--bus", bus, timeout=170)
    assert "VERDICT: no growth" in out, out[-3000:]
