"""Where a crossing order-book batch's wall time goes on PostgreSQL, in process.

    python bench/profile_order_sql.py [--batch 64] [--batches 30] [--explain] [--scenario cross|rest]

Crossing placements (``bench_order_path.py``'s orders: YES and NO buys at 5000 that mint against
each other) go through a ``MarketWriter``, ``--batch`` at a time. For every batch it records the
wall time of each statement at the client (``before/after_cursor_execute``), of BEGIN and COMMIT
(the asyncpg adapter's calls) and the rest (Python between the statements, after-commit work), and
prints per statement: how many per batch, ms per batch, share of the batch's wall time, and its ms
in the first and last 10 batches (a statement whose cost grows with the book shows it there). A
batch's wall time is ``MarketWriter._execute``'s: what a next batch queued meanwhile waits for;
``cycle_ms_mean`` is a whole round of ``--batch`` callers, answers included (the next round is sent
only then).

``--explain``: the bench database also loads ``auto_explain`` for every session (``ALTER DATABASE``
on the throw-away bench database only), ``log_analyze``, ``log_buffers``, ``log_wal`` and ``log_triggers`` on,
sent back as NOTICEs; the printout then adds PostgreSQL's own time per statement and the trigger
lines (foreign-key checks) of the last batch. ANALYZE's timing inflates those times: read them as
shares. ``--ranges N``: each statement's ms per batch in N consecutive ranges of the batches, in
order (a statement whose cost grows with the book shows it: ``--scenario rest`` deepens it by
``--batch`` orders a batch); with ``--explain``, PostgreSQL's own time too. ``--json FILE`` writes
the figures. ``--server-hooks``: the commit path ``predictql serve`` runs (``stream_log.sequence``
numbering and storing the messages, a memory bus publishing them after the commit) and its
garbage-collector settings (``gc.freeze()`` after the warm-up, a young-generation threshold of
10,000), which the default leaves out.
``--smoke`` (CI, PostgreSQL): 2 batches of 4, explained, with
the ``statement-check`` prototype; exits non-zero when no batch or ledger statement was timed or explained,
or the ledger does not balance.

Any checkout runs it (``PYTHONPATH=<checkout>/src``): it only calls ``order_writes.place``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_orders_http import seed
from harness import bench_database, ledger_balanced

_SPACE = re.compile(r"\s+")

_ENTRY_FKS = (
    "ALTER TABLE ledger_entries DROP CONSTRAINT fk_ledger_entries_account_id_ledger_accounts",
    "ALTER TABLE ledger_entries DROP CONSTRAINT fk_ledger_entries_transaction_id_ledger_transactions",
)
_TXN_FK = "ALTER TABLE ledger_transactions DROP CONSTRAINT fk_ledger_transactions_user_id_users"
_FKS = (
    ("ledger_entries", "fk_ledger_entries_account_id_ledger_accounts"),
    ("ledger_entries", "fk_ledger_entries_transaction_id_ledger_transactions"),
    ("ledger_transactions", "fk_ledger_transactions_user_id_users"),
)
# Prototypes applied to the throw-away bench database after seeding (``--schema``), never migrations.
SCHEMAS: dict[str, tuple[str, ...]] = {
    "main": (),
    # ceilings: what the foreign-key checks cost (integrity weakened: measured, not proposed)
    "no-entry-fks": _ENTRY_FKS,
    "no-ledger-fks": (*_ENTRY_FKS, _TXN_FK),
    # the same checks at commit (per row still)
    "deferred-fks": tuple(
        f"ALTER TABLE {table} ALTER CONSTRAINT {name} DEFERRABLE INITIALLY DEFERRED" for table, name in _FKS
    ),
    # the entries' two row-level checks as ONE set check per statement, ledger rows never deleted
    "statement-check": (
        *_ENTRY_FKS,
        "CREATE FUNCTION ledger_entries_refer() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF EXISTS (SELECT 1 FROM new_rows n WHERE NOT EXISTS"
        " (SELECT 1 FROM ledger_accounts a WHERE a.id = n.account_id))"
        " OR EXISTS (SELECT 1 FROM new_rows n WHERE NOT EXISTS"
        " (SELECT 1 FROM ledger_transactions t WHERE t.id = n.transaction_id)) THEN"
        " RAISE foreign_key_violation USING MESSAGE = 'ledger entry without its account or transaction';"
        " END IF; RETURN NULL; END $$",
        "CREATE TRIGGER ledger_entries_refer AFTER INSERT ON ledger_entries REFERENCING NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_refer()",
        "CREATE FUNCTION ledger_kept() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " RAISE restrict_violation USING MESSAGE = 'ledger rows are never deleted'; END $$",
        "CREATE TRIGGER ledger_accounts_kept BEFORE DELETE OR TRUNCATE ON ledger_accounts"
        " FOR EACH STATEMENT EXECUTE FUNCTION ledger_kept()",
        "CREATE TRIGGER ledger_transactions_kept BEFORE DELETE OR TRUNCATE ON ledger_transactions"
        " FOR EACH STATEMENT EXECUTE FUNCTION ledger_kept()",
    ),
    # fewer index updates: the low-selectivity index on ledger_transactions.kind
    "no-kind-index": ("DROP INDEX ix_ledger_transactions_kind",),
}


def label(statement: str) -> str:
    """A short name for a statement's text (whitespace collapsed, its first 90 characters)."""
    return _SPACE.sub(" ", statement).strip()[:90]


class Batch:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.wall = 0.0
        self.size = 0
        self.parts: dict[str, list[float]] = defaultdict(list)  # label -> ms of each
        self.rows: dict[str, int] = defaultdict(int)
        self.notices: list[str] = []


async def measure(
    url: str,
    *,
    batch: int,
    batches: int,
    explain: bool,
    crossing: bool,
    schema: str = "main",
    ranges: int = 0,
    server_hooks: bool = False,
) -> dict[str, Any]:
    from sqlalchemy import event, text
    from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
    from sqlmodel import select

    from predictql.auth import Actor
    from predictql.db import Database, make_engine
    from predictql.models import User
    from predictql.services import live, order_writes
    from predictql.services.market_writer import MarketWriter
    from predictql.services.orderbook_trading import OrderRequest

    _, (rest_market, cross_market) = await seed(url, Path(tempfile.mkdtemp(prefix="predictql-bench-data-")))
    market_id = cross_market if crossing else rest_market
    engine = make_engine(url)
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        for ddl in SCHEMAS[schema]:
            await conn.execute(text(ddl))
        if explain:
            name = url.rsplit("/", 1)[1]
            for setting, value in (
                ("session_preload_libraries", "auto_explain"),
                ("auto_explain.log_min_duration", "0"),
                ("auto_explain.log_analyze", "on"),
                ("auto_explain.log_buffers", "on"),
                ("auto_explain.log_triggers", "on"),
                ("auto_explain.log_wal", "on"),
                ("auto_explain.log_level", "notice"),
            ):
                await conn.execute(text(f"ALTER DATABASE \"{name}\" SET {setting} = '{value}'"))
    await engine.dispose()
    bus = None
    if server_hooks:  # what ``app`` adds: a memory bus publishing after the commit, the stream log
        from predictql.subscriptions import stream_log
        from predictql.subscriptions.bus import Bus

        bus = Bus("memory://")
        await bus.connect()
    db = Database(make_engine(url), publisher=bus)
    db.commit_hooks.append(live.final_states(200))
    if server_hooks:
        db.commit_hooks.append(stream_log.sequence)
    current: list[Batch] = []
    done: list[Batch] = []
    if explain:

        def on_notice(_conn: Any, message: Any) -> None:
            if current:
                current[-1].notices.append(str(message.message))

        event.listen(
            db.engine.sync_engine, "connect", lambda dbapi, _: dbapi.driver_connection.add_log_listener(on_notice)
        )

    async with db.session() as session:
        users = [u.id or 0 for u in await session.scalars(select(User).where(User.is_creator.is_(False)))]  # type: ignore[attr-defined]

    def note(part: str, ms: float, rows: int = 0) -> None:
        if current:
            current[-1].parts[part].append(ms)
            if rows > 0:
                current[-1].rows[part] += rows

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["pq_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        note(label(statement), (time.perf_counter() - conn.info.pop("pq_started")) * 1000, cursor.rowcount)

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    event.listen(db.engine.sync_engine, "after_cursor_execute", after)

    adapted = pg_asyncpg.AsyncAdapt_asyncpg_connection
    start_transaction, commit = adapted._start_transaction, adapted.commit

    async def timed_start(self: Any) -> None:
        started = time.perf_counter()
        await start_transaction(self)
        if self.isolation_level != "autocommit":
            note("BEGIN", (time.perf_counter() - started) * 1000)

    def timed_commit(self: Any) -> None:
        started = time.perf_counter()
        commit(self)
        note("COMMIT", (time.perf_counter() - started) * 1000)

    adapted._start_transaction = timed_start  # type: ignore[method-assign]
    adapted.commit = timed_commit  # type: ignore[method-assign]

    writer = MarketWriter(db)
    execute = writer._execute

    async def timed_execute(market: int, pending: list[Any], *args: Any, **kwargs: Any) -> Any:
        current.append(Batch())  # the batch's serial time: what the next batch waits for
        try:
            return await execute(market, pending, *args, **kwargs)
        finally:
            one = current.pop()
            one.wall = (time.perf_counter() - one.started) * 1000
            one.size = len(pending)
            done.append(one)

    writer._execute = timed_execute  # type: ignore[method-assign]

    def request(n: int) -> OrderRequest:
        token = "YES" if n % 2 == 0 else "NO"
        price = 5000 if crossing else 1000 + (n % 30) * 100
        amount = 1020 * (1 + n % 3) if crossing else 1020
        return OrderRequest(market_id, "buy", token, "limit", amount, price)

    async def place(n: int) -> None:
        await order_writes.place(writer, Actor(user_id=users[n % len(users)]), request(n), fee_bps=200)

    for warm in range(3):  # statement caches, escrow accounts, a few resting orders
        await asyncio.gather(*(place(n) for n in range(warm * batch, (warm + 1) * batch)))
    if server_hooks:  # the server's collector settings too (``app``: frozen start-up objects)
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, *gc.get_threshold()[1:])
    done.clear()
    cpu, started = time.process_time(), time.perf_counter()
    for start in range(0, batches * batch, batch):
        await asyncio.gather(*(place(n) for n in range(start, start + batch)))
    cpu_ms = (time.process_time() - cpu) * 1000
    # Each round of ``batch`` callers waits for the one before (a closed loop, as wrk's connections):
    # its time is the whole cycle, what the batch's callers wait for included.
    cycle = {"cycle_ms_mean": round((time.perf_counter() - started) * 1000 / max(1, batches), 2)}
    await db.dispose()
    if bus is not None:
        await bus.disconnect()
    out = {"schema": schema, "server_hooks": server_hooks} | summarize(done, cpu_ms, explain) | cycle
    if ranges:
        out["by_range"] = by_range(done, ranges, explain)
    return out | {"ledger_balanced": await ledger_balanced(url)}


EDGE = 10  # batches averaged at each end of the run for ``first_ms``/``last_ms``
_DURATION = re.compile(r"duration: ([\d.]+) ms")
_QUERY = re.compile(r"Query Text: (.*?)(?:\n\S|\Z)", re.S)


def _server_ms(batch: Batch) -> dict[str, float]:
    """PostgreSQL's own ms per statement label in one explained batch (auto_explain notices)."""
    seen: dict[str, float] = defaultdict(float)
    for notice in batch.notices:
        duration = _DURATION.search(notice)
        query = _QUERY.search(notice)
        if duration and query:
            seen[label(query.group(1))] += float(duration.group(1))
    return seen


def by_range(done: list[Batch], ranges: int, explain: bool, top: int = 10) -> list[dict[str, Any]]:
    """The batch's wall time, then the ``top`` statements by total time: mean ms per batch (client
    side and, explained, PostgreSQL's) in each of ``ranges`` consecutive equal ranges of the batches."""
    big = [b for b in done if b.size >= 2]
    chunks = [big[i * len(big) // ranges : (i + 1) * len(big) // ranges] for i in range(ranges)]
    totals: dict[str, float] = defaultdict(float)
    for b in big:
        for part, times in b.parts.items():
            totals[part] += sum(times)
    rows: list[dict[str, Any]] = [
        {
            "statement": "(the batch's wall time)",
            "ms": [round(statistics.fmean(b.wall for b in c), 3) if c else 0 for c in chunks],
        }
    ]
    for part in sorted(totals, key=lambda p: -totals[p])[:top]:
        row: dict[str, Any] = {"statement": part}
        row["ms"] = [round(statistics.fmean(sum(b.parts.get(part, [])) for b in c), 3) if c else 0 for c in chunks]
        if explain:
            row["server_ms"] = [
                round(statistics.fmean(_server_ms(b).get(part, 0.0) for b in c), 3) if c else 0 for c in chunks
            ]
        rows.append(row)
    return rows


def summarize(done: list[Batch], cpu_ms: float, explain: bool) -> dict[str, Any]:
    big = [b for b in done if b.size >= 2]
    walls = [b.wall for b in big]
    per_batch: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    rows: dict[str, int] = defaultdict(int)
    for b in big:
        for part, times in b.parts.items():
            per_batch[part].append(sum(times))
            counts[part] += len(times)
            rows[part] += b.rows.get(part, 0)
    n = len(big) or 1
    wall = statistics.fmean(walls) if walls else 0.0
    table = []
    edge = max(1, min(EDGE, len(big) // 2))  # how a statement's time moves as the run grows the book
    for part in sorted(per_batch, key=lambda p: -sum(per_batch[p])):
        ms = sum(per_batch[part]) / n
        first, last = ([sum(b.parts.get(part, ())) for b in edges] for edges in (big[:edge], big[-edge:]))
        table.append(
            {
                "statement": part,
                "per_batch": round(counts[part] / n, 2),
                "rows_per_batch": round(rows[part] / n, 1),
                "ms_per_batch": round(ms, 3),
                "share": round(ms / wall, 3) if wall else 0,
                "first_ms": round(statistics.fmean(first), 3),
                "last_ms": round(statistics.fmean(last), 3),
            }
        )
    sql_ms = sum(row["ms_per_batch"] for row in table)
    out: dict[str, Any] = {
        "batches": len(done),
        "batches_of_2_or_more": len(big),
        "mean_size": round(statistics.fmean(b.size for b in big), 1) if big else 0,
        "wall_ms_mean": round(wall, 2),
        "wall_ms_median": round(statistics.median(walls), 2) if walls else 0,
        "statements_and_commit_ms": round(sql_ms, 2),
        "rest_ms": round(wall - sql_ms, 2),
        "cpu_ms_per_order": round(cpu_ms / max(1, sum(b.size for b in done)), 3),
        "table": table,
    }
    if explain:
        server: dict[str, list[float]] = defaultdict(list)
        for b in big:
            for key, ms in _server_ms(b).items():
                server[key].append(ms)
        out["server_ms_per_batch"] = sorted(
            ({"statement": k, "ms": round(sum(v) / n, 3)} for k, v in server.items()), key=lambda r: -r["ms"]
        )
        out["last_batch_plans"] = big[-1].notices if big else []
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--scenario", choices=["cross", "rest"], default="cross")
    parser.add_argument("--explain", action="store_true", help="auto_explain ANALYZE of every statement")
    parser.add_argument("--schema", choices=sorted(SCHEMAS), default="main", help="a prototype applied after seeding")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--ranges", type=int, default=0, help="ms per batch in N consecutive ranges of the batches")
    parser.add_argument(
        "--server-hooks",
        action="store_true",
        help="the server's commit path (stream-log numbering, a memory bus) and GC settings",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="CI: 2 batches of 4 with --explain and statement-check; fails when empty"
    )
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.batches, args.explain, args.schema = 4, 2, True, "statement-check"
    with bench_database("postgresql") as url:
        out = asyncio.run(
            measure(
                url,
                batch=args.batch,
                batches=args.batches,
                explain=args.explain,
                crossing=args.scenario == "cross",
                schema=args.schema,
                ranges=args.ranges,
                server_hooks=args.server_hooks,
            )
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    plans = out.pop("last_batch_plans", [])
    table = out.pop("table")
    server = out.pop("server_ms_per_batch", [])
    ranged = out.pop("by_range", [])
    print(json.dumps(out))
    head = f"{'per batch':>9} {'rows':>7} {'ms':>8} {'share':>6} {'first':>6} {'last':>6}"
    print(f"{head}  statement (first, last: mean ms of the first and last {EDGE} batches)")
    for row in table:
        figures = f"{row['per_batch']:>9} {row['rows_per_batch']:>7} {row['ms_per_batch']:>8.2f} {row['share']:>6.1%}"
        figures += f" {row['first_ms']:>6.2f} {row['last_ms']:>6.2f}"
        print(f"{figures}  {row['statement']}")
    if ranged:
        print(f"\nms per batch in {args.ranges} consecutive ranges of the batches (client; PostgreSQL's own):")
        for row in ranged:
            print("  " + " ".join(f"{ms:>7.2f}" for ms in row["ms"]) + f"  {row['statement']}")
            if "server_ms" in row:
                print("  " + " ".join(f"{ms:>7.2f}" for ms in row["server_ms"]) + "  (PostgreSQL)")
    if server:
        print("\nPostgreSQL's own time (auto_explain ANALYZE), ms per batch:")
        for row in server:
            print(f"{row['ms']:>8.2f}  {row['statement']}")
        print("\nThe last batch: each statement's time, text, WAL and trigger lines:")
        for plan in plans:
            lines = plan.splitlines()
            wal = [line for line in lines if line.strip().startswith("WAL:")][:1]  # the top node's
            for line in [*lines[:2], *wal, *(line for line in lines if "Trigger" in line)]:
                print("  " + line.strip()[:160])
    if args.smoke:
        ledger = [row for row in table if row["statement"].startswith("WITH moved AS")]
        if not (out["batches_of_2_or_more"] and ledger and server and out["ledger_balanced"]):
            sys.exit(f"smoke run failed: {out}, ledger statement timed: {bool(ledger)}, explained: {bool(server)}")
        print("smoke passed")


if __name__ == "__main__":
    main()
