"""Soak: mixed load on one ``predictql serve`` process for ``--minutes``; exits 1 when something grows.

    python bench/soak.py [--minutes 30] [--db sqlite|postgresql] [--bus redis|memory] [--trades-per-second 20]

Load, all of it against one real server process:

- **trades over HTTP**: ``--traders`` clients POST ``/api/v1/lmsr/trade`` (alternating buy_yes/buy_no,
  10 RUB each) at ``--trades-per-second`` in total, on one market of an active event;
- **GraphQL WebSocket subscribers** (graphql-transport-ws): half follow ``marketUpdated`` of that
  market, half ``trades(marketId)``; each reconnects after a random 15-45 s life, resuming with
  ``fromSeq`` (its last seq), so a reconnect must not lose anything either;
- **legacy feeds**: ``/api/v1/ws/trades`` and ``/api/v1/ws/events/{id}/chart`` sockets, also reconnecting.

Every ``--sample`` seconds: the server's RSS and open file descriptors, the delivery lag of the
``trades`` subscribers (a probe trade a second: receive time - its HTTP answer), unexplained
holes (a LIVE seq that skips one with no SNAPSHOT or GAP before it: a lost message), frames, trade
errors. The verdict compares the first window after warm-up with the last one (medians): RSS may grow
by at most ``max(--rss-slack-mb, 10 %)``, fds by at most 20; no lost message, no trade error beyond
0.5 %, p99 lag under 2 s. It also reports ``rss_bytes_per_trade``: the windows' RSS difference over the
trades made between them. Prints the samples and the verdict; exit status 1 on any failure.
Writes ``bench/results/soak-<minutes>m-<db>.json``. ``--smoke`` (CI, ``tests/e2e/test_soak.py``): one
minute at 10 trades a second from 2 traders, 6 GraphQL subscribers, 4 feed sockets, a sample every
2 s, nothing recorded; the verdict decides the exit status as always. ``--debug-memory FILE`` has the server append a
census (object counts by type, Python's allocated blocks; tracemalloc sites with
``--debug-memory-frames``) to FILE: see ``predictql/debug_memory.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fanout import REDIS_URL, ours, rss_bytes, server_env
from bench_http import seed
from harness import bench_database, free_port, record

MARKET = "subscription($m: ID!, $from: Long) { marketUpdated(marketId: $m, fromSeq: $from) { kind seq } }"
TRADES = (
    "subscription($m: ID, $from: Long) { trades(marketId: $m, fromSeq: $from) { kind seq data { trader { name } } } }"
)


@dataclass
class Counters:
    frames: int = 0
    holes: int = 0
    snapshots: int = 0
    gaps: int = 0
    reconnects: int = 0
    socket_errors: int = 0
    trades: int = 0
    trade_errors: int = 0
    lags: list[float] = field(default_factory=list)
    probe_sent: float = 0.0  # when the probe's trade was answered (0: none in flight)
    probe_name: str = ""


async def trader(base: str, tokens: list[str], market_id: int, rate: float, stop: asyncio.Event, c: Counters) -> None:
    sides = itertools.cycle(("buy_yes", "buy_no"))
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        start, sent = time.monotonic(), 0
        while not stop.is_set():
            await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
            sent += 1
            body = {"market_id": market_id, "side": next(sides), "amount_type": "spend", "amount": 1000}
            try:
                answer = await http.post(
                    "/api/v1/lmsr/trade", json=body, headers={"Authorization": f"Bearer {random.choice(tokens)}"}
                )
                answer.raise_for_status()
                c.trades += 1
            except httpx.HTTPError:
                c.trade_errors += 1


async def probe(base: str, token: str, market_id: int, stop: asyncio.Event, c: Counters) -> None:
    """One trade a second by a user no trader is: its delivery lag is measured from its HTTP answer
    (the commit is done, the publish follows) to each ``trades`` subscriber receiving it."""
    body = {"market_id": market_id, "side": "buy_yes", "amount_type": "spend", "amount": 1000}
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        while not stop.is_set():
            c.probe_sent = 0.0
            try:
                answer = await http.post("/api/v1/lmsr/trade", json=body, headers={"Authorization": f"Bearer {token}"})
                answer.raise_for_status()
                c.probe_sent = time.monotonic()
            except httpx.HTTPError:
                c.trade_errors += 1
            await asyncio.sleep(1.0)


async def graphql_follower(
    url: str, query: str, field_name: str, market_id: int, stop: asyncio.Event, c: Counters
) -> None:
    """One subscriber, reconnecting after a random life and resuming from its last seq."""
    import websockets

    last: int | None = None
    while not stop.is_set():
        life = random.uniform(15, 45)
        variables: dict[str, Any] = {"m": f"mkt_{market_id}", "from": last}  # GraphQL global id
        try:
            async with websockets.connect(
                url,
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                compression=None,
                open_timeout=20,
            ) as ws:
                await ws.send('{"type":"connection_init","payload":{}}')
                await ws.recv()
                await ws.send(
                    json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
                )
                deadline = time.monotonic() + life
                while time.monotonic() < deadline and not stop.is_set():
                    try:  # wake at least every second to notice the stop
                        text = await asyncio.wait_for(ws.recv(), timeout=1.0)
                    except TimeoutError:
                        continue
                    last = _count(json.loads(text), field_name, last, c)
        except Exception:
            c.socket_errors += 1
            await asyncio.sleep(1.0)
        c.reconnects += 1


def _count(message: dict[str, Any], field_name: str, last: int | None, c: Counters) -> int | None:
    if message.get("type") != "next":
        return last
    item = message["payload"]["data"][field_name]
    c.frames += 1
    kind, seq = item["kind"], int(item["seq"])
    if kind == "LIVE":
        if last is not None and seq > last + 1:
            c.holes += seq - last - 1
        if ((item.get("data") or {}).get("trader") or {}).get("name") == c.probe_name and c.probe_sent:
            c.lags.append(time.monotonic() - c.probe_sent)
        return max(seq, last or 0)
    if kind in ("SNAPSHOT", "GAP"):
        c.snapshots += kind == "SNAPSHOT"
        c.gaps += kind == "GAP"
        return seq
    return last  # HEARTBEAT


async def feed_reader(url: str, stop: asyncio.Event, c: Counters) -> None:
    import websockets

    while not stop.is_set():
        try:
            async with websockets.connect(url, compression=None, open_timeout=20) as ws:
                deadline = time.monotonic() + random.uniform(15, 45)
                while time.monotonic() < deadline and not stop.is_set():
                    try:
                        await asyncio.wait_for(ws.recv(), timeout=1.0)
                    except TimeoutError:
                        continue
                    c.frames += 1
        except Exception:
            c.socket_errors += 1
            await asyncio.sleep(1.0)
        c.reconnects += 1


def server_pythonmalloc(pid: int) -> str | None:
    """PYTHONMALLOC in the server's environment (``serve`` re-executes itself with it)."""
    for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if item.startswith(b"PYTHONMALLOC="):
            return item.split(b"=", 1)[1].decode()
    return None


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def memory_split(pid: int) -> dict[str, float]:
    """RSS split into anonymous memory (the heaps: Python's, SQLite's page caches, malloc's arenas)
    and file pages (mapped libraries, SQLite's WAL index), and the process's threads (aiosqlite runs
    one per connection, and each may get its own malloc arena)."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    kb = {key: int(status[key].split()[0]) for key in ("RssAnon", "RssFile")}
    return {
        "rss_anon_mb": round(kb["RssAnon"] / 1024, 1),
        "rss_file_mb": round(kb["RssFile"] / 1024, 1),
        "threads": int(status["Threads"]),
    }


async def sampler(pid: int, period: float, stop: asyncio.Event, c: Counters, samples: list[dict[str, Any]]) -> None:
    start = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(period)
        lags, c.lags = sorted(c.lags), []
        row = {
            "t": round(time.monotonic() - start, 1),
            "rss_mb": round(rss_bytes(pid) / 2**20, 1),
            **memory_split(pid),
            "fds": open_fds(pid),
            "trades": c.trades,
            "trade_errors": c.trade_errors,
            "frames": c.frames,
            "holes": c.holes,
            "snapshots": c.snapshots,
            "gaps": c.gaps,
            "reconnects": c.reconnects,
            "socket_errors": c.socket_errors,
            "lag_p50_ms": round(lags[len(lags) // 2] * 1000, 1) if lags else None,
            "lag_p99_ms": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000, 1) if lags else None,
        }
        samples.append(row)
        print(json.dumps(row), flush=True)


def verdict(samples: list[dict[str, Any]], warmup: float, rss_slack_mb: float) -> tuple[bool, dict[str, Any]]:
    """Growth judged on the first and last windows after warm-up (a third of the rest each)."""
    steady = [s for s in samples if s["t"] >= warmup] or samples
    window = max(1, len(steady) // 3)
    first, last = steady[:window], steady[-window:]
    rss0, rss1 = statistics.median(s["rss_mb"] for s in first), statistics.median(s["rss_mb"] for s in last)
    trades0, trades1 = statistics.median(s["trades"] for s in first), statistics.median(s["trades"] for s in last)
    fds0, fds1 = statistics.median(s["fds"] for s in first), statistics.median(s["fds"] for s in last)
    end = samples[-1]
    p99s = [s["lag_p99_ms"] for s in steady if s["lag_p99_ms"] is not None]
    checks = {
        "rss_slope_mb_per_minute": _slope([(s["t"] / 60, s["rss_mb"]) for s in steady]),
        "rss_first_mb": rss0,
        "rss_last_mb": rss1,
        "rss_allowed_growth_mb": round(max(rss_slack_mb, rss0 * 0.1), 1),
        # RSS growth between the windows per trade made between them (the figure that exposes a
        # per-trade retention that the MB allowance would hide in a short run)
        "rss_bytes_per_trade": round((rss1 - rss0) * 2**20 / (trades1 - trades0)) if trades1 > trades0 else None,
        "fds_first": fds0,
        "fds_last": fds1,
        "lost_messages": end["holes"],
        "trades": end["trades"],
        "trade_errors": end["trade_errors"],
        "worst_window_lag_p99_ms": max(p99s) if p99s else None,
    }
    failures = []
    if rss1 - rss0 > checks["rss_allowed_growth_mb"]:
        failures.append("memory grew")
    if fds1 - fds0 > 20:
        failures.append("file descriptors grew")
    if end["holes"]:
        failures.append("messages lost")
    if end["trade_errors"] > 0.005 * max(1, end["trades"]):
        failures.append("trades failed")
    if not end["trades"] or not end["frames"]:
        failures.append("no load went through")
    if p99s and max(p99s) > 2000:
        failures.append("delivery lag p99 over 2 s")
    checks["failures"] = failures
    return not failures, checks


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x (reported with the verdict; the verdict uses the windows)."""
    if len(points) < 2:
        return None
    mx, my = statistics.fmean(x for x, _ in points), statistics.fmean(y for _, y in points)
    var = sum((x - mx) ** 2 for x, _ in points)
    return round(sum((x - mx) * (y - my) for x, y in points) / var, 3) if var else None


async def soak(
    base: str, pid: int, tokens: list[str], market_id: int, event_id: int, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], Counters]:
    c, stop, samples = Counters(), asyncio.Event(), list[dict[str, Any]]()
    ws = base.replace("http://", "ws://")
    per_trader = args.trades_per_second / args.traders
    c.probe_name = f"trader{len(tokens) - 1}"  # bench_http.seed's user names; the last one is the probe
    tasks = [
        asyncio.create_task(trader(base, tokens[:-1], market_id, per_trader, stop, c)) for _ in range(args.traders)
    ]
    tasks.append(asyncio.create_task(probe(base, tokens[-1], market_id, stop, c)))
    for index in range(args.graphql):
        query, name = (MARKET, "marketUpdated") if index % 2 == 0 else (TRADES, "trades")
        tasks.append(asyncio.create_task(graphql_follower(f"{ws}/graphql", query, name, market_id, stop, c)))
    for index in range(args.feeds):
        path = "/api/v1/ws/trades" if index % 2 == 0 else f"/api/v1/ws/events/{event_id}/chart"
        tasks.append(asyncio.create_task(feed_reader(ws + path, stop, c)))
    tasks.append(asyncio.create_task(sampler(pid, args.sample, stop, c, samples)))
    await asyncio.sleep(args.minutes * 60)
    stop.set()
    await asyncio.wait(tasks, timeout=60)
    return samples, c


async def event_of(database_url: str, market_id: int) -> int:
    from predictql.db import Database, make_engine
    from predictql.models import Market

    db = Database(make_engine(database_url))
    async with db.session() as session:
        market = await session.get(Market, market_id)
    await db.dispose()
    assert market is not None
    return market.event_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--bus", choices=("redis", "memory"), default="redis")
    parser.add_argument("--trades-per-second", type=float, default=20.0)
    parser.add_argument("--traders", type=int, default=4)
    parser.add_argument("--graphql", type=int, default=20, help="GraphQL WebSocket subscribers")
    parser.add_argument("--feeds", type=int, default=10, help="legacy feed sockets")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--rss-slack-mb", type=float, default=15.0)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--debug-memory", type=Path, help="server appends a tracemalloc census here (slows it)")
    parser.add_argument("--debug-memory-seconds", type=float, default=60.0)
    parser.add_argument("--debug-memory-frames", type=int, default=0, help="tracemalloc frames (0: off)")
    parser.add_argument("--smoke", action="store_true", help="CI: the one-minute light load, not recorded")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server (repeatable)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.minutes, args.trades_per_second, args.traders, args.graphql, args.feeds, args.sample = 1, 10, 2, 6, 4, 2
        args.no_record = True
    warmup = min(120.0, args.minutes * 60 / 4)
    # The traders' tokens are minted by the seed and must outlive the run (20 minutes by default).
    os.environ["PREDICTQL_ACCESS_TOKEN_TTL_SECONDS"] = str(int(args.minutes * 60 + 3600))
    data_dir = Path(tempfile.mkdtemp(prefix="predictql-soak-"))
    try:
        with bench_database(args.db) as database_url:
            tokens, market_id = asyncio.run(seed(database_url, data_dir, users=args.traders * 2))
            event_id = asyncio.run(event_of(database_url, market_id))
            env = server_env(database_url, data_dir, f"soak{os.getpid()}:") | dict(i.split("=", 1) for i in args.env)
            if args.debug_memory:
                env["PREDICTQL_DEBUG_MEMORY"] = str(args.debug_memory.resolve())
                env["PREDICTQL_DEBUG_MEMORY_SECONDS"] = str(args.debug_memory_seconds)
                env["PREDICTQL_DEBUG_MEMORY_FRAMES"] = str(args.debug_memory_frames)
            if args.bus == "memory":
                env["PREDICTQL_BROADCAST_URL"] = "memory://"
            port = free_port()
            with ours(port, env) as pid:
                allocator = server_pythonmalloc(pid)
                samples, _ = asyncio.run(soak(f"http://127.0.0.1:{port}", pid, tokens, market_id, event_id, args))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    passed, checks = verdict(samples, warmup, args.rss_slack_mb)
    result = {
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else argv,
        "cpus": os.cpu_count(),
        "bus": args.bus if args.bus == "memory" else REDIS_URL.split("@")[-1],
        "db": args.db,
        "pythonmalloc": allocator,  # the server's own (serve sets malloc unless told otherwise)
        "server_env": args.env,
        "warmup_seconds": warmup,
        "passed": passed,
        **checks,
        "samples": samples,
    }
    if not args.no_record:
        print("recorded", record(f"soak-{args.minutes:g}m-{args.db}.json", result))
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    print("VERDICT:", "no growth" if passed else "FAILED: " + ", ".join(checks["failures"]))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
