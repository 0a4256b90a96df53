"""Cost as the work grows: seed users, markets and trades at 1x, 10x (and 100x) of a small base
with a bulk loader, then measure what one request costs at each scale.

The base (1x) is 1,000 users, 100 markets (50 events of one pool with two markets) and 10,000
trades; 100x is 100,000 users, 10,000 markets and 1,000,000 trades (``--scales 1,10,100``). Every
user makes ``trades / users`` trades on average, so a user's positions and history pages have the
same size at every scale: their cost must not grow. The ledger check and the stream-log prune read
or delete work proportional to the data, so their cost may grow with it, and no faster.

The loader writes rows directly (PostgreSQL: ``COPY`` through asyncpg's
``copy_records_to_table``; SQLite: multi-row INSERTs), never through the HTTP API. The books stay
whole: each user gets one deposit (world -> cash) and each seeded trade one balanced transaction
(cash -> the market's AMM account), cached balances are the sums of their entries, so
``predictql ledger check`` is clean after loading and after the measured trades.

Measured per scale (each a fresh database, migrated with Alembic, then ``ANALYZE``):

- ``lmsr_trade``: ``lmsr_trading.trade`` in its own transaction (p50/p99 over ``--trades``);
- ``feed_query``: the 20-event feed, GraphQL executed in process (schema.execute, anonymous);
- ``positions_open`` / ``positions_closed`` / ``trade_history``: one user's pages (services);
- ``stream_prune``: ``StreamLog.prune`` deleting the expired tenth of the stream log;
- ``ledger_check``: ``ledger_check.check`` over the whole ledger.

Each figure is printed with its growth vs 1x and the growth of its result size; a figure that
grows more than 2x faster than its result size is flagged ``SLOWER THAN DATA``.

    .venv/bin/python bench/bench_scale.py --db postgresql              # 1x and 10x
    .venv/bin/python bench/bench_scale.py --db postgresql --scales 1,10,100
    .venv/bin/python bench/bench_scale.py --smoke --db sqlite          # seconds; CI
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import JSON, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from predictql import migrate  # noqa: E402
from predictql.auth import Actor  # noqa: E402
from predictql.db import Database, make_engine, utcnow  # noqa: E402
from predictql.models import metadata  # noqa: E402
from predictql.services import history, ledger, ledger_check, lmsr_trading, positions  # noqa: E402
from predictql.services import users as users_service  # noqa: E402
from predictql.services.cursors import PageArgs, encode_cursor  # noqa: E402
from predictql.settings import Settings  # noqa: E402
from predictql.subscriptions.stream_log import StreamLog  # noqa: E402

PG_ADMIN = os.environ.get("PREDICTQL_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
JWT_SECRET = "bench-secret-" + "x" * 40
BASE_USERS, BASE_MARKETS, BASE_TRADES = 1_000, 100, 10_000
SMOKE_USERS, SMOKE_MARKETS, SMOKE_TRADES = 40, 8, 1_000
DEPOSIT = 10**10  # kopecks per user: no seeded or measured trade can run out
RETENTION = timedelta(hours=1)
EXPIRED_SHARE = 10  # every 10th stream-log row is older than the retention
WHALE, WHALE_SHARE = 1, 20  # user 1 makes every 20th trade
FLAG_FACTOR = 2.0  # flag a figure whose growth exceeds its result size's growth by this factor
FEED_QUERY = (
    "{ events(first: 20) { edges { node { id name status pools { id name markets "
    "{ id name yesProbability volume } } } } pageInfo { hasNextPage endCursor } } }"
)


@dataclass
class Figure:
    name: str
    p50_ms: float
    p99_ms: float
    samples: int
    result_size: int  # rows the operation returns, deletes or reads


@dataclass
class ScaleRun:
    scale: int
    users: int
    markets: int
    trades: int
    load_seconds: float
    figures: dict[str, Figure] = field(default_factory=dict)


# --- bulk loader -----------------------------------------------------------------------------


def _complete(table: Table, rows: list[dict[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and full records: columns a row leaves out take their scalar default or NULL."""
    columns = [c.name for c in table.columns]
    defaults = {
        c.name: (c.default.arg if c.default is not None and not callable(c.default.arg) else None)
        for c in table.columns
    }
    return columns, [tuple(row.get(name, defaults[name]) for name in columns) for row in rows]


async def _load(engine: AsyncEngine, table_name: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = metadata.tables[table_name]
    columns, records = _complete(table, rows)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # A bulk load: foreign-key triggers off for this transaction (the generator writes
            # consistent rows; the ledger check afterwards proves the books).
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            encoded = [i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)]
            if encoded:  # COPY takes a json column's text
                records = [
                    tuple(json.dumps(v) if i in encoded else v for i, v in enumerate(record)) for record in records
                ]
            raw = await conn.get_raw_connection()
            driver = cast(Any, raw).driver_connection
            await driver.copy_records_to_table(table_name, records=records, columns=columns)
        else:
            for start in range(0, len(records), 5000):
                chunk = [dict(zip(columns, record, strict=True)) for record in records[start : start + 5000]]
                await conn.execute(table.insert(), chunk)


async def seed(engine: AsyncEngine, users: int, markets: int, trades: int, rng: random.Random) -> None:
    """Users with funded cash accounts, events/pools/markets with AMM accounts, trades with their
    ledger transactions, positions, price points and a stream log; balances consistent."""
    now = utcnow()
    start = now - timedelta(days=30)
    async with engine.connect() as conn:
        system = {code: id_ for code, id_ in await conn.execute(text("SELECT code, id FROM ledger_accounts"))}
    world = system[ledger.WORLD]
    ids = {"account": max(system.values()) + 1}

    def at(fraction: float) -> datetime:
        return start + (now - start) * fraction

    user_rows = [
        {"id": u, "email": f"u{u}@scale.test", "name": f"User {u}", "referral_code": f"s{u}", "created_at": start}
        for u in range(1, users + 1)
    ]
    cash: dict[int, int] = {}
    accounts: list[dict[str, Any]] = []
    balance: dict[int, int] = {}
    for u in range(1, users + 1):
        cash[u] = ids["account"]
        accounts.append(
            {"id": ids["account"], "code": ledger.user_cash(u), "kind": "user_cash", "user_id": u, "created_at": start}
        )
        accounts.append(
            {
                "id": ids["account"] + 1,
                "code": ledger.user_bonus(u),
                "kind": "user_bonus",
                "user_id": u,
                "created_at": start,
            }
        )
        balance[ids["account"]] = DEPOSIT
        ids["account"] += 2
    events_n = markets // 2
    event_rows, pool_rows, market_rows, tag_rows = [], [], [], []
    amm: dict[int, int] = {}
    market_event: dict[int, int] = {}
    for e in range(1, events_n + 1):
        event_rows.append(
            {
                "id": e,
                "creator_id": 1,
                "name": f"Scale event {e}",
                "tags": ["scale"],
                "is_active": True,
                "versus_names": [],
                "versus_images": [],
                "main_pool_id": e,
                "created_at": start,
            }
        )
        tag_rows.append({"event_id": e, "tag": "scale"})
        pool_rows.append(
            {
                "id": e,
                "event_id": e,
                "name": "Main",
                "live_at": start,
                "finish_at": now + timedelta(days=60),
                "meta": {},
                "created_at": start,
            }
        )
        for k in range(2):
            m = 2 * (e - 1) + k + 1
            market_event[m] = e
            market_rows.append(
                {
                    "id": m,
                    "pool_id": e,
                    "event_id": e,
                    "name": f"Outcome {k}",
                    "outcome_index": k,
                    "lmsr_b": 100_000_000,
                    "p0": 0.5,
                    "created_at": start,
                }
            )
            amm[m] = ids["account"]
            accounts.append(
                {
                    "id": ids["account"],
                    "code": ledger.market_amm(m),
                    "kind": "amm",
                    "allow_negative": True,
                    "created_at": start,
                }
            )
            balance[ids["account"]] = 0
            ids["account"] += 1
    markets = events_n * 2
    # Trades: every trade a YES buy of 100-10,000 kopecks at 50 %, one ledger transaction each.
    trade_rows, txn_rows, entry_rows, point_rows, stream_rows = [], [], [], [], []
    held: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])  # shares, cost, first trade
    volume: dict[int, int] = defaultdict(int)
    txn_id, entry_id = 1, 1
    for u in range(1, users + 1):
        txn_rows.append({"id": txn_id, "kind": "deposit", "user_id": u, "memo": "", "created_at": start})
        entry_rows.append(
            {"id": entry_id, "transaction_id": txn_id, "account_id": world, "amount": -DEPOSIT, "created_at": start}
        )
        entry_rows.append(
            {
                "id": entry_id + 1,
                "transaction_id": txn_id,
                "account_id": cash[u],
                "amount": DEPOSIT,
                "created_at": start,
            }
        )
        txn_id, entry_id = txn_id + 1, entry_id + 2
    seqs: dict[int, int] = defaultdict(int)
    for t in range(1, trades + 1):
        # User 1 is a heavy trader: every WHALE_SHARE-th trade is theirs, so their history grows
        # with the scale while a page of it stays 20 rows.
        u, m = (WHALE if t % WHALE_SHARE == 0 else rng.randint(2, users)), rng.randint(1, markets)
        amount = rng.randint(100, 10_000)
        shares = amount * 2
        created = at(t / (trades + 1))
        trade_rows.append(
            {
                "id": t,
                "market_id": m,
                "event_id": market_event[m],
                "user_id": u,
                "kind": "lmsr",
                "side": "buy",
                "token": "YES",
                "shares": shares,
                "price": 5000,
                "amount": amount,
                "fee": 0,
                "created_at": created,
            }
        )
        txn_rows.append(
            {
                "id": txn_id,
                "kind": "trade_cost",
                "user_id": u,
                "reference_type": "trade",
                "reference_id": t,
                "memo": "",
                "created_at": created,
            }
        )
        entry_rows.append(
            {"id": entry_id, "transaction_id": txn_id, "account_id": cash[u], "amount": -amount, "created_at": created}
        )
        entry_rows.append(
            {
                "id": entry_id + 1,
                "transaction_id": txn_id,
                "account_id": amm[m],
                "amount": amount,
                "created_at": created,
            }
        )
        balance[cash[u]] -= amount
        balance[amm[m]] += amount
        txn_id, entry_id = txn_id + 1, entry_id + 2
        point_rows.append({"id": t, "market_id": m, "probability": 0.5, "created_at": created})
        seqs[m] += 1
        stream_created = now - RETENTION * 2 if t % EXPIRED_SHARE == 0 else now - RETENTION / 2
        stream_rows.append(
            {"channel": f"market:{m}:trades", "seq": seqs[m], "payload": "{}", "created_at": stream_created}
        )
        position = held[(u, m)]
        position[0] += shares
        position[1] += amount
        position[2] = position[2] or t
        volume[m] += amount
    position_rows = []
    for index, ((u, m), (shares, cost, first)) in enumerate(sorted(held.items(), key=lambda item: item[1][2]), 1):
        closed = index % 5 == 0  # a fifth of them sold out: history for the closed-positions page
        position_rows.append(
            {
                "id": index,
                "user_id": u,
                "market_id": m,
                "event_id": market_event[m],
                "token": "YES",
                "amount": 0 if closed else shares,
                "avg_price": 5000,
                "cost": 0 if closed else cost,
                "price_cost": 0 if closed else cost,
                "bonus_cost": 0,
                "realized_pnl": 0,
                "use_bonus": False,
                "status": "closed" if closed else "open",
                "created_at": at(first / (trades + 1)),
                "closed_at": now - timedelta(minutes=index % 997) if closed else None,
            }
        )
    for row in market_rows:
        row["q_yes"] = sum(s for (_, m), (s, _, _) in held.items() if m == row["id"]) if markets <= 200 else 0
        row["volume"] = volume[row["id"]]
    for account in accounts:
        account["balance"] = balance.get(account["id"], 0)
    await _load(engine, "users", user_rows)
    await _load(engine, "ledger_accounts", accounts)
    await _load(engine, "events", event_rows)
    await _load(engine, "event_tags", tag_rows)
    await _load(engine, "pools", pool_rows)
    await _load(engine, "markets", market_rows)
    await _load(engine, "trades", trade_rows)
    await _load(engine, "ledger_transactions", txn_rows)
    await _load(engine, "ledger_entries", entry_rows)
    await _load(engine, "positions", position_rows)
    await _load(engine, "price_points", point_rows)
    await _load(engine, "stream_events", stream_rows)
    await _load(engine, "stream_heads", [{"channel": f"market:{m}:trades", "seq": s} for m, s in seqs.items()])
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for name in (
                "users",
                "ledger_accounts",
                "events",
                "pools",
                "markets",
                "trades",
                "ledger_transactions",
                "ledger_entries",
                "positions",
                "price_points",
            ):
                await conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
            await conn.execute(text("ANALYZE"))
        else:
            await conn.execute(text("ANALYZE"))


# --- measurements ----------------------------------------------------------------------------


def _percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _timed(name: str, repeat: int, body: Callable[[int], Awaitable[int]]) -> Figure:
    """``body(i)`` returns its result size; the figure keeps the mean (users differ)."""
    samples: list[float] = []
    sizes: list[int] = []
    for index in range(repeat):
        began = time.perf_counter()
        sizes.append(await body(index))
        samples.append((time.perf_counter() - began) * 1000)
    size = round(statistics.mean(sizes))
    return Figure(name, round(statistics.median(samples), 3), round(_percentile(samples, 0.99), 3), repeat, size)


async def measure(
    db: Database, settings: Settings, run: ScaleRun, repeat: int, trade_count: int, rng: random.Random
) -> None:
    from starlette.requests import Request
    from starlette.responses import Response

    from predictql.graphql_server.root import build_schema
    from predictql.schema.context import Context

    figures = run.figures
    user_ids = [rng.randint(1, run.users) for _ in range(max(repeat, trade_count))]

    async def one_trade(index: int) -> int:
        request = lmsr_trading.TradeRequest(
            market_id=rng.randint(1, run.markets), side="buy_yes", amount_type="spend", amount=1_000
        )
        async with db.transaction() as session:
            await lmsr_trading.trade(session, Actor(user_id=user_ids[index]), request, fee_bps=settings.fee_bps)
        return 1

    figures["lmsr_trade"] = await _timed("lmsr_trade", trade_count, one_trade)

    schema = build_schema(settings)
    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": [], "query_string": b""}

    async def feed(_: int) -> int:
        context = Context(
            request=Request(scope),
            response=Response(),
            db=db,
            settings=settings,
            mailer=cast(Any, None),
            http=cast(Any, None),
            bus=cast(Any, None),
        )
        result = await schema.execute(FEED_QUERY, context_value=context)
        assert result.errors is None, result.errors
        assert result.data is not None
        return len(result.data["events"]["edges"])

    figures["feed_query"] = await _timed("feed_query", repeat, feed)

    async def open_positions(index: int) -> int:
        async with db.session() as session:
            return len(await positions.open_positions(session, Actor(user_id=user_ids[index])))

    async def closed_positions(index: int) -> int:
        async with db.session() as session:
            page = await positions.completed_positions(session, Actor(user_id=user_ids[index]), limit=20)
            return len(page.items)

    async def trade_history(index: int) -> int:
        async with db.session() as session:
            actor = Actor(user_id=user_ids[index])
            first = await history.my_trades(session, actor, first=20)
            if first.has_next and first.items:
                cursor = encode_cursor(first.items[-1].id or 0)
                return len(first.items) + len((await history.my_trades(session, actor, first=20, after=cursor)).items)
            return len(first.items)

    async def money_movements(index: int) -> int:
        async with db.session() as session:
            page = await users_service.money_movement_page(session, Actor(user_id=user_ids[index]), PageArgs(first=20))
            return len(page.items)

    figures["positions_open"] = await _timed("positions_open", repeat, open_positions)
    figures["positions_closed"] = await _timed("positions_closed", repeat, closed_positions)
    figures["trade_history"] = await _timed("trade_history", repeat, trade_history)
    figures["money_movements"] = await _timed("money_movements", repeat, money_movements)
    # The heavy trader: pages of 20 out of a history that grows with the scale.
    user_ids[:repeat] = [WHALE] * repeat
    figures["whale_positions_closed"] = await _timed("whale_positions_closed", repeat, closed_positions)
    figures["whale_trade_history"] = await _timed("whale_trade_history", repeat, trade_history)
    figures["whale_money_movements"] = await _timed("whale_money_movements", repeat, money_movements)

    stream_log = StreamLog(db)

    async def prune(_: int) -> int:
        return await stream_log.prune(RETENTION)

    figures["stream_prune"] = await _timed("stream_prune", 1, prune)

    async def check(_: int) -> int:
        async with db.session() as session:
            report = await ledger_check.check(session)
        assert report.ok, report.lines()
        return report.entries

    figures["ledger_check"] = await _timed("ledger_check", 1 if run.scale >= 10 else 3, check)


# --- one scale, the report -------------------------------------------------------------------


async def _pg(sql: str) -> None:
    engine = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def run_scale(
    store: str, scale: int, base: tuple[int, int, int], repeat: int, trade_count: int, database_url: str | None = None
) -> ScaleRun:
    users, markets, trades = (n * scale for n in base)
    rng = random.Random(scale)
    name = f"predictql_scale_{os.getpid()}_{scale}_{secrets.token_hex(2)}"
    temp = tempfile.TemporaryDirectory(prefix="bench-scale-")
    if database_url is not None:
        url, created = database_url, False
    elif store == "postgresql":
        await _pg(f'CREATE DATABASE "{name}"')
        url, created = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", True
    else:
        url, created = f"sqlite+aiosqlite:///{temp.name}/scale.db", False
    engine = make_engine(url)
    try:
        await migrate.upgrade(engine)
        began = time.perf_counter()
        await seed(engine, users, markets, trades, rng)
        run = ScaleRun(scale, users, markets // 2 * 2, trades, round(time.perf_counter() - began, 2))
        print(
            f"[{scale}x] loaded {users:,} users, {run.markets:,} markets, {trades:,} trades in {run.load_seconds} s",
            flush=True,
        )
        settings = Settings(database_url=url, data_dir=Path(temp.name), jwt_secret=JWT_SECRET)
        db = Database(engine)
        await measure(db, settings, run, repeat, trade_count, rng)
        async with db.session() as session:
            assert (await ledger_check.check(session)).ok
            await session.scalar(select(func.count()).select_from(metadata.tables["trades"]))
        return run
    finally:
        await engine.dispose()
        if created:
            await _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        temp.cleanup()


def growth_table(runs: Sequence[ScaleRun]) -> list[dict[str, Any]]:
    """Per figure and scale: p50, growth vs 1x, result-size growth, data growth, and the flag."""
    first = runs[0]
    rows = []
    for name, base in first.figures.items():
        for run in runs:
            figure = run.figures[name]
            growth = figure.p50_ms / base.p50_ms if base.p50_ms else 0.0
            size_growth = figure.result_size / base.result_size if base.result_size else 1.0
            rows.append(
                {
                    "figure": name,
                    "scale": run.scale,
                    "p50_ms": figure.p50_ms,
                    "p99_ms": figure.p99_ms,
                    "result_size": figure.result_size,
                    "growth": round(growth, 2),
                    "result_growth": round(size_growth, 2),
                    "data_growth": run.scale / first.scale,
                    "cost_per_row_growth": round(growth / size_growth, 2) if size_growth else 0.0,
                    "flag": growth > FLAG_FACTOR * max(size_growth, 1.0),
                }
            )
    return rows


def print_report(runs: Sequence[ScaleRun], rows: Iterable[dict[str, Any]]) -> None:
    print(
        f"{'figure':<24}{'scale':>6}{'p50 ms':>11}{'p99 ms':>11}{'rows':>10}{'x vs 1x':>9}{'rows x':>8}"
        f"{'per row x':>10}  flag"
    )
    for row in rows:
        flag = "SLOWER THAN DATA" if row["flag"] else ""
        print(
            f"{row['figure']:<24}{row['scale']:>5}x{row['p50_ms']:>11.2f}{row['p99_ms']:>11.2f}"
            f"{row['result_size']:>10}{row['growth']:>9.2f}{row['result_growth']:>8.2f}"
            f"{row['cost_per_row_growth']:>10.2f}  {flag}"
        )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    scales = [int(s) for s in args.scales.split(",")]
    base = (SMOKE_USERS, SMOKE_MARKETS, SMOKE_TRADES) if args.smoke else (BASE_USERS, BASE_MARKETS, BASE_TRADES)
    repeat, trade_count = (5, 5) if args.smoke else (args.repeat, args.trades)
    runs = [await run_scale(args.db, scale, base, repeat, trade_count) for scale in scales]
    rows = growth_table(runs)
    print_report(runs, rows)
    return {
        "store": args.db,
        "smoke": args.smoke,
        "base": dict(zip(("users", "markets", "trades"), base, strict=True)),
        "runs": [asdict(run) for run in runs],
        "growth": rows,
        "flagged": sorted({row["figure"] for row in rows if row["flag"]}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--scales", default="1,10", help="comma-separated factors of the base; 100 = 1M trades")
    parser.add_argument("--repeat", type=int, default=50, help="samples per read figure")
    parser.add_argument("--trades", type=int, default=200, help="measured LMSR trades per scale")
    parser.add_argument("--smoke", action="store_true", help="a tiny base at 1x and 2x: seconds (CI)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.smoke and args.scales == "1,10":
        args.scales = "1,2"
    result = asyncio.run(main_async(args))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
