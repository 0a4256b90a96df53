"""The published order-book levels read ``book_levels`` (kept by triggers on ``orders``, migration
0017): after every kind of change to a resting order (place, partial and full fill, cancel,
cancel-all, expiry, pause and resolution cancels) the level totals a batch publishes and the whole
kept table equal a fresh read of every open order (the REST/GraphQL ``order_book`` snapshot), on
SQLite and PostgreSQL, and with writers in separate transactions at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.db import Database, make_engine, utcnow
from predictql.models import BookLevel
from predictql.pricing.orderbook_types import SCALE
from predictql.services import book_check, ledger_check, live, order_lifecycle, orderbook_batch, resolution
from predictql.services.orderbook_batch import CancelAll, Place
from predictql.services.resolution import Verdict
from predictql.settings import Settings
from predictql.subscriptions import topics
from tests.markets.factories import create_market_setup, creator_actor
from tests.markets.test_orderbook_batch import emitted, fresh_levels, limit
from tests.markets.test_orderbook_services import FEE, assert_books_balanced, create_user

Work = Callable[[AsyncSession], Awaitable[Any]]


async def assert_kept_exact(db: Database, market_id: int, touched: set[tuple[bool, int]]) -> None:
    """``book_levels`` equals the recount of the orders, and the level read at every price with
    interest (and ``touched``) equals the order-book snapshot."""
    bids, asks = await fresh_levels(db, market_id)
    levels = touched | {(True, p) for p in bids} | {(False, p) for p in asks}
    async with db.session() as session:
        assert await book_check.differences(session) == []
        if levels:
            read = await live.book_levels(session, market_id, levels, fee_bps=FEE)
            assert dict(read.bids) == {p: bids.get(p, 0) for is_bid, p in levels if is_bid}
            assert dict(read.asks) == {p: asks.get(p, 0) for is_bid, p in levels if not is_bid}


async def step(db: Database, monkeypatch: pytest.MonkeyPatch, market_id: int, work: Work) -> dict[str, Any]:
    """``work`` in one transaction with the commit's level messages; each published level equals
    the snapshot after the commit. Returns the market's book message."""
    with emitted(monkeypatch) as seen:
        async with db.transaction() as session:
            await work(session)
            await live.publish_final_states(session, fee_bps=FEE)
    (book,) = [p for channel, p in seen if channel == topics.market_book_channel(market_id)]
    bids, asks = await fresh_levels(db, market_id)
    assert book["bids"] or book["asks"]
    assert {p: n for p, n in book["bids"]} == {p: bids.get(p, 0) for p, _ in book["bids"]}, (book, bids)
    assert {p: n for p, n in book["asks"]} == {p: asks.get(p, 0) for p, _ in book["asks"]}, (book, asks)
    touched = {(True, p) for p, _ in book["bids"]} | {(False, p) for p, _ in book["asks"]}
    await assert_kept_exact(db, market_id, touched)
    return book


def batch(market_id: int, *items: orderbook_batch.Item) -> Work:
    async def work(session: AsyncSession) -> None:
        outcomes = await orderbook_batch.execute(session, market_id, list(items), fee_bps=FEE)
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes

    return work


async def test_published_levels_stay_exact_through_every_change(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    creator, pool, (market,) = await create_market_setup(db, market_type="orderbook")
    m = market.id or 0
    a, b, c, d = [await create_user(db, balance=500_000) for _ in range(4)]
    soon = utcnow() + timedelta(hours=1)
    # place: uneven budgets at one level (floored one by one), twice the same order, a GTD bid, asks
    await step(
        db,
        monkeypatch,
        m,
        batch(
            m,
            Place(Actor(user_id=a), limit(m, "buy", "YES", 1_021, 4_000)),
            Place(Actor(user_id=b), limit(m, "buy", "YES", 3_333, 4_000)),
            Place(Actor(user_id=b), limit(m, "buy", "YES", 3_333, 4_000)),
            Place(Actor(user_id=c), limit(m, "buy", "YES", 2_047, 4_000, expires_at=soon)),
            Place(Actor(user_id=c), limit(m, "buy", "NO", 2_999, 5_000)),  # ask at 5000
            Place(Actor(user_id=d), limit(m, "buy", "NO", 5_000, 4_000)),  # ask at 6000
        ),
    )
    # partial fill of a's bid (first in time at 4000), then a full fill of it and part of b's
    book = await step(db, monkeypatch, m, batch(m, Place(Actor(user_id=d), limit(m, "buy", "NO", 600, 6_000))))
    assert [p for p, _ in book["bids"]] == [4_000]
    await step(db, monkeypatch, m, batch(m, Place(Actor(user_id=d), limit(m, "buy", "NO", 2_000, 6_000))))
    # a sells the YES units it now holds: an ask of units
    await step(db, monkeypatch, m, batch(m, Place(Actor(user_id=a), limit(m, "sell", "YES", 1_000, 5_500))))
    # cancel one order (the lifecycle's own path), then cancel-all in a batch
    async with db.session() as session:
        mine = await order_lifecycle.my_orders(session, Actor(user_id=b), status="open")
    one = mine.items[0].id or 0
    await step(db, monkeypatch, m, lambda s: order_lifecycle.cancel_order(s, Actor(user_id=b), order_id=one))
    await step(db, monkeypatch, m, batch(m, CancelAll(Actor(user_id=b))))

    # expiry: past its time and not yet swept, c's bid is out of the read, still counted in the
    # table (until the sweep takes it off, which publishes its level again)
    later = soon + timedelta(seconds=1)
    monkeypatch.setattr(live, "utcnow", lambda: later)
    monkeypatch.setattr(order_lifecycle, "utcnow", lambda: later)
    await assert_kept_exact(db, m, {(True, 4_000)})
    assert (await fresh_levels(db, m))[0].get(4_000, 0) == 0
    book = await step(db, monkeypatch, m, lambda s: order_lifecycle.expire_orders(s, now=later))
    assert book["bids"] == [[4_000, 0]]
    monkeypatch.undo()

    # pause: every resting order cancelled, every level published at 0; resume and rest again
    def paused(flag: bool) -> Work:
        return lambda s: order_lifecycle.set_paused(
            s, creator_actor(creator), event_id=market.event_id, pool_id=market.pool_id, market_id=m, paused=flag
        )

    book = await step(db, monkeypatch, m, paused(True))
    assert all(n == 0 for _, n in book["bids"] + book["asks"]) and book["asks"]
    async with db.transaction() as session:
        await paused(False)(session)
    await step(db, monkeypatch, m, batch(m, Place(Actor(user_id=c), limit(m, "buy", "YES", 4_000, 3_000))))
    # resolution cancels what rests
    verdict = Verdict(won_side="YES")
    book = await step(
        db,
        monkeypatch,
        m,
        lambda s: resolution.close_market(s, creator_actor(creator), pool.event_id, pool.id or 0, m, verdict),
    )
    assert book["bids"] == [[3_000, 0]]
    async with db.session() as session:
        assert await book_check.counted(session) == {} and await book_check.kept(session) == {}
    await assert_books_balanced(db)


async def test_concurrent_writers_keep_the_counts(db: Database, settings: Settings) -> None:
    """Placements, crossings and cancels on two markets from two engines (two processes' pools) at
    once: the counts the triggers keep equal the orders' (PostgreSQL: each statement's change lands
    under the other's row locks; SQLite: one writer at a time)."""
    markets = [(await create_market_setup(db, market_type="orderbook"))[2][0].id or 0 for _ in range(2)]
    users = [await create_user(db, balance=500_000) for _ in range(6)]

    async def trader(database: Database, n: int) -> None:
        for k in range(6):
            m = markets[(n + k) % 2]
            user = Actor(user_id=users[n])
            price = 4_000 + 100 * (k % 3)
            items: list[orderbook_batch.Item] = [
                Place(user, limit(m, "buy", "YES", 1_020 * (1 + k % 2), price)),
                Place(user, limit(m, "buy", "NO", 1_020, SCALE - price - 100 * (n % 2))),  # crosses on odd n
            ]
            if k == 4:
                items.append(CancelAll(user))
            async with database.transaction() as session:
                await orderbook_batch.execute(session, m, items, fee_bps=FEE)

    postgres = db.engine.dialect.name == "postgresql"  # SQLite: one writer, the one engine's
    second = Database(make_engine(settings.resolved_database_url)) if postgres else db
    try:
        await asyncio.gather(*(trader(db if n % 2 else second, n) for n in range(6)))
    finally:
        if second is not db:
            await second.dispose()
    for m in markets:
        await assert_kept_exact(db, m, set())
    await assert_books_balanced(db)


async def test_ledger_check_names_a_drifted_level(db: Database) -> None:
    _, _, (market,) = await create_market_setup(db, market_type="orderbook")
    m = market.id or 0
    a = await create_user(db, balance=50_000)
    async with db.transaction() as session:
        await orderbook_batch.execute(
            session, m, [Place(Actor(user_id=a), limit(m, "buy", "YES", 2_040, 4_000))] * 2, fee_bps=FEE
        )
    async with db.session() as session:
        assert (await ledger_check.check(session)).ok
        assert await book_check.kept(session) == {(m, "YES", 4_000, "buy", 2_040): 2}
    async with db.transaction() as session:  # drift the table behind the triggers' back
        await session.execute(text(f"UPDATE {BookLevel.__tablename__} SET orders = 1"))
    async with db.session() as session:
        report = await ledger_check.check(session)
    assert [(v.rule, v.subject) for v in report.violations] == [("book_level", f"market {m}")]
    assert "1 kept, 2 open" in report.violations[0].detail
    async with db.transaction() as session:
        await session.execute(text(f"UPDATE {BookLevel.__tablename__} SET orders = 2"))
    async with db.transaction() as session:  # a kept key no open order has
        await session.execute(
            text(
                f"INSERT INTO {BookLevel.__tablename__} (market_id, token, price, side, remaining, orders)"
                f" VALUES ({m}, 'NO', 7000, 'sell', 5, 3)"
            )
        )
    async with db.session() as session:
        assert await book_check.differences(session) == [((m, "NO", 7_000, "sell", 5), 3, 0)]
    async with db.transaction() as session:
        await session.execute(text(f"DELETE FROM {BookLevel.__tablename__} WHERE price = 7000"))
    async with db.session() as session:
        assert await book_check.differences(session) == []


async def test_the_triggers_that_keep_book_levels_are_in_place(db: Database) -> None:
    """At the head revision: a later migration that rebuilds ``orders`` (SQLite's batch mode copies
    the table) would drop them without a word, and the levels would silently stop following."""
    if db.engine.dialect.name == "postgresql":
        query = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'orders'"
    async with db.session() as session:
        names = {str(name) for name in await session.scalars(text(query))}
    assert {"book_levels_insert", "book_levels_update", "book_levels_delete"} <= names


async def test_the_check_beside_live_trading_reads_one_moment(db: Database) -> None:
    """``predictql ledger check`` runs on a live server's database outside any transaction: an
    order a batch commits while the check reads must not show as a level that drifted."""
    _, _, (market,) = await create_market_setup(db, market_type="orderbook")
    m = market.id or 0
    a = await create_user(db, balance=50_000)
    async with db.session() as session:
        read = session.execute
        statements = 0

        async def execute(*args: Any, **kwargs: Any) -> Any:
            nonlocal statements
            result = await read(*args, **kwargs)
            statements += 1
            if statements == 1:  # a batch commits a new resting order meanwhile
                async with db.transaction() as other:
                    await orderbook_batch.execute(
                        other, m, [Place(Actor(user_id=a), limit(m, "buy", "YES", 2_040, 4_000))], fee_bps=FEE
                    )
            return result

        session.execute = execute  # type: ignore[method-assign]
        assert await book_check.differences(session) == []
    assert statements >= 1
    await assert_books_balanced(db)
