"""Order placement over HTTP on one predictql process, as ratios to raw ASGI measured in the same run.

    python bench/bench_orders_http.py [--db postgresql|sqlite] [--seconds 10] [--connections 32]

Scenarios (each on a fresh server and its own order-book market; 32 funded users):
- ``order_rest``: POST /api/v1/market/orders, limit buys that never cross (YES bids below 4000 and
  NO bids below 4000, i.e. YES asks above 6000): market lock, escrow through the ledger, a resting row.
- ``order_cross``: the same route, YES and NO buys alternating at 5000 with budgets of 1, 2 or 3
  units' worth, so about every other order mints against the resting one (full and partial fills:
  positions, trade rows, fees with the referral split, collateral, escrow release).
Baseline: a JSON hello-world ASGI app under the same uvicorn settings, same core, same load.
Writes bench/results/orders_http.json and prints a table. ``--smoke`` (CI): 1 s per scenario, 4
connections, nothing recorded; exits non-zero when a scenario has no answers or errors, no order
crossed, or the ledger no longer balances.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    JWT_SECRET,
    SMOKE_PATIENCE,
    SMOKE_TIMEOUT,
    baseline_server,
    bench_database,
    free_port,
    ledger_balanced,
    predictql_env,
    predictql_server,
    record,
    report,
    smoke_failures,
    wrk,
)

USERS = 32


async def seed(database_url: str, data_dir: Path) -> tuple[list[str], list[int]]:
    """32 funded traders (every fourth refers the next three) and two live order-book markets."""
    from predictql import migrate
    from predictql.auth import Actor
    from predictql.db import Database, make_engine, utcnow
    from predictql.services import accounts, events, pools, sessions
    from predictql.services import users as users_service
    from predictql.settings import Settings

    settings = Settings(database_url=database_url, data_dir=data_dir, jwt_secret=JWT_SECRET)
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    db = Database(engine)
    tokens: list[str] = []
    async with db.transaction() as session:
        creator = await accounts.create_user(
            session, email="creator@bench.test", password=None, verified=True, is_creator=True
        )
        actor = Actor(user_id=creator.id, is_creator=True)
        event = await events.create_event(session, actor, events.EventFields(name="Order book bench", tags=["bench"]))
        event.is_active = True
        fields = pools.PoolFields(
            name="Books",
            finish_at=utcnow() + timedelta(days=30),
            live_at=utcnow() - timedelta(minutes=1),
            market_names=["Rest", "Cross"],
            market_probabilities=[0.5, 0.5],
            market_type="orderbook",
        )
        pool = await pools.create_pool(session, actor, event.id or 0, fields)
        markets = [m.id or 0 for m in (await events.markets_of(session, [pool.id or 0]))[pool.id or 0]]
        referrer = None
        for index in range(USERS):
            user = await accounts.create_user(
                session,
                email=f"trader{index}@bench.test",
                password=None,
                verified=True,
                referrer_id=referrer if index % 4 else None,
            )
            referrer = user.id if index % 4 == 0 else referrer
            await users_service.deposit(session, user_id=user.id or 0, amount=10**12)
            tokens.append((await sessions.open_session(session, settings, user.id or 0)).access_token)
    await db.dispose()
    return tokens, markets


def order_script(tokens: list[str], market_id: int, *, crossing: bool) -> Path:
    """wrk Lua: user ``n % 32`` places order ``n``; even users buy YES, odd users buy NO."""
    price = "5000" if crossing else "(1000 + (counter % 30) * 100)"
    amount = "1020 * (1 + counter % 3)" if crossing else "1020"
    lua = f"""
local tokens = {{{", ".join(json.dumps(t) for t in tokens)}}}
local counter = 0
request = function()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local side = (counter % 2 == 0) and "YES" or "NO"
  local body = '{{"market_id":{market_id},"type":"buy","kind":"limit","token_type":"' .. side ..
    '","price":' .. {price} .. ',"amount":' .. {amount} .. '}}'
  return wrk.format("POST", "/api/v1/market/orders",
    {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}}, body)
end
"""
    path = Path(tempfile.mkstemp(suffix=".lua")[1])
    path.write_text(lua)
    return path


async def census(database_url: str) -> dict[str, int]:
    """What the run left behind, and whether the ledger still balances."""
    from sqlalchemy import func
    from sqlmodel import select

    from predictql.db import Database, make_engine
    from predictql.models import Order, Trade

    db = Database(make_engine(database_url))
    async with db.session() as session:
        orders = int(await session.scalar(select(func.count()).select_from(Order)) or 0)
        fills = int(await session.scalar(select(func.count()).select_from(Trade)) or 0) // 2
    await db.dispose()
    return {"orders": orders, "fills": fills, "ledger_balanced": int(await ledger_balanced(database_url))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="CI: 1 s per scenario, 4 connections, not recorded")
    args = parser.parse_args()
    timeout, patience = None, 0.0
    if args.smoke:
        args.seconds, args.connections, timeout, patience = 1, 4, SMOKE_TIMEOUT, SMOKE_PATIENCE
    data_dir = Path(tempfile.mkdtemp(prefix="predictql-bench-data-"))
    results: dict[str, object] = {"db": args.db, "seconds": args.seconds, "connections": args.connections}
    with bench_database(args.db) as url:
        tokens, (rest_market, cross_market) = asyncio.run(seed(url, data_dir))
        port = free_port()
        with baseline_server(port) as base:
            baseline = wrk(
                "raw_asgi",
                base + "/",
                seconds=args.seconds,
                connections=args.connections,
                timeout=timeout,
                patience=patience,
            )
        rows = [baseline]
        scenarios = (("order_rest", rest_market, False), ("order_cross", cross_market, True))
        # A fresh server per scenario (neither warms the other's), except in a smoke run (seconds count).
        for group in [scenarios] if args.smoke else [[scenario] for scenario in scenarios]:
            with predictql_server(free_port(), predictql_env(url, data_dir)) as base:
                for name, market_id, crossing in group:
                    script = order_script(tokens, market_id, crossing=crossing)
                    wrk("warmup", base + "/", seconds=1 if args.smoke else 2, connections=4, script=script)
                    measured = wrk(
                        name,
                        base + "/",
                        seconds=args.seconds,
                        connections=args.connections,
                        script=script,
                        timeout=timeout,
                        patience=patience,
                    )
                    rows.append(measured)
        after = results["after_run"] = asyncio.run(census(url))
    results["measurements"] = report(rows, baseline)
    print("after the run:", after)
    if args.smoke:
        failed = smoke_failures(rows)
        failed += [] if after["fills"] else ["no order crossed"]
        failed += [] if after["ledger_balanced"] else ["the ledger does not balance"]
        if failed:
            sys.exit(f"smoke run failed: {'; '.join(failed)}")
        print("smoke passed")
        return
    print("recorded", record("orders_http.json", results))


if __name__ == "__main__":
    main()
