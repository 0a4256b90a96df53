"""LMSR trades spread over M markets on ``predictql serve --workers N``, against ``--workers 1`` in the
same run (issue 14 point 2: "with ``--workers 2`` and 8 markets, at least 1.6x one process").

    python bench/bench_workers.py [--workers 2] [--markets 8] [--seconds 10] [--connections 64]
                                  [--rounds 1] [--timeout 30] [--json workers.json] [--smoke]

PostgreSQL only (``serve`` refuses several workers on SQLite), with the Redis bus as a multi-process
deployment runs (README "Scaling out"; ``PREDICTQL_BENCH_REDIS_URL``); rate-limit counters stay in
process (the limit is raised for the run). Seeds as ``bench_http.py`` (32 funded traders; 40 pools of
3 LMSR markets) and trades on the first market of ``--markets`` different pools: trade ``n`` by
trader ``n % 32``, buy_yes and buy_no alternating, on market ``(n // 2) % M``.

Each round measures ``--workers 1`` then ``--workers N`` (a fresh server each, 2 s of warm-up), then
prints the ratio of their trades/s, their server CPU ms per trade (the CPU of the whole process
tree: supervisor and workers), the CPU of each process, and the trades per commit (the market
writers' mean batch size, from PostgreSQL's ``xmin`` of the run's trade rows). Raw ASGI (one
process, pinned to CPU 0 as in ``bench_http.py``) is measured first for scale.

**Pinning**: ``bench_http.py`` pins the server to CPU 0 and wrk to CPU 1. N workers on one core could
not scale, so here both servers, one worker or N, may use every core (``taskset -c 0-<last>``): the
only difference between the two measurements is the number of worker processes. wrk stays on CPU 1
(one thread; it costs a few per cent of a core at these rates), and PostgreSQL and Redis are
unpinned, as they are in every benchmark here.

Writes bench/results/<--json> and prints a table. ``--smoke`` (CI, PostgreSQL): the N-worker server
only (one process is ``bench_http.py``'s smoke), 2 markets, 1 s, 4 connections, nothing recorded;
exits non-zero when a server has no answers or errors or the ledger no longer balances.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fanout import REDIS_URL
from bench_http import seed, trade_script
from harness import (
    SERVER_PIDS,
    SMOKE_PATIENCE,
    SMOKE_TIMEOUT,
    Measurement,
    baseline_server,
    bench_database,
    children,
    cpu_seconds,
    free_port,
    ledger_balanced,
    predictql_env,
    predictql_server,
    record,
    report,
    smoke_failures,
    wait_settled,
    wrk,
)

ALL_CPUS = f"0-{(os.cpu_count() or 1) - 1}"


async def markets_of_distinct_pools(database_url: str, count: int) -> list[int]:
    """The first market of each of the first ``count`` pools (so no two share a pool)."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from predictql.db import Database, make_engine
    from predictql.models import Market

    db = Database(make_engine(database_url))
    async with db.session() as session:
        first = select(func.min(Market.id)).group_by(col(Market.pool_id)).order_by(func.min(Market.id)).limit(count)
        ids = [int(market_id) for market_id in await session.scalars(first)]
    await db.dispose()
    if len(ids) < count:
        raise SystemExit(f"only {len(ids)} pools seeded, {count} markets asked")
    return ids


async def trades_per_commit(database_url: str, after_id: int) -> tuple[int, float]:
    """The last trade id, and the mean number of trades (rows of ``trades`` above ``after_id``) per
    committing transaction: PostgreSQL's ``xmin`` is the inserting transaction, so this is the writers'
    mean batch size per market."""
    from sqlalchemy import text

    from predictql.db import Database, make_engine

    db = Database(make_engine(database_url))
    async with db.session() as session:
        sql = "SELECT coalesce(max(id), 0), count(*), count(DISTINCT xmin::text) FROM trades WHERE id > :after"
        last, rows, commits = (await session.execute(text(sql), {"after": after_id})).one()
    await db.dispose()
    return int(last), round(rows / commits, 2) if commits else 0.0


def measure(
    url: str, data_dir: Path, script: Path, workers: int, args: argparse.Namespace, prefix: str
) -> tuple[Measurement, list[float], float]:
    """The run on a fresh ``serve --workers N``; the CPU seconds each of its processes spent in it
    (the supervisor first, then its children: the workers, and multiprocessing's helper process;
    each worker should have served its share); the trades per commit (batch size) of the run."""
    env = predictql_env(url, data_dir, PREDICTQL_BROADCAST_URL=REDIS_URL, PREDICTQL_BUS_CHANNEL_PREFIX=prefix)
    with predictql_server(free_port(), env, "--workers", str(workers), cpus=ALL_CPUS) as base:
        wait_settled(base, workers)
        wrk("warmup", base + "/", seconds=1 if args.smoke else 2, connections=4, script=script, timeout=args.timeout)
        first_trade, _ = asyncio.run(trades_per_commit(url, 0))
        processes = [SERVER_PIDS[base], *children(SERVER_PIDS[base])]
        before = [cpu_seconds(pid) for pid in processes]
        measured = wrk(
            f"workers_{workers}",
            base + "/",
            seconds=args.seconds,
            connections=args.connections,
            script=script,
            timeout=args.timeout,
            patience=SMOKE_PATIENCE if args.smoke else 0.0,
        )
        # A process's own CPU: its tree's minus its children's (the supervisor's tree holds the workers).
        trees = [cpu_seconds(pid) - start for pid, start in zip(processes, before, strict=True)]
        own = [max(0.0, trees[0] - sum(trees[1:])), *trees[1:]] if workers > 1 else trees[:1]
    _, batch = asyncio.run(trades_per_commit(url, first_trade))
    return measured, [round(seconds, 2) for seconds in own], batch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--markets", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="1 worker, then N, this many times (alternated)")
    parser.add_argument("--timeout", type=float, default=30.0, help="wrk's per-request timeout, seconds")
    parser.add_argument("--json", default="workers.json", help="file name under bench/results/")
    parser.add_argument("--smoke", action="store_true", help="CI: 2 markets, 1 s, 4 connections, not recorded")
    args = parser.parse_args()
    if args.smoke:
        args.markets, args.seconds, args.connections, args.rounds = 2, 1, 4, 1
        args.timeout = SMOKE_TIMEOUT
    data_dir = Path(tempfile.mkdtemp(prefix="predictql-bench-data-"))
    prefix = f"workers{os.getpid()}:"
    results: dict[str, object] = {
        "db": "postgresql",
        "workers": args.workers,
        "markets": args.markets,
        "seconds": args.seconds,
        "connections": args.connections,
        "server_cpus": ALL_CPUS,
        "load_average_before": os.getloadavg(),
    }
    with bench_database("postgresql") as url:
        tokens, _ = asyncio.run(seed(url, data_dir, users=32))
        script = trade_script(tokens, asyncio.run(markets_of_distinct_pools(url, args.markets)))
        with baseline_server(free_port()) as base:
            baseline = wrk(
                "raw_asgi",
                base + "/",
                seconds=args.seconds,
                connections=args.connections,
                patience=SMOKE_PATIENCE if args.smoke else 0.0,
            )
        rows = [baseline]
        # A smoke run starts only the N-worker server: one process is bench_http.py's lmsr_trade smoke.
        counts = (args.workers,) if args.smoke else (1, args.workers)
        process_cpu: list[tuple[int, list[float], float]] = []  # per run: N, CPU s per process, trades/commit
        for _ in range(args.rounds):
            for workers in counts:
                measured, cpu_by_process, batch = measure(url, data_dir, script, workers, args, prefix)
                rows.append(measured)
                process_cpu.append((workers, cpu_by_process, batch))
        balanced = asyncio.run(ledger_balanced(url))
    results["load_average_after"] = os.getloadavg()
    results["measurements"] = report(rows, baseline)
    one = [m for m in rows if m.name == "workers_1"]
    many = [m for m in rows if m.name == f"workers_{args.workers}"]
    if one:
        ratio = sum(m.requests_per_second for m in many) / sum(m.requests_per_second for m in one)
        results["ratio_trades_per_second"] = round(ratio, 3)
        print(f"--workers {args.workers} / --workers 1, {args.markets} markets: x{ratio:.2f} trades/s (target x1.6)")
    results["runs"] = [
        {"workers": n, "cpu_seconds_supervisor_then_children": cpu, "trades_per_commit": batch}
        for n, cpu, batch in process_cpu
    ]
    for workers, cpu, batch in process_cpu:
        print(f"--workers {workers}: {batch} trades per commit; CPU s of the supervisor, then each child: {cpu}")
    print("ledger balanced after the run:", balanced)
    print("load average (1, 5, 15 min) before:", results["load_average_before"], "after:", os.getloadavg())
    if args.smoke:
        failed = smoke_failures(rows) + ([] if balanced else ["the ledger does not balance"])
        if failed:
            sys.exit(f"smoke run failed: {'; '.join(failed)}")
        print("smoke passed")
        return
    print("recorded", record(args.json, results))


if __name__ == "__main__":
    main()
