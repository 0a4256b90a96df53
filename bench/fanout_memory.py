"""Python heap per idle GraphQL subscription, in process (tracemalloc), with and without the sinks.

    python bench/fanout_memory.py [--subscribers 500] [--smoke]

The app runs in this process (SQLite, memory bus) and is reached over ASGI (no uvicorn: its
protocol objects are not counted, as in ``bench_fanout.py``'s RSS figure they are). N sockets each
subscribe to ``marketUpdated`` of one market and read their SNAPSHOT; the heap growth over the
whole set (after a GC), divided by N, is the figure. Measured twice in one run: with the sinks of
``graphql_server.sinks`` (what ships), then with ``sinks.ENABLED = False`` (the subscription stays a
task: the previous code's memory), and once for sockets alone (``connection_init`` and nothing
else), the part no subscription change can reduce. Prints one JSON line per mode. ``--smoke`` (CI):
10 subscribers; exits non-zero unless each subscription read its snapshot and the sinks held them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_fanout import QUERY, seed  # noqa: E402

from predictql.app import create_app  # noqa: E402
from predictql.graphql_server import sinks  # noqa: E402
from predictql.schema.ids import Kind  # noqa: E402
from predictql.schema.node import gid  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.subscriptions.wsclient import GraphQLSocket  # noqa: E402
from tests.support import Lifespan  # noqa: E402


async def measure(app: Any, market_id: int, count: int, subscribe: bool) -> dict[str, Any]:
    sockets: list[GraphQLSocket] = []
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    started = time.monotonic()
    for _ in range(count):
        ws = GraphQLSocket(app)
        await ws.__aenter__()
        if subscribe:
            op = await ws.subscribe(QUERY, {"id": gid(Kind.MARKET, market_id)})
            first = await ws.next(op)
            assert first["data"]["marketUpdated"]["kind"] == "SNAPSHOT", first
        sockets.append(ws)
    await asyncio.sleep(0.5)  # hand-overs done, tasks ended
    for ws in sockets:  # the client side's frames, read and dropped
        while not ws.from_app.empty():
            ws.from_app.get_nowait()
        ws.pending.clear()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    held = len(sinks._sinks)
    tasks = len(asyncio.all_tasks())
    for ws in sockets:
        await ws.__aexit__(None, None, None)
    return {
        "subscribers": count,
        "kb_per_subscriber": round((after - before) / count / 1024, 2),
        "sinks": held,
        "tasks": tasks,
        "seconds": round(time.monotonic() - started, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--smoke", action="store_true", help="CI: 10 subscribers")
    args = parser.parse_args()
    if args.smoke:
        args.subscribers = 10
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        db_url = f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
        market_id, _ = await seed(db_url, data_dir)
        settings = make_settings(
            db_url, data_dir, broadcast_url="memory://", redis_url=None, ws_max_connections=100_000
        )
        held: list[int] = []  # sinks alive per mode
        async with Lifespan(create_app(settings, run_migrations=False)) as app:
            tracemalloc.start(1)
            await measure(app, market_id, 20, True)  # warm-up: caches, parsed query, first imports
            for mode, enabled, subscribe in (
                ("sinks", True, True),
                ("task per subscription", False, True),
                ("sockets only", True, False),
            ):
                sinks.ENABLED = enabled
                row = await measure(app, market_id, args.subscribers, subscribe)
                print(json.dumps({"mode": mode, **row}), flush=True)
                held.append(row["sinks"])
            tracemalloc.stop()
    if args.smoke:
        if held[0] < args.subscribers:  # with the sinks on, every idle subscription is one
            sys.exit(f"smoke run failed: {held[0]} sinks held for {args.subscribers} subscriptions")
        print("smoke passed")


if __name__ == "__main__":
    asyncio.run(main())
