"""CI runs every benchmark in ``bench/`` in its seconds-long smoke mode, so none of them rots (issue 14
point 6). The benchmarks with a test of their own (their output checked further) are run by
``test_bench_http_smoke.py``, ``test_bench_smoke.py``, ``test_bench_fanout_smoke.py`` and
``e2e/test_soak.py``; the rest run here, on this run's database backend where the script takes
``--db`` (a script without ``--db`` runs in the SQLite run only; the Redis ones in the run with
Redis). Each smoke exits non-zero itself when its path is broken (no answers, errors, missing
deliveries, an unbalanced ledger)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.benchsmoke import BENCH, needs_postgresql, needs_redis, needs_wrk, once, run_smoke
from tests.conftest import BACKEND

SMOKES = [
    pytest.param("bench_engine.py", (), marks=once, id="engine"),
    pytest.param("fanout_memory.py", (), marks=once, id="fanout_memory"),
    pytest.param("bench_order_path.py", ("--db", BACKEND), id="order_path"),
    pytest.param("profile_writer.py", ("--db", BACKEND), id="profile_writer"),
    pytest.param("bench_orders_http.py", ("--db", BACKEND), marks=needs_wrk, id="orders_http"),
    pytest.param("bench_overload.py", (), marks=needs_redis, id="overload"),
    pytest.param("profile_ratelimit.py", (), marks=needs_redis, id="profile_ratelimit"),
    pytest.param("bench_workers.py", (), marks=[needs_wrk, needs_postgresql], id="workers"),
    pytest.param("profile_order_sql.py", (), marks=needs_postgresql, id="profile_order_sql"),
]
# Not benchmarks: the shared plumbing, and the servers the benchmarks above start (covered through them).
NOT_BENCHMARKS = {"harness.py", "hello_asgi.py", "naive_fanout.py"}


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("script", "args"), SMOKES)
def test_the_benchmark_runs_in_smoke_mode(script: str, args: tuple[str, ...]) -> None:
    out = run_smoke(script, *args, timeout=290)
    assert "smoke passed" in out.splitlines(), out[-3000:]


def test_every_benchmark_has_a_smoke_test() -> None:
    tests = Path(__file__).resolve().parent
    sources = "\n".join(path.read_text() for path in tests.rglob("test_*.py"))
    covered = set(re.findall(r'run_smoke\(\s*"([\w.]+)"', sources)) | {param.values[0] for param in SMOKES}
    scripts = {path.name for path in BENCH.glob("*.py")} - NOT_BENCHMARKS
    assert scripts - covered == set(), "benchmarks without a smoke test"
