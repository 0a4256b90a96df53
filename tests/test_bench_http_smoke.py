"""CI runs the HTTP benchmark and the in-process feed profile in their seconds-long smoke modes
(issue 14 point 6), so neither rots: every scenario of ``bench_http.py`` answers through a real
server and wrk, and ``profile_feed.py`` executes the feed and checks its answer."""

from __future__ import annotations

import pytest

from tests.benchsmoke import needs_wrk, run_smoke
from tests.conftest import BACKEND


@pytest.mark.timeout(600)
@needs_wrk
def test_the_http_benchmark_runs_every_scenario_in_smoke_mode() -> None:
    out = run_smoke("bench_http.py", "--db", BACKEND, timeout=590)
    rows = {line.split()[0] for line in out.splitlines() if line.strip()}
    for scenario in ("raw_asgi", "lmsr_trade", "feed_query", "feed_cached", "feed_signed_in_cached"):
        assert scenario in rows, out


@pytest.mark.timeout(240)
def test_the_feed_profile_runs_in_smoke_mode() -> None:
    out = run_smoke("profile_feed.py")
    assert "5 executions:" in out
    assert "function calls" in out  # the cProfile table
