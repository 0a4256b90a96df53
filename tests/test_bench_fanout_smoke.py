"""CI runs the fan-out benchmark in its seconds-long smoke mode, so the benchmark does not rot."""

from __future__ import annotations

from tests.benchsmoke import needs_redis, run_smoke


@needs_redis
def test_the_fanout_benchmark_runs_in_smoke_mode() -> None:
    out = run_smoke("bench_fanout.py", timeout=300)
    assert "smoke: every frame arrived" in out
    rows = [line for line in out.splitlines() if line.startswith(("ours ", "naive "))]
    assert len(rows) == 2, out  # both servers measured: ours and the naive baseline
