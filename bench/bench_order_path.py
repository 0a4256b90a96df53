"""The order path in process, one placement per transaction, serially: how long each holds the
market lock (wall time of its transaction) and how many SQL statements it sends.

    python bench/bench_order_path.py [--db postgresql|sqlite] [--orders 200] [--batch N]

The same script runs any checkout (``PYTHONPATH=<checkout>/src``): it only calls
``orderbook_trading.place_order`` and the commit hook the app registers (``live.final_states``), so
two versions compare on one busy machine by the ratio of their figures in the same run. Scenarios as
``bench_orders_http.py``: ``order_rest`` (buys that never cross) and ``order_cross`` (YES and NO
buys at 5000 that mint against each other). Prints JSON. ``--smoke`` (CI): 10 orders each, and
exits non-zero unless the crossing orders filled and the ledger balances.

``--batch N``: the placements go through a ``MarketWriter`` instead, N at a time concurrently (one
batch transaction each, as N waiting HTTP requests make them); the figures are then per batch
(``ms_*``) and per placement (``statements_per_order``, ``cpu_ms_per_order``: this process's CPU
time, which a busy shared machine hardly moves).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_orders_http import seed
from harness import bench_database, ledger_balanced


async def measure(url: str, orders: int, batch: int) -> dict[str, Any]:
    from sqlalchemy import event, func
    from sqlmodel import select

    from predictql.auth import Actor
    from predictql.db import Database, make_engine
    from predictql.models import Trade, User
    from predictql.services import live, order_writes, orderbook_trading
    from predictql.services.market_writer import MarketWriter
    from predictql.services.orderbook_trading import OrderRequest

    _, (rest_market, cross_market) = await seed(url, Path(tempfile.mkdtemp(prefix="predictql-bench-data-")))
    db = Database(make_engine(url))
    db.commit_hooks.append(live.final_states(200))
    async with db.session() as session:
        users = [u.id or 0 for u in await session.scalars(select(User).where(User.is_creator.is_(False)))]  # type: ignore[attr-defined]
    statements: list[int] = []
    event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *_: statements.append(1))
    writer = MarketWriter(db)
    out: dict[str, Any] = {}
    for name, market_id, crossing in (("order_rest", rest_market, False), ("order_cross", cross_market, True)):

        def request(n: int, market_id: int = market_id, crossing: bool = crossing) -> OrderRequest:
            token = "YES" if n % 2 == 0 else "NO"
            price = 5000 if crossing else 1000 + (n % 30) * 100
            amount = 1020 * (1 + n % 3) if crossing else 1020
            return OrderRequest(market_id, "buy", token, "limit", amount, price)

        async def place(n: int) -> None:
            actor = Actor(user_id=users[n % len(users)])
            if batch:
                await order_writes.place(writer, actor, request(n), fee_bps=200)
                return
            async with db.transaction() as session:
                await orderbook_trading.place_order(session, actor, request(n), fee_bps=200)

        if batch:  # warm up: statement caches, escrow accounts
            await asyncio.gather(*(place(n) for n in range(batch)))
        times: list[float] = []
        statements.clear()
        cpu = time.process_time()
        for start in range(0, orders, batch or 1):
            started = time.perf_counter()
            await asyncio.gather(*(place(n) for n in range(start, min(start + (batch or 1), orders))))
            times.append((time.perf_counter() - started) * 1000)
        out[name] = {
            "ms_median": round(statistics.median(times), 2),
            "ms_mean": round(statistics.fmean(times), 2),
            "statements_per_order": round(len(statements) / orders, 2),
            "cpu_ms_per_order": round((time.process_time() - cpu) * 1000 / orders, 3),
        }
    async with db.session() as session:
        out["fills"] = int(await session.scalar(select(func.count()).select_from(Trade)) or 0) // 2
    await db.dispose()
    out["ledger_balanced"] = await ledger_balanced(url)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--batch", type=int, default=0, help="through a MarketWriter, this many at once")
    parser.add_argument(
        "--smoke", action="store_true", help="CI: 10 orders each; fails on no fills or an unbalanced ledger"
    )
    args = parser.parse_args()
    with bench_database(args.db) as url:
        out = asyncio.run(measure(url, 10 if args.smoke else args.orders, args.batch))
    print(json.dumps(out))
    if args.smoke:
        if not out["fills"] or not out["ledger_balanced"]:
            sys.exit(f"smoke run failed: {out['fills']} fills, ledger balanced: {out['ledger_balanced']}")
        print("smoke passed")


if __name__ == "__main__":
    main()
