"""Where an LMSR trade's time goes through the market writer (no HTTP), and batches vs one by one.

    python bench/profile_writer.py [--db postgresql|sqlite] [--batch 64] [--rounds 20] [--asdict] [--relay]
                                   [--profile F]

Seeds one market and ``--batch`` funded traders (bench_http's seed), then runs ``--rounds`` batches
of ``--batch`` concurrent trades through one ``MarketWriter`` (each batch one transaction), and the
same number of trades one at a time (a batch of one each), with the app's commit hooks. Prints the
trades/s and the process's CPU ms per trade of both (the CPU figure hardly moves with the load of
a shared machine) and, on a PostgreSQL server of this machine, its backends' CPU ms per trade
(``/proc``: the database's share of the 2 cores), then profiles a third, batched run and writes its
cProfile (top functions by cumulative time) to ``--profile`` (default
bench/results/writer-profile.txt). ``--asdict``: the stream payloads encode as they did before
(``dumps_str(dataclasses.asdict(payload))``), the baseline of the same checkout. ``--smoke`` (CI):
batches of 4, 2 rounds, the profile printed (5 lines) instead of written; exits non-zero unless
every trade was recorded and the ledger balances.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import seed
from harness import BENCH, bench_database, ledger_balanced


async def run(url: str, batch: int, rounds: int, top: int, relay: bool = False) -> tuple[Figures, str]:
    from sqlalchemy import func
    from sqlmodel import col, select

    from predictql.auth import Actor
    from predictql.db import Database, make_engine
    from predictql.models import Trade, User
    from predictql.services import live, lmsr_batch
    from predictql.services.lmsr_trading import TradeRequest
    from predictql.services.market_writer import MarketWriter
    from predictql.subscriptions import stream_log

    fee_bps = 200
    db = Database(make_engine(url, pool_size=4))
    db.commit_hooks.append(live.final_states(fee_bps))
    db.commit_hooks.append(stream_log.sequence)
    async with db.session() as session:
        ids = list(await session.scalars(select(User.id).where(col(User.email).like("trader%")).order_by(col(User.id))))
    _, market_id = SEEDED
    writer = MarketWriter(db)

    def item(index: int) -> lmsr_batch.TradeItem:
        side = "buy_yes" if index % 2 else "buy_no"
        request = TradeRequest(market_id, side, "spend", 1000)
        return lmsr_batch.TradeItem(Actor(user_id=ids[index % len(ids)]), request, fee_bps)

    async def batched() -> None:
        for _ in range(rounds):
            await asyncio.gather(*(writer.run(market_id, item(i)) for i in range(batch)))

    async def alone() -> None:
        for index in range(batch * rounds):
            await writer.run(market_id, item(index))

    await batched()  # warm up: compiled statement caches, positions exist
    backends = await _backends(db)
    trades = batch * rounds
    batched_rate, batched_cpu, batched_pg = await _timed(batched, trades, backends)
    single_rate, single_cpu, single_pg = await _timed(alone, trades, backends)
    relayed = await _relayed(db, market_id, item, batched, batch, rounds, backends) if relay else None
    profile = cProfile.Profile()  # a run of its own: the profiler's overhead stays out of the figures
    profile.enable()
    await batched()
    profile.disable()
    async with db.session() as session:
        recorded = int(await session.scalar(select(func.count()).select_from(Trade)) or 0)
    await db.dispose()
    # warm-up, batched, one by one, profiled; --relay: a relayed warm-up, 2 x (local, relayed)
    made = (4 + (5 if relay else 0)) * trades
    if recorded != made:
        raise SystemExit(f"{recorded} trades recorded, {made} made")
    if not await ledger_balanced(url):
        raise SystemExit("the ledger does not balance")
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(top)
    figures = Figures(batched_rate, batched_cpu, single_rate, single_cpu, batched_pg, single_pg, relayed)
    return figures, text.getvalue()


@dataclass(frozen=True, slots=True)
class Relayed:
    local_cpu: float  # this process's CPU ms per trade, batches run by the owner's writer itself
    relayed_cpu: float  # the same batches sent by another writer to the owner (both ends in process)
    pickle_us: float  # of which pickling and unpickling, microseconds per relayed item (both ends)
    owner_batches: int  # the owner's batch transactions for the relayed trades
    sent: int


async def _relayed(
    db: Any,
    market_id: int,
    item: Callable[[int], Any],
    batched: Callable[[], Awaitable[None]],
    batch: int,
    rounds: int,
    backends: list[int],
) -> Relayed:
    """Two rounds each, alternated: ``batched`` on the owner, then the same sent from the other."""
    import shutil

    from predictql.services.market_writer import MarketWriter
    from predictql.services.writer_relay import Relay

    directory = Path(tempfile.mkdtemp(prefix="pq-relay-"))
    writers = [MarketWriter(db), MarketWriter(db)]
    for writer in writers:
        writer.relay = Relay(directory, 2, writer.submit)
        await writer.relay.start()
    owner, other = writers[market_id % 2], writers[1 - market_id % 2]
    assert owner.relay is not None and other.relay is not None

    async def sent() -> None:
        for _ in range(rounds):
            await asyncio.gather(*(other.run(market_id, item(i)) for i in range(batch)))

    await sent()  # warm up: the connection, the owner's task
    trades = batch * rounds
    local: list[float] = []
    relayed: list[float] = []
    pickled, batches = 0.0, 0
    try:
        for _ in range(2):
            local.append((await _timed(batched, trades, backends))[1])
            before, owned = other.relay.counts.pickle_seconds + owner.relay.counts.pickle_seconds, owner.batches
            relayed.append((await _timed(sent, trades, backends))[1])
            pickled += other.relay.counts.pickle_seconds + owner.relay.counts.pickle_seconds - before
            batches += owner.batches - owned
    finally:
        for writer in writers:
            assert writer.relay is not None
            await writer.relay.aclose()
            await writer.aclose()
        shutil.rmtree(directory, ignore_errors=True)
    if other.relay.counts.local or other.relay.counts.lost or other.batches:
        raise SystemExit(f"the relay ran items elsewhere than the owner: {other.relay.counts}")
    return Relayed(sum(local) / 2, sum(relayed) / 2, pickled * 1e6 / (2 * trades), batches, other.relay.counts.sent)


@dataclass(frozen=True, slots=True)
class Figures:
    batched_rate: float  # trades/s
    batched_cpu: float  # this process's CPU ms per trade (client side included: it is in process)
    single_rate: float
    single_cpu: float
    batched_pg: float | None = None  # the PostgreSQL backends' CPU ms per trade (None: not readable)
    single_pg: float | None = None
    relayed: Relayed | None = None  # --relay


async def _backends(db: Any) -> list[int]:
    """The pids of the PostgreSQL backends serving this database (the pool's connections), when
    the server runs on this machine; empty on SQLite."""
    if db.engine.dialect.name != "postgresql":
        return []
    from sqlalchemy import text

    async with db.session() as session:
        pids = list(await session.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")))
    return [int(pid) for pid in pids]


def _backend_seconds(pids: list[int]) -> float | None:
    """User + system CPU seconds of ``pids`` so far (/proc), None when one cannot be read."""
    total = 0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    except OSError:
        return None
    return total / os.sysconf("SC_CLK_TCK")


async def _timed(
    run: Callable[[], Awaitable[None]], trades: int, backends: list[int]
) -> tuple[float, float, float | None]:
    """(trades/s, this process's CPU ms per trade, the PostgreSQL backends' CPU ms per trade) of ``run``."""
    started, cpu, pg = time.perf_counter(), time.process_time(), _backend_seconds(backends) if backends else None
    await run()
    rate, ms = trades / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / trades
    after = _backend_seconds(backends) if pg is not None else None
    return rate, ms, None if pg is None or after is None else (after - pg) * 1000 / trades


SEEDED: tuple[list[str], int] = ([], 0)


def use_asdict_encoding() -> None:
    """Every payload class's ``to_json`` as it was before ``payloads._encode``."""
    import dataclasses

    from predictql.jsonutil import dumps_str
    from predictql.subscriptions import payloads

    def to_json(payload: object) -> str:
        return dumps_str(dataclasses.asdict(payload))  # type: ignore[call-overload]

    for value in vars(payloads).values():
        if isinstance(value, type) and dataclasses.is_dataclass(value) and "to_json" in vars(value):
            value.to_json = to_json  # type: ignore[attr-defined]


def main() -> None:
    global SEEDED
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--asdict", action="store_true", help="old payload encoding (baseline)")
    parser.add_argument(
        "--profile", default=str(BENCH / "results" / "writer-profile.txt"), help="where the profile goes"
    )
    parser.add_argument("--relay", action="store_true", help="also batches relayed to the owner (market affinity)")
    parser.add_argument("--smoke", action="store_true", help="CI: batches of 4, 2 rounds, nothing written")
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.rounds, args.relay = 4, 2, True
    if args.asdict:
        use_asdict_encoding()
    with bench_database(args.db) as url:
        SEEDED = asyncio.run(seed(url, Path(tempfile.mkdtemp(prefix="predictql-bench-data-")), users=args.batch))
        figures, profile = asyncio.run(run(url, args.batch, args.rounds, 5 if args.smoke else 45, args.relay))
    print(
        f"batches of {args.batch}: {figures.batched_rate:.0f} trades/s, {figures.batched_cpu:.2f} CPU ms/trade; "
        f"one at a time: {figures.single_rate:.0f} trades/s, {figures.single_cpu:.2f} CPU ms/trade"
    )
    if figures.batched_pg is not None and figures.single_pg is not None:
        print(
            f"PostgreSQL backends: {figures.batched_pg:.3f} CPU ms/trade batched, {figures.single_pg:.3f} one at a time"
        )
    if (relayed := figures.relayed) is not None:
        print(
            f"relayed to the owner (market affinity, both ends in this process): {relayed.relayed_cpu:.3f} CPU "
            f"ms/trade against {relayed.local_cpu:.3f} run by the owner itself "
            f"(+{relayed.relayed_cpu - relayed.local_cpu:.3f}); pickling {relayed.pickle_us:.1f} us/item; the owner's "
            f"batches: {relayed.owner_batches} for {2 * args.batch * args.rounds} relayed trades ({args.rounds * 2} "
            f"locally); {relayed.sent} sent in all"
        )
    if args.smoke:
        print(profile)
        print("smoke passed")
        return
    out = Path(args.profile)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(profile)
    print(f"x{figures.batched_rate / figures.single_rate:.1f}; profile of a third, batched run: {out}")


if __name__ == "__main__":
    main()
