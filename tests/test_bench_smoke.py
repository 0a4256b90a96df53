"""CI's smoke run of ``bench/bench_scale.py --smoke`` on this run's database backend: the bulk
loader, every measured figure and the growth report keep working (seconds, so the benchmark
cannot rot). The script itself asserts that ``ledger check`` is clean after loading and trading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchsmoke import run_smoke
from tests.conftest import BACKEND

FIGURES = {
    "lmsr_trade",
    "feed_query",
    "positions_open",
    "positions_closed",
    "trade_history",
    "money_movements",
    "whale_positions_closed",
    "whale_trade_history",
    "whale_money_movements",
    "stream_prune",
    "ledger_check",
}


@pytest.mark.timeout(240)
def test_the_scale_benchmark_smoke_run_loads_measures_and_reports_growth(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    stdout = run_smoke("bench_scale.py", "--db", BACKEND, "--json", str(out))
    result = json.loads(out.read_text())
    assert [run["scale"] for run in result["runs"]] == [1, 2]
    one, two = result["runs"]
    assert (one["users"], one["markets"], one["trades"]) == (40, 8, 1000)
    assert (two["users"], two["markets"], two["trades"]) == (80, 16, 2000)
    for run in result["runs"]:
        figures = run["figures"]
        assert set(figures) == FIGURES
        assert all(f["p50_ms"] > 0 and f["p99_ms"] >= f["p50_ms"] for f in figures.values())
        # The heavy trader (every 20th trade: 50 or more) has two full pages of history at each scale.
        assert figures["whale_trade_history"]["result_size"] == 40
        # A tenth of the stream log is expired, one row per seeded trade.
        assert figures["stream_prune"]["result_size"] == run["trades"] // 10
        # Every user has exactly one deposit.
        assert figures["money_movements"]["result_size"] == 1
        assert figures["feed_query"]["result_size"] == run["markets"] // 2
    # Ledger entries: two per deposit and per seeded trade, more for the measured trades.
    assert two["figures"]["ledger_check"]["result_size"] > 2 * (80 + 2000)
    growth = {(row["figure"], row["scale"]): row for row in result["growth"]}
    assert growth[("stream_prune", 2)]["result_growth"] == 2.0
    assert growth[("lmsr_trade", 1)]["growth"] == 1.0
    assert "SLOWER THAN DATA" in stdout or not result["flagged"]
