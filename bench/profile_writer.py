"""Where an LMSR trade's time goes through the market writer (no HTTP), and batches vs one by one.

    python bench/profile_writer.py [--db postgresql|sqlite] [--batch 64] [--rounds 20] [--asdict]

Seeds one market and ``--batch`` funded traders (bench_http's seed), then runs ``--rounds`` batches
of ``--batch`` concurrent trades through one ``MarketWriter`` (each batch one transaction), and the
same number of trades one at a time (a batch of one each), with the app's commit hooks. Prints the
trades/s of both and writes the cProfile of the batched run (top functions by cumulative time) to
bench/results/writer-profile.txt. ``--asdict``: the stream payloads encode as they did before
(``dumps_str(dataclasses.asdict(payload))``), the baseline of the same checkout. ``--smoke`` (CI):
batches of 4, 2 rounds, the profile printed (5 lines) instead of written; exits non-zero unless
every trade was recorded and the ledger balances.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import seed
from harness import BENCH, bench_database, ledger_balanced


async def run(url: str, batch: int, rounds: int, top: int) -> tuple[float, float, str]:
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

    await batched()  # warm up: compiled statement caches, positions exist
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    await batched()
    profile.disable()
    batched_rate = batch * rounds / (time.perf_counter() - started)
    started = time.perf_counter()
    for index in range(batch * rounds):
        await writer.run(market_id, item(index))
    single_rate = batch * rounds / (time.perf_counter() - started)
    async with db.session() as session:
        trades = int(await session.scalar(select(func.count()).select_from(Trade)) or 0)
    await db.dispose()
    if trades != 3 * batch * rounds:  # the warm-up, the batched run, one by one
        raise SystemExit(f"{trades} trades recorded, {3 * batch * rounds} made")
    if not await ledger_balanced(url):
        raise SystemExit("the ledger does not balance")
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(top)
    return batched_rate, single_rate, text.getvalue()


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
    parser.add_argument("--smoke", action="store_true", help="CI: batches of 4, 2 rounds, nothing written")
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.rounds = 4, 2
    if args.asdict:
        use_asdict_encoding()
    with bench_database(args.db) as url:
        SEEDED = asyncio.run(seed(url, Path(tempfile.mkdtemp(prefix="predictql-bench-data-")), users=args.batch))
        batched, single, profile = asyncio.run(run(url, args.batch, args.rounds, 5 if args.smoke else 45))
    print(f"batches of {args.batch}: {batched:.0f} trades/s; one at a time: {single:.0f} trades/s")
    if args.smoke:
        print(profile)
        print("smoke passed")
        return
    out = BENCH / "results" / "writer-profile.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(profile)
    print(f"x{batched / single:.1f}; profile of the batched run: {out}")


if __name__ == "__main__":
    main()
