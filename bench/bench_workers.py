"""LMSR trades spread over M markets on ``predictql serve --workers N``, against ``--workers 1`` in the
same run (issue 14 point 2: "with ``--workers 2`` and 8 markets, at least 1.6x one process").

    python bench/bench_workers.py [--workers 2] [--markets 8] [--seconds 10] [--connections 64]
                                  [--rounds 1] [--timeout 30] [--json workers.json] [--smoke]
                                  [--affinity] [--profile DIR]

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

Where the CPU went (``harness.cpu_account``): per trade and in cores, the server, every PostgreSQL
process and the bench database's backends, Redis, wrk, and the rest of the machine; from these the
ceiling of the N/1 ratio this machine allows (is x1.6 reachable here at all?). ``WaitSampler``: the
bench database's backends by wait event (lock waits between the workers' writers). ``--affinity``:
also N single-worker servers, each sent only its own markets' trades (``measure_affinity``: the most
that routing a market's writes to one process could give). ``--profile DIR``: py-spy of the servers.

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
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fanout import REDIS_URL
from bench_http import seed, trade_script
from harness import (
    PG_ADMIN,
    SERVER_PIDS,
    SMOKE_PATIENCE,
    SMOKE_TIMEOUT,
    CpuAccount,
    Measurement,
    baseline_server,
    bench_database,
    children,
    cpu_account,
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


class WaitSampler:
    """What the bench database's backends are doing, sampled every ``interval`` seconds from
    ``pg_stat_activity`` in a thread (through the admin database, so its own backend is not counted
    as the bench's): per sample, the mean number of backends in each state / wait event. A writer
    whose batch waits for another process's lock on the market row shows as ``Lock:tuple`` or
    ``Lock:transactionid``; ``active`` without a wait is a backend on the CPU or its run queue."""

    def __init__(self, database: str, interval: float = 0.05) -> None:
        self.database, self.interval = database, interval
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._sample()), daemon=True)

    async def _sample(self) -> None:
        import asyncpg

        admin = make_url(PG_ADMIN)
        connection = await asyncpg.connect(
            host=admin.host, port=admin.port, user=admin.username, password=admin.password, database=admin.database
        )
        sql = (
            "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
            " WHERE datname = $1 AND state IS DISTINCT FROM 'idle'"
        )
        try:
            while not self._stop.is_set():
                for state, kind, event in await connection.fetch(sql, self.database):
                    self.counts[f"{state}:{kind}:{event}" if kind else str(state)] += 1
                self.samples += 1
                await asyncio.sleep(self.interval)
        finally:
            await connection.close()

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def means(self) -> dict[str, float]:
        """Mean backends per sample in each state / wait event, most first."""
        return {key: round(count / max(1, self.samples), 2) for key, count in self.counts.most_common()}


@dataclass
class Run:
    """One measured server: its wrk figures, the CPU seconds of each of its processes (the supervisor
    first, then its children: the workers, and multiprocessing's helper process; each worker should
    have served its share), its trades per commit (the writers' mean batch size), and where the
    machine's CPU went meanwhile."""

    workers: int
    measured: Measurement
    cpu_by_process: list[float]
    trades_per_commit: float
    cpu: CpuAccount
    waits: dict[str, float]
    connections: list[int]  # wrk's connections per worker process, most first (halfway through)
    affinity: bool = False  # N single-worker servers, each sent its own markets' trades only

    @property
    def label(self) -> str:
        return f"workers {self.workers}" + (" affinity" if self.affinity else "")

    def per_trade_ms(self, seconds: float) -> float:
        return round(seconds * 1000 / self.measured.requests, 3) if self.measured.requests else 0.0

    def as_dict(self) -> dict[str, object]:
        account = asdict(self.cpu) | {"other": round(self.cpu.other, 3)}
        return {
            "workers": self.workers,
            "affinity": self.affinity,
            "cpu_seconds_supervisor_then_children": self.cpu_by_process,
            "trades_per_commit": self.trades_per_commit,
            "cpu_seconds": account,
            "cpu_ms_per_trade": {name: self.per_trade_ms(value) for name, value in account.items() if name != "wall"},
            "backends_per_sample": self.waits,
            "spread_per_worker": self.connections,
        }


def measure(url: str, data_dir: Path, script: Path, workers: int, args: argparse.Namespace, prefix: str) -> Run:
    """The run on a fresh ``serve --workers N``."""
    env = predictql_env(url, data_dir, PREDICTQL_BROADCAST_URL=REDIS_URL, PREDICTQL_BUS_CHANNEL_PREFIX=prefix)
    with predictql_server(free_port(), env, "--workers", str(workers), cpus=ALL_CPUS) as base:
        wait_settled(base, workers)
        wrk("warmup", base + "/", seconds=1 if args.smoke else 2, connections=4, script=script, timeout=args.timeout)
        first_trade, _ = asyncio.run(trades_per_commit(url, 0))
        processes = [SERVER_PIDS[base], *children(SERVER_PIDS[base])]
        before = [cpu_seconds(pid) for pid in processes]
        database = make_url(url).database or ""
        spread: dict[int, int] = {}  # sampled halfway through the run
        spy = profiler(SERVER_PIDS[base], args.profile, workers, args.seconds)
        with cpu_account([SERVER_PIDS[base]], database) as account, WaitSampler(database) as waits:
            threading.Timer(args.seconds / 2, lambda: spread.update(connections_by_process(base))).start()
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
        if spy is not None:
            spy.wait()
    _, batch = asyncio.run(trades_per_commit(url, first_trade))
    connections = sorted(spread.values(), reverse=True)
    return Run(workers, measured, [round(seconds, 2) for seconds in own], batch, account[0], waits.means(), connections)


def measure_affinity(
    url: str,
    data_dir: Path,
    tokens: list[str],
    market_ids: list[int],
    workers: int,
    args: argparse.Namespace,
    prefix: str,
) -> Run:
    """The most that routing each market's writes to one process could give (a worker forwarding a
    market's requests to the worker that owns it): N separate ``serve --workers 1`` processes, the
    i-th market's trades sent only to server ``i % N`` by a wrk of its own (each with its share of
    the connections, and the traders that trade on its markets), all at once. Whole batches, no lock
    waits between processes, and no forwarding hop: a real router would add one for (N-1)/N of the
    requests. Latencies are the slowest part's."""
    env = predictql_env(url, data_dir, PREDICTQL_BROADCAST_URL=REDIS_URL, PREDICTQL_BUS_CHANNEL_PREFIX=prefix)
    scripts = []
    for part in range(workers):
        mine = [index for index in range(len(market_ids)) if index % workers == part]
        traders = [token for user, token in enumerate(tokens) if (user // 2) % len(market_ids) in mine]
        scripts.append(trade_script(traders, [market_ids[index] for index in mine]))
    with ExitStack() as stack:
        bases = [stack.enter_context(predictql_server(free_port(), env, cpus=ALL_CPUS)) for _ in range(workers)]
        for base in bases:
            wait_settled(base)

        def load(name: str, seconds: int, connections: int) -> list[Measurement]:
            with ThreadPoolExecutor(workers) as pool:
                runs = [
                    pool.submit(
                        wrk,
                        name,
                        base + "/",
                        seconds=seconds,
                        connections=connections,
                        script=script,
                        timeout=args.timeout,
                    )
                    for base, script in zip(bases, scripts, strict=True)
                ]
                return [run.result() for run in runs]

        load("warmup", 1 if args.smoke else 2, 4)
        first_trade, _ = asyncio.run(trades_per_commit(url, 0))
        pids = [SERVER_PIDS[base] for base in bases]
        before = [cpu_seconds(pid) for pid in pids]
        database = make_url(url).database or ""
        with cpu_account(pids, database) as account, WaitSampler(database) as waits:
            parts = load(f"workers_{workers}_affinity", args.seconds, args.connections // workers)
        own = [round(cpu_seconds(pid) - start, 2) for pid, start in zip(pids, before, strict=True)]
    _, batch = asyncio.run(trades_per_commit(url, first_trade))
    requests = sum(part.requests for part in parts)
    cpu_ms = sum((part.server_cpu_ms_per_request or 0.0) * part.requests for part in parts)
    measured = Measurement(
        f"workers_{workers}_affinity",
        round(sum(part.requests_per_second for part in parts), 2),
        max(part.p50_ms for part in parts),
        max(part.p99_ms for part in parts),
        requests,
        sum(part.errors for part in parts),
        round(cpu_ms / requests, 3) if requests else None,
    )
    shares = [part.requests for part in parts]
    return Run(workers, measured, own, batch, account[0], waits.means(), shares, affinity=True)


def connections_by_process(base: str) -> dict[int, int]:
    """pid -> established connections it accepted on the server's port (``ss``): how the kernel
    spread wrk's connections over the workers, which share one listening socket (each worker takes
    what it accepts first; a connection then stays with it, and so do its requests). Empty without ``ss``."""
    if shutil.which("ss") is None:
        return {}
    port = base.rsplit(":", 1)[1]
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, check=False
    ).stdout
    return dict(Counter(int(pid) for pid in re.findall(r"pid=(\d+)", out)))


def profiler(pid: int, directory: Path | None, workers: int, seconds: int) -> subprocess.Popen[bytes] | None:
    """With ``--profile DIR``: py-spy samples the server's processes (the workers too) during the
    measured run, collapsed stacks to DIR/workers-N-<pid>.collapsed (it adds CPU of its own: record
    the figures without it)."""
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))  # pip's, in the venv
    argv = [spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", "200"]
    argv += ["--duration", str(seconds), "--nonblocking"]
    argv += ["--output", str(directory / f"workers-{workers}-{pid}.collapsed")]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_accounts(runs: list[Run]) -> None:
    """Where each run's CPU went, per trade and in cores (CPU seconds per wall second)."""
    names = ("server", "postgres", "postgres_bench", "redis", "load", "other", "machine")
    print(f"{'CPU ms per trade':<18}" + "".join(f"{name:>15}" for name in names) + f"{'trades/commit':>15}")
    for run in runs:
        values = [getattr(run.cpu, name) for name in names]
        print(
            f"{run.label:<18}"
            + "".join(f"{run.per_trade_ms(value):>15.3f}" for value in values)
            + f"{run.trades_per_commit:>15}"
        )
    print(f"{'cores busy':<18}" + "".join(f"{name:>15}" for name in names))
    for run in runs:
        wall = run.cpu.wall or 1.0
        print(f"{run.label:<18}" + "".join(f"{getattr(run.cpu, n) / wall:>15.2f}" for n in names))


def ceilings(runs: list[Run], workers: int) -> dict[str, float]:
    """The best N/1 ratio this machine allows, from the CPU the run's own processes (server,
    PostgreSQL, Redis, wrk) spend per trade: all cores busy with this work at 1 worker's cost per
    trade, at N workers' cost per trade, and at N's cost on the cores the other load left free."""
    one = [run for run in runs if run.workers == 1]
    many = [run for run in runs if run.workers == workers and not run.affinity]
    if not one or not many:
        return {}
    cores = float(os.cpu_count() or 1)

    def total(selected: list[Run], field: str) -> float:
        return sum(getattr(run.cpu, field) for run in selected)

    trades_one = sum(run.measured.requests for run in one)
    trades_many = sum(run.measured.requests for run in many)
    wall_one, wall_many = total(one, "wall"), total(many, "wall")
    rate_one = trades_one / wall_one  # trades per second at 1 worker
    ours_one = total(one, "ours") / trades_one  # CPU seconds per trade
    ours_many = total(many, "ours") / trades_many
    free = cores - total(many, "other") / wall_many
    return {
        "cores": cores,
        "cores_used_by_the_run_at_1_worker": round(total(one, "ours") / wall_one, 2),
        "ceiling_at_1_worker_cost": round(cores / ours_one / rate_one, 2),
        "ceiling_at_n_worker_cost": round(cores / ours_many / rate_one, 2),
        "ceiling_at_n_worker_cost_on_free_cores": round(free / ours_many / rate_one, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--markets", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="1 worker, then N, this many times (alternated)")
    parser.add_argument("--timeout", type=float, default=30.0, help="wrk's per-request timeout, seconds")
    parser.add_argument("--json", default="workers.json", help="file name under bench/results/")
    parser.add_argument(
        "--affinity", action="store_true", help="also N single-worker servers, each sent its own markets' trades"
    )
    parser.add_argument("--profile", type=Path, help="py-spy the servers during the measured runs; stacks here")
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
        market_ids = asyncio.run(markets_of_distinct_pools(url, args.markets))
        script = trade_script(tokens, market_ids)
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
        runs: list[Run] = []
        for _ in range(args.rounds):
            for workers in counts:
                run = measure(url, data_dir, script, workers, args, prefix)
                rows.append(run.measured)
                runs.append(run)
            if args.affinity:
                run = measure_affinity(url, data_dir, tokens, market_ids, args.workers, args, prefix)
                rows.append(run.measured)
                runs.append(run)
        balanced = asyncio.run(ledger_balanced(url))
    results["load_average_after"] = os.getloadavg()
    results["measurements"] = report(rows, baseline)
    one = [m for m in rows if m.name == "workers_1"]
    many = [m for m in rows if m.name == f"workers_{args.workers}"]
    if one:
        ratio = sum(m.requests_per_second for m in many) / sum(m.requests_per_second for m in one)
        results["ratio_trades_per_second"] = round(ratio, 3)
        print(f"--workers {args.workers} / --workers 1, {args.markets} markets: x{ratio:.2f} trades/s (target x1.6)")
        routed = [m for m in rows if m.name == f"workers_{args.workers}_affinity"]
        if routed:
            ratio = sum(m.requests_per_second for m in routed) / sum(m.requests_per_second for m in one)
            results["ratio_affinity_trades_per_second"] = round(ratio, 3)
            print(f"{args.workers} single-worker servers, each sent its own markets only / --workers 1: x{ratio:.2f}")
    results["runs"] = [run.as_dict() for run in runs]
    for run in runs:
        print(f"{run.label}: CPU s of the supervisor, then each child: {run.cpu_by_process}")
        print(f"  the bench database's backends per sample, by state:wait: {run.waits}")
        print(f"  wrk's connections per worker (affinity: requests per server): {run.connections}")
    print_accounts(runs)
    results["ceiling"] = ceiling = ceilings(runs, args.workers)
    if ceiling:
        used = ceiling["cores_used_by_the_run_at_1_worker"]
        print(
            f"ceiling for --workers {args.workers} / --workers 1 on {ceiling['cores']:g} cores, from the CPU per"
            f" trade of the server + the bench database's backends + Redis + wrk (1 worker's run used {used}"
            f" cores): x{ceiling['ceiling_at_1_worker_cost']} at 1 worker's cost per trade,"
            f" x{ceiling['ceiling_at_n_worker_cost']} at {args.workers} workers' cost,"
            f" x{ceiling['ceiling_at_n_worker_cost_on_free_cores']} on the cores the other load left"
        )
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
