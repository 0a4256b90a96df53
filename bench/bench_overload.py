"""Overload on one channel: 1,000 messages a second to N fast readers, the server's RSS over time.

    python bench/bench_overload.py [--readers 10] [--rate 1000] [--seconds 10] [--after 60] [--smoke]

One ``predictql serve`` process (SQLite for snapshots, Redis bus, pinned to CPU 0) and one client
process (pinned to CPU 1) holding ``--readers`` GraphQL WebSocket subscriptions to ``marketUpdated``
of one market. Each reader reads as fast as it can (no per-message work besides parsing the kind and
seq), with the client library's usual bounded receive queue (64 frames), so a reader slower than the
stream holds the server back through TCP, as a real client does. The publisher sends ``--rate``
``MarketState`` messages a second on the market's channel
**through real commits** of the stream messages alone: every 10 ms one transaction emits 10 messages
(``db.emit``), the commit hook numbers them and stores them in the stream log (``stream_log.sequence``)
and the bus publishes them on Redis after the commit, as for a trade. Only the trade's own writes are
left out (they are not fan-out work, and one SQLite market does not commit 1,000 trades a second).

Per reader: LIVE messages received (``delivered``), seqs never seen as LIVE (``lost``), and SNAPSHOTs
after the first (``skips``: the reader was skipped to the current state). Server RSS is sampled
every 0.25 s from before the readers connect to ``--after`` seconds after the last publish.
Writes ``bench/results/overload.json`` and prints a summary. ``--smoke`` (CI): 2 readers, 200
messages a second for 1 s, 1 s after, 0.5 s between phases; nothing recorded; exits non-zero unless
every reader received every message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fanout import REDIS_URL, cpu_seconds, drain, ours, pin, rss_bytes, seed, server_env
from harness import free_port, record

CLIENT_CPU = 1
QUERY = "subscription($id: ID!) { marketUpdated(marketId: $id) { kind seq data { marketId volume } } }"


def reader_process(url: str, readers: int, market_id: int, ready: Any, stop: Any, out: Any, seen: Any) -> None:
    pin(0, CLIENT_CPU)
    asyncio.run(_readers(url, readers, market_id, ready, stop, out, seen))


async def _readers(url: str, readers: int, market_id: int, ready: Any, stop: Any, out: Any, seen: Any) -> None:
    import websockets

    subscribe = json.dumps(
        {"id": "1", "type": "subscribe", "payload": {"query": QUERY, "variables": {"id": f"mkt_{market_id}"}}}
    )
    stats: list[dict[str, Any]] = []

    async def one(index: int, live: asyncio.Event) -> None:
        mine: dict[str, Any] = {"seqs": set(), "snapshots": 0, "gaps": 0, "closed": None}
        stats.append(mine)
        try:
            async with websockets.connect(
                url,
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                compression=None,
                ping_interval=None,
                max_queue=64,
            ) as ws:
                await ws.send('{"type":"connection_init","payload":{}}')
                await ws.recv()
                await ws.send(subscribe)
                async for text in ws:
                    message = json.loads(text)
                    if message.get("type") != "next":
                        continue
                    item = message["payload"]["data"]["marketUpdated"]
                    if item["kind"] == "LIVE":
                        mine["seqs"].add(int(item["seq"]))
                        seen.value += 1
                    elif item["kind"] == "SNAPSHOT":
                        mine["snapshots"] += 1
                        live.set()
                    elif item["kind"] == "GAP":
                        mine["gaps"] += 1
        except Exception as error:
            mine["closed"] = f"{type(error).__name__}: {error}"[:120]

    events = [asyncio.Event() for _ in range(readers)]
    tasks = [asyncio.create_task(one(i, event)) for i, event in enumerate(events)]
    await asyncio.gather(*(event.wait() for event in events))
    ready.put(readers)
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    out.put([{**s, "seqs": sorted(s["seqs"])} for s in stats])
    out.close()
    out.join_thread()
    for task in tasks:
        task.cancel()
    os._exit(0)


def publish(db_url: str, prefix: str, market_id: int, rate: int, seconds: float) -> int:
    """``rate`` messages a second for ``seconds``, committed in 10 ms batches."""
    return asyncio.run(_publish(db_url, prefix, market_id, rate, seconds))


async def _publish(db_url: str, prefix: str, market_id: int, rate: int, seconds: float) -> int:
    """Each batch is one transaction that emits its messages as a service does (``db.emit``): the
    commit hook numbers and stores them in the stream log, then the bus publishes them on Redis."""
    from predictql.db import Database, emit, make_engine
    from predictql.subscriptions.bus import Bus
    from predictql.subscriptions.stream_log import sequence
    from predictql.subscriptions.topics import MarketState, market_channel

    bus = Bus(REDIS_URL, prefix=prefix)
    await bus.connect()
    db = Database(make_engine(db_url), publisher=bus)
    db.commit_hooks.append(sequence)
    per_batch, total, sent = max(1, rate // 100), int(rate * seconds), 0
    start = time.monotonic()
    while sent < total:
        await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
        async with db.transaction() as session:
            for _ in range(min(per_batch, total - sent)):
                sent += 1
                state = MarketState(
                    market_id, 1, 1, 0.5, 5000, 5000, 1000 * sent, 0, sent, False, False, None, datetime.now(UTC)
                )
                emit(session, market_channel(market_id), state.to_json())
    for _ in range(3000):  # until everything committed reached Redis (disconnect waits only 2 s)
        if not bus.backend._outbox:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.01)
    await bus.disconnect()
    await db.dispose()
    return sent


def holes(seqs: list[int], head: int, sent: int) -> list[tuple[int, int]]:
    """The missed seq ranges (first, last), relative to the first published message (1)."""
    found, expected = [], head + 1
    for seq in [*seqs, head + sent + 1]:
        if seq > expected:
            found.append((expected - head, seq - 1 - head))
        expected = seq + 1
    return found[:20]


class Sampler(threading.Thread):
    """The server's RSS (MB) every ``period`` seconds, with the phase it was taken in."""

    def __init__(self, pid: int, period: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.period, self.phase = pid, period, "before"
        self.samples: list[tuple[float, str, float]] = []
        self.done = threading.Event()
        self.start_time = time.monotonic()

    def run(self) -> None:
        while not self.done.wait(self.period):
            self.samples.append(
                (round(time.monotonic() - self.start_time, 2), self.phase, round(rss_bytes(self.pid) / 2**20, 1))
            )

    def phase_rss(self, phase: str) -> list[float]:
        return [rss for _, name, rss in self.samples if name == phase]


def measure(pid: int, url: str, args: argparse.Namespace, market: tuple[int, int], prefix: str) -> dict[str, Any]:
    market_id, head = market
    ctx = mp.get_context("fork")
    ready, out, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    sampler = Sampler(pid)
    sampler.start()
    time.sleep(args.settle)
    sampler.phase = "connected"
    seen = ctx.RawValue("q", 0)  # LIVE messages the readers received so far
    proc = ctx.Process(target=reader_process, args=(url, args.readers, market_id, ready, stop, out, seen))
    proc.start()
    ready.get(timeout=120)
    time.sleep(args.settle)
    sampler.phase = "burst"
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    sent = publish(args.db_url, prefix, market_id, args.rate, args.seconds)
    publish_seconds = time.monotonic() - wall0
    sampler.phase = "after"
    drain([seen], sent * args.readers, quiet=3.0, limit=args.after)  # readers busy catching up are not losses
    drain_seconds = time.monotonic() - wall0 - publish_seconds
    time.sleep(max(0.0, args.after - drain_seconds))
    cpu1 = cpu_seconds(pid)
    stop.set()
    readers = out.get(timeout=120)
    proc.join(timeout=10)
    sampler.phase = "closed"
    time.sleep(args.settle * 1.5)
    sampler.done.set()
    sampler.join()
    published = set(range(head + 1, head + 1 + sent))
    per_reader = []
    for reader in readers:
        got = published.intersection(reader["seqs"])
        per_reader.append(
            {
                "delivered": len(got),
                "lost": sent - len(got),
                "skips": max(0, reader["snapshots"] - 1),
                "gaps": reader["gaps"],
                "closed": reader["closed"],
                "holes": holes(sorted(got), head, sent),
            }
        )
    losses = [r["lost"] / sent for r in per_reader]
    before = sampler.phase_rss("before") or [0.0]
    after = sampler.phase_rss("after") or [0.0]
    return {
        "readers": args.readers,
        "rate": args.rate,
        "published": sent,
        "publish_seconds": round(publish_seconds, 2),
        "readers_caught_up_after_seconds": round(drain_seconds, 2),
        "loss_mean_pct": round(statistics.fmean(losses) * 100, 2),
        "loss_max_pct": round(max(losses) * 100, 2),
        "loss_min_pct": round(min(losses) * 100, 2),
        "server_cpu_seconds": round(cpu1 - cpu0, 2),
        "rss_before_mb": before[-1],
        "rss_connected_mb": (sampler.phase_rss("connected") or [0.0])[-1],
        "rss_peak_mb": max(rss for _, _, rss in sampler.samples),
        "rss_after_end_mb": after[-1],
        "rss_closed_mb": (sampler.phase_rss("closed") or [0.0])[-1],
        "per_reader": per_reader,
        "rss_samples": sampler.samples,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--rate", type=int, default=1000, help="messages a second on the channel")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the burst")
    parser.add_argument("--after", type=float, default=60.0, help="seconds watched after the burst")
    parser.add_argument("--label", default="", help="recorded with the result (e.g. before/after a change)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server (repeatable)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds of RSS samples between phases")
    parser.add_argument("--smoke", action="store_true", help="CI: 2 readers, 200 msg/s for 1 s, not recorded")
    parser.add_argument("--no-record", action="store_true", help="print only (CI's short burst)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.readers, args.rate, args.seconds, args.after, args.settle = 2, 200, 1.0, 1.0, 0.5
    data_dir = Path(tempfile.mkdtemp(prefix="predictql-bench-overload-"))
    db_url = args.db_url = f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
    market = asyncio.run(seed(db_url, data_dir))
    prefix = f"overload{os.getpid()}:"
    env = server_env(db_url, data_dir, prefix) | dict(item.split("=", 1) for item in args.env)
    try:
        port = free_port()
        with ours(port, env) as pid:
            row = measure(pid, f"ws://127.0.0.1:{port}/graphql", args, market, prefix)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    row = {
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": args.label,
        "cpus": os.cpu_count(),
        "server_env": args.env,
        **row,
    }
    summary = {k: v for k, v in row.items() if k not in ("per_reader", "rss_samples")}
    print(json.dumps(summary, indent=1))
    for reader in row["per_reader"]:
        print(json.dumps(reader))
    if args.smoke:
        short = [r for r in row["per_reader"] if r["lost"] or r["closed"] or not r["delivered"]]
        if short or not row["published"]:
            sys.exit(f"smoke run failed: {row['published']} published, readers short: {short}")
        print("smoke passed")
        return
    if not args.no_record:
        print("recorded", record(f"overload{'-' + args.label if args.label else ''}.json", row))


if __name__ == "__main__":
    main()
