"""The crossing window a batch reads (``orderbook_batch._windows``): the best open orders of each side
in price-time priority, read from ``ix_orders_book`` so that it costs rows in proportion to the
window, not to the depth of the book (migration 0016)."""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql

from predictql.db import Database, utcnow
from predictql.models import Market, Order
from predictql.models.orders import BOOK_KEY, BOOK_SIDE, OPEN_STATUSES
from predictql.services import orderbook_batch
from tests.conftest import BACKEND
from tests.markets.test_orderbook_services import book_market, create_user

STATUSES = ("pending", "partial", "filled", "cancelled")


def _is_bid(side: str, token: str) -> bool:
    return (side == "buy") == (token == "YES")


def _yes(token: str, price: int) -> int:
    return price if token == "YES" else 10_000 - price


async def seed(db: Database, market: Market, count: int, *, seed_no: int = 7) -> list[dict[str, Any]]:
    """``count`` orders of every side, token and status on ``market`` at few prices (so that
    priority ties on price and falls to ``seq``), some GTD an hour on; inserted as rows."""
    user = await create_user(db)
    pick = random.Random(seed_no)
    later = utcnow() + timedelta(hours=1)
    rows = []
    for seq in range(1, count + 1):
        side, token = pick.choice(("buy", "sell")), pick.choice(("YES", "NO"))
        rows.append(
            {
                "user_id": user,
                "market_id": market.id,
                "event_id": market.event_id,
                "side": side,
                "token": token,
                "kind": "limit",
                "price": pick.choice((100, 2_500, 4_000, 5_000, 6_000, 7_500, 9_900)),
                "amount": 1_000,
                "remaining": 1_000,
                "seq": seq,
                "status": pick.choice(STATUSES),
                "expires_at": later if seq % 5 == 0 else None,
            }
        )
    async with db.transaction() as session:
        await session.execute(insert(Order), rows)
        ids = (await session.execute(text("SELECT id, seq FROM orders WHERE market_id = :m"), {"m": market.id})).all()
    by_seq = {int(seq): int(i) for i, seq in ids}
    return [row | {"id": by_seq[row["seq"]]} for row in rows]


def expected(rows: list[dict[str, Any]], is_bid: bool, bound: int, window: int | None) -> list[int]:
    """The side's open orders that reach ``bound`` (YES price), best first, ``window`` of them."""
    side = [
        r
        for r in rows
        if r["status"] in OPEN_STATUSES
        and _is_bid(r["side"], r["token"]) == is_bid
        and (_yes(r["token"], r["price"]) >= bound if is_bid else _yes(r["token"], r["price"]) <= bound)
    ]
    side.sort(key=lambda r: orderbook_batch._key(is_bid, _yes(r["token"], r["price"]), r["seq"]))
    return [r["id"] for r in side[:window]]


async def test_book_side_and_key_agree_with_the_matching_engine(db: Database) -> None:
    """The SQL the index holds orders each side as the planner's ``_key`` does, on every row."""
    _, market = await book_market(db)
    rows = await seed(db, market, 200)
    async with db.session() as session:
        found = await session.execute(
            text(f"SELECT id, ({BOOK_SIDE}), ({BOOK_KEY}) FROM orders WHERE market_id = :m"), {"m": market.id}
        )
        sql = {int(i): (bool(side), int(key)) for i, side, key in found}
    for r in rows:
        is_bid = _is_bid(r["side"], r["token"])
        assert sql[r["id"]] == (is_bid, orderbook_batch._key(is_bid, _yes(r["token"], r["price"]), 0)[0]), r


async def test_window_holds_the_best_open_orders_of_each_side_in_price_time_priority(db: Database) -> None:
    _, market = await book_market(db)
    rows = await seed(db, market, 300)
    for asks_upto, bids_from, window in ((9_999, 1, 10), (5_000, 5_000, 7), (4_000, 7_500, 500), (100, 9_900, 3)):
        async with db.transaction() as session:
            known = await orderbook_batch._lock(session, market.id or 0)
            assert known is not None
            sides = [(False, asks_upto), (True, bids_from)]
            last_seq, _ = await orderbook_batch._windows(session, known, sides, window=window, with_seq=True, buyers=[])
        assert last_seq == 300
        for is_bid, bound in sides:
            want = expected(rows, is_bid, bound, window)
            got = [i for i in known.rows if _is_bid(known.rows[i].side, known.rows[i].token) == is_bid]
            assert got == want, (is_bid, bound, window)
            if len(want) == window:  # a full window: the batch may need more past its last row
                last = known.rows[want[-1]]
                assert known.tails[is_bid] == orderbook_batch._key(is_bid, orderbook_batch._yes(last), last.seq)
            else:
                assert is_bid not in known.tails
        async with db.transaction() as session:  # widened: every open order that reaches the bound
            known = await orderbook_batch._lock(session, market.id or 0)
            assert known is not None
            await orderbook_batch._windows(session, known, sides, window=None, with_seq=False, buyers=[])
        everyone = expected(rows, False, asks_upto, None) + expected(rows, True, bids_from, None)
        assert sorted(known.rows) == sorted(everyone)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def test_last_seq_is_the_markets_own(db: Database) -> None:
    """The last order number read beside the windows is the market's, or none when it has no
    orders, whatever the orders of the markets numbered below it."""
    _, lower = await book_market(db)
    _, upper = await book_market(db)
    assert (lower.id or 0) < (upper.id or 0)
    await seed(db, lower, 40)
    for market, last in ((upper, None), (lower, 40)):
        async with db.transaction() as session:
            known = await orderbook_batch._lock(session, market.id or 0)
            assert known is not None
            found, _ = await orderbook_batch._windows(session, known, [], window=8, with_seq=True, buyers=[])
        assert found == last
    await seed(db, upper, 3, seed_no=8)
    async with db.transaction() as session:
        known = await orderbook_batch._lock(session, upper.id or 0)
        assert known is not None
        assert (await orderbook_batch._windows(session, known, [], window=8, with_seq=True, buyers=[]))[0] == 3


async def _explain_postgresql(session: Any, statement: Any, params: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    """The executed plan's nodes of ``statement`` prepared and run once under ``plan_cache_mode``
    ``mode`` (a generic plan is what a prepared statement settles on after five runs)."""
    compiled = statement.compile(dialect=postgresql.dialect(paramstyle="numeric_dollar"))
    expanded = compiled.construct_expanded_state(params)
    values = expanded.positional_parameters
    literal = ", ".join(f"'{v.isoformat()}'" if hasattr(v, "isoformat") else repr(v) for v in values)
    connection = await session.connection()
    await connection.exec_driver_sql(f"SET LOCAL plan_cache_mode = {mode}")
    await connection.exec_driver_sql(f"PREPARE book_window AS {expanded.statement}")
    try:
        explain = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)"
        result = await connection.exec_driver_sql(f"{explain} EXECUTE book_window({literal})")
        plan = result.scalar_one()
    finally:
        await connection.exec_driver_sql("DEALLOCATE book_window")
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return _nodes(plan[0]["Plan"])


async def test_window_read_stops_at_the_window_however_deep_the_book(db: Database) -> None:
    """A trading batch's first load (both windows, the last seq, the orders due) on a book of 6,000
    orders: each window is a Limit over an index scan of ``ix_orders_book``, the last seq one row of
    ``uq (market_id, seq)``, the due orders a seek by expiry; no scan of orders
    reads more rows than it returns, nothing sorts or aggregates, in a custom plan and in a generic
    one (what a prepared statement settles on), with the statistics the table had and after ANALYZE
    (PostgreSQL). SQLite's plan reads both windows from ``ix_orders_book`` and nothing sorts or scans
    the table."""
    _, market = await book_market(db)
    await seed(db, market, 6_000)
    window = 16
    statement = orderbook_batch._windows_statement((False, True), True, True, False, False, True)
    params = {"market_id": market.id, "bound_0": 9_999, "bound_1": 1, "window": window, "now": utcnow()}
    async with db.transaction() as session:
        connection = await session.connection()
        if BACKEND == "sqlite":
            expanded = statement.compile(dialect=connection.dialect).construct_expanded_state(params)
            found = await connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {expanded.statement}", tuple(expanded.positional_parameters)
            )
            plan = "\n".join(str(row[-1]) for row in found)
            assert len(re.findall(r"SEARCH orders USING INDEX ix_orders_book", plan)) == 2, plan
            assert "TEMP B-TREE" not in plan and "SCAN orders" not in plan, plan
            return
        for analyzed in (False, True):  # whatever statistics the table has, then fresh ones
            if analyzed:
                await connection.exec_driver_sql("ANALYZE orders")
            for mode in ("force_custom_plan", "force_generic_plan"):
                _assert_windowed(await _explain_postgresql(session, statement, params, mode), window, (analyzed, mode))


def _assert_windowed(nodes: list[dict[str, Any]], window: int, case: object) -> None:
    kinds = [node["Node Type"] for node in nodes]
    assert "Sort" not in kinds and "Aggregate" not in kinds, (case, kinds)
    scans = [n for n in nodes if n.get("Relation Name") == "orders"]
    assert len(scans) == 4 and all(n["Node Type"] != "Seq Scan" for n in scans), (case, scans)
    indexes = [n.get("Index Name") for n in scans]
    assert indexes[:3] == ["ix_orders_book", "ix_orders_book", "uq_orders_market_id_seq"], case
    assert indexes[3] in ("ix_orders_market_due", "ix_orders_open_expiry"), case  # due ones: by expiry
    for scan in scans:  # each reads what it returns: a window, the last order, none due
        assert scan["Actual Rows"] <= window and scan.get("Rows Removed by Filter", 0) == 0, (case, scan)
    pages = nodes[0]["Shared Hit Blocks"] + nodes[0]["Shared Read Blocks"]
    assert pages <= 4 * window, (case, pages)  # 25 here; the whole book is some 150 pages
