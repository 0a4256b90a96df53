"""Throughput and latency of ``predictql.pricing.orderbook.Book`` on a deep book.

Run: ``PYTHONPATH=src python bench/bench_engine.py [N] [--smoke]`` (default N = 200000 operations;
``--smoke``, CI: N = 2000, and exits non-zero unless orders matched and the book still rests orders).

1. Build a deep book: 10,000 resting orders over ~4,000 price levels (YES/NO, buy/sell mixed).
2. Replay N pre-generated operations, timing each call with ``time.perf_counter_ns``:
   53 % passive GTC/GTD limit adds (5 % GTD), 32 % cancels of earlier passive orders (some of
   them filled meanwhile: ORDER_NOT_FOUND, counted too), 12 % aggressive IOC limits walking one
   or more makers, 1.5 % market orders, 1.5 % FOK.  Users are random, so some self-trades occur.
3. Replay the same operations into a trivial baseline (append a tuple to a dict of lists, pop
   on cancel) so that ``engine/baseline ratio`` shows the engine's cost over bare call overhead.
Prints a human summary and, last, one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Literal

from predictql.pricing.orderbook import Book, MatchError, NewOrder, Side, TimeInForce, Token

Op = tuple[Literal["submit"], NewOrder] | tuple[Literal["cancel"], int]
SEED_ORDERS = 10_000
USERS = 2_000


def _order(rng: random.Random, oid: int, yes_price: int, bid: bool, size: int, tif: TimeInForce, now: int) -> NewOrder:
    """A limit order with the given YES-space interest, as a YES or a NO order at random."""
    token: Token = "YES" if rng.random() < 0.5 else "NO"
    side: Side = "buy" if bid == (token == "YES") else "sell"
    price = yes_price if token == "YES" else 10_000 - yes_price
    amount = size * price // 10_000 + 2 if side == "buy" else size  # budget buys ~size units
    expires = now + rng.randint(50, 50_000) if tif == "GTD" else None
    coid = f"c{oid}" if rng.random() < 0.3 else None
    user = rng.randint(1, USERS)
    return NewOrder(oid, user, side, token, "limit", price, amount, tif, expires, coid)


def _passive(rng: random.Random, oid: int, now: int) -> NewOrder:
    bid = rng.random() < 0.5
    price = rng.randint(3_000, 4_999) if bid else rng.randint(5_001, 7_000)
    tif: TimeInForce = "GTD" if rng.random() < 0.05 else "GTC"
    return _order(rng, oid, price, bid, rng.randint(1_000, 100_000), tif, now)


def make_ops(n: int, seed: int = 7) -> tuple[list[NewOrder], list[Op]]:
    rng = random.Random(seed)
    seed_orders = [_passive(rng, i, 0) for i in range(1, SEED_ORDERS + 1)]
    passive_ids = list(range(1, SEED_ORDERS + 1))  # cancel candidates (some are filled by then)
    ops: list[Op] = []
    oid = SEED_ORDERS
    for now in range(1, n + 1):
        r = rng.random()
        oid += 1
        if r < 0.32 and passive_ids:
            k = rng.randrange(len(passive_ids))
            passive_ids[k], passive_ids[-1] = passive_ids[-1], passive_ids[k]
            ops.append(("cancel", passive_ids.pop()))
        elif r < 0.85:
            ops.append(("submit", _passive(rng, oid, now)))
            passive_ids.append(oid)
        elif r < 0.97:
            ops.append(("submit", _aggressive(rng, oid, "IOC", 300_000)))
        elif r < 0.985:
            side: Side = "buy" if rng.random() < 0.5 else "sell"
            token: Token = "YES" if rng.random() < 0.5 else "NO"
            amount = rng.randint(1_000, 30_000) if side == "buy" else rng.randint(2_000, 50_000)
            user = rng.randint(1, USERS)
            ops.append(("submit", NewOrder(oid, user, side, token, "market", None, amount, "IOC")))
        else:
            ops.append(("submit", _aggressive(rng, oid, "FOK", 150_000)))
    return seed_orders, ops


def _aggressive(rng: random.Random, oid: int, tif: TimeInForce, max_size: int) -> NewOrder:
    bid = rng.random() < 0.5
    price = rng.randint(5_050, 5_300) if bid else rng.randint(4_700, 4_950)
    return _order(rng, oid, price, bid, rng.randint(1_000, max_size), tif, 0)


class Baseline:
    """No matching: orders appended to per-price lists, cancels popped from a dict."""

    def __init__(self) -> None:
        self.levels: dict[int, list[tuple[int, int, int]]] = {}
        self.by_id: dict[int, int] = {}

    def submit(self, o: NewOrder, now: int) -> int:
        price = o.price or 0
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = []
        level.append((o.id, o.user_id, o.amount))
        self.by_id[o.id] = price
        return now

    def cancel(self, order_id: int) -> int | None:
        return self.by_id.pop(order_id, None)


def run(submit: Callable[[NewOrder, int], object], cancel: Callable[[int], object], ops: list[Op]) -> list[int]:
    clock = time.perf_counter_ns
    lat = [0] * len(ops)
    gc.collect()  # start each run with the same clean heap; GC stays on while timing
    for i, (what, arg) in enumerate(ops):
        if what == "submit":
            assert isinstance(arg, NewOrder)
            t0 = clock()
            submit(arg, i + 1)
            lat[i] = clock() - t0
        else:
            assert isinstance(arg, int)
            t0 = clock()
            try:
                cancel(arg)
            except MatchError:  # ORDER_NOT_FOUND: filled meanwhile
                lat[i] = clock() - t0
                continue
            lat[i] = clock() - t0
    return lat


def pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=200_000, help="operations replayed")
    parser.add_argument("--smoke", action="store_true", help="CI: 2,000 operations; fails unless orders matched")
    args = parser.parse_args()
    n = 2_000 if args.smoke else args.n
    seed_orders, ops = make_ops(n)
    book = Book(1, 200)
    for o in seed_orders:
        book.submit(o, 0)
    depth_before = len(book)
    fills = 0

    def submit(o: NewOrder, now: int) -> object:
        nonlocal fills
        result = book.submit(o, now)
        fills += len(result.fills)
        return result

    t0 = time.perf_counter()
    lat = run(submit, book.cancel, ops)
    engine_s = time.perf_counter() - t0
    base = Baseline()
    for o in seed_orders:
        base.submit(o, 0)
    t0 = time.perf_counter()
    base_lat = run(base.submit, base.cancel, ops)
    base_s = time.perf_counter() - t0

    submits = sorted(x for x, op in zip(lat, ops, strict=True) if op[0] == "submit")
    all_sorted, base_sorted = sorted(lat), sorted(base_lat)
    engine_busy, base_busy = sum(lat) / 1e9, sum(base_lat) / 1e9
    figures = {
        "ops": n,
        "seed_orders": SEED_ORDERS,
        "resting_before": depth_before,
        "resting_after": len(book),
        "fills": fills,
        "engine_ops_per_s": round(n / engine_busy),
        "engine_submits_per_s": round(len(submits) / (sum(submits) / 1e9)),
        "engine_loop_ops_per_s": round(n / engine_s),
        "engine_p50_us": pct(all_sorted, 0.50),
        "engine_p99_us": pct(all_sorted, 0.99),
        "engine_submit_p50_us": pct(submits, 0.50),
        "engine_submit_p99_us": pct(submits, 0.99),
        "baseline_ops_per_s": round(n / base_busy),
        "baseline_p50_us": pct(base_sorted, 0.50),
        "baseline_p99_us": pct(base_sorted, 0.99),
        "engine_baseline_ratio": round(engine_busy / base_busy, 2),
        "wall_s": round(engine_s + base_s, 2),
    }
    print(f"deep book: {depth_before} resting orders -> {len(book)} after {n} ops, {fills} fills")
    print(
        f"engine:   {figures['engine_ops_per_s']:>9,} ops/s (timed calls), "
        f"submits {figures['engine_submits_per_s']:,}/s, "
        f"p50 {figures['engine_p50_us']:.2f} us, p99 {figures['engine_p99_us']:.2f} us"
    )
    print(
        f"baseline: {figures['baseline_ops_per_s']:>9,} ops/s, "
        f"p50 {figures['baseline_p50_us']:.2f} us, p99 {figures['baseline_p99_us']:.2f} us"
    )
    print(f"engine/baseline ratio: {figures['engine_baseline_ratio']}")
    print(json.dumps(figures))
    if args.smoke:
        if not fills or not len(book):
            sys.exit(f"smoke run failed: {fills} fills, {len(book)} resting orders")
        print("smoke passed")


if __name__ == "__main__":
    main()
