"""The order-book batch executor (``orderbook_batch.execute``) with several items in one transaction,
on the real database (SQLite and PostgreSQL): items that fail their own checks fail alone and change
nothing, later items cross earlier ones, the streams carry what the batch did, and the statements a
batch sends do not grow with the number of its items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select, update

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.errors import Conflict, DomainError, InsufficientFunds, NotFound
from predictql.models import Order, Trade
from predictql.services import ledger, live, order_lifecycle, orderbook_batch
from predictql.services.orderbook_batch import Cancel, CancelAll, Place
from predictql.services.orderbook_trading import OrderRequest, Placed
from predictql.subscriptions import topics
from tests.graphql.test_round_trips import count_statements, split
from tests.markets.test_orderbook_services import FEE, assert_books_balanced, book_market, cash, create_user, held


def limit(market_id: int, side: str, token: str, amount: int, price: int, **extra: Any) -> OrderRequest:
    return OrderRequest(market_id, side, token, "limit", amount, price, **extra)


@contextmanager
def emitted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every stream message the services queue (channel, decoded payload), in order."""
    seen: list[tuple[str, dict[str, Any]]] = []
    original = topics.emit

    def record(session: Any, channel: str, message: str) -> None:
        seen.append((channel, json.loads(message)))
        original(session, channel, message)

    monkeypatch.setattr(topics, "emit", record)
    yield seen


async def run(db: Database, market_id: int, items: list[orderbook_batch.Item]) -> list[orderbook_batch.Outcome]:
    """One batch in one transaction, with the once-per-transaction messages the commit hook sends."""
    async with db.transaction() as session:
        outcomes = await orderbook_batch.execute(session, market_id, items, fee_bps=FEE)
        await live.publish_final_states(session, fee_bps=FEE)
    return outcomes


def code(outcome: object) -> str:
    assert isinstance(outcome, DomainError), outcome
    return outcome.code


async def test_failures_in_the_middle_change_nothing_and_the_rest_succeeds(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, market = await book_market(db)
    m = market.id or 0
    a, b, c = [await create_user(db, balance=20_000) for _ in range(3)]
    poor = await create_user(db, balance=100)
    async with db.transaction() as session:  # an order of a's placed earlier: c may not cancel it
        (earlier,) = await orderbook_batch.execute(
            session, m, [Place(Actor(user_id=a), limit(m, "buy", "YES", 1_000, 1_000))], fee_bps=FEE
        )
    assert isinstance(earlier, Placed)
    before = {user: await cash(db, user) for user in (poor, c)}
    items: list[orderbook_batch.Item] = [
        Place(Actor(user_id=a), limit(m, "buy", "YES", 6_120, 6_000, client_order_id="a-1")),
        Place(Actor(user_id=poor), limit(m, "buy", "YES", 6_120, 6_000)),  # 100 kopecks: insufficient
        Place(Actor(user_id=c), limit(m, "sell", "YES", 5, 4_000)),  # holds nothing to sell
        Place(Actor(user_id=b), limit(m, "buy", "NO", 4_080, 4_000)),  # crosses item 0: a mint
        Place(Actor(user_id=c), limit(m, "buy", "YES", 5_100, 5_000, tif="FOK")),  # no asks at 5000
        Place(Actor(user_id=a), limit(m, "buy", "YES", 5_100, 5_000, client_order_id="a-1")),  # duplicate
        Cancel(Actor(user_id=c), earlier.order.id or 0),  # not c's order
        Place(Actor(user_id=c), limit(m, "buy", "YES", 2_040, 2_000)),
    ]
    with emitted(monkeypatch) as seen:
        outcomes = await run(db, m, items)

    assert isinstance(outcomes[1], InsufficientFunds) and code(outcomes[1]) == "INSUFFICIENT_BALANCE"
    assert isinstance(outcomes[2], InsufficientFunds) and "0 YES units" in str(outcomes[2])
    assert code(outcomes[4]) == "FOK_NOT_FILLABLE"
    assert isinstance(outcomes[5], Conflict) and code(outcomes[5]) == "DUPLICATE_CLIENT_ORDER_ID"
    assert isinstance(outcomes[6], NotFound) and code(outcomes[6]) == "ORDER_NOT_FOUND"
    first, mint, last = outcomes[0], outcomes[3], outcomes[7]
    assert isinstance(first, Placed) and isinstance(mint, Placed) and isinstance(last, Placed)
    assert (first.order.status, last.order.status) == ("filled", "pending")
    assert mint.order.status == "filled" and len(mint.trades) == 1
    assert mint.trades[0].shares == first.order.filled > 0
    assert first.order.client_order_id == "a-1"
    assert await held(db, a, market) == {"YES": first.order.filled}
    assert await held(db, b, market) == {"NO": mint.order.filled}
    assert await held(db, c, market) == {}
    assert await cash(db, poor) == before[poor]  # the failed ones changed nothing
    assert (await cash(db, c)).cash == before[c].cash - 2_040
    async with db.session() as session:
        mine = list(await session.scalars(select(Order).where(col(Order.user_id).in_([poor, c]))))
        assert [(o.user_id, o.amount, o.status) for o in mine] == [(c, 2_040, "pending")]
        assert (await session.scalar(select(Order.status).where(col(Order.id) == earlier.order.id))) == "pending"
        assert len(list(await session.scalars(select(Trade).where(col(Trade.market_id) == m)))) == 2
    await assert_books_balanced(db)

    channels = [channel for channel, _ in seen]
    assert channels.count(topics.market_trades_channel(m)) == 1  # one execution, told once
    assert channels.count(topics.user_fills_channel(a)) == channels.count(topics.user_fills_channel(b)) == 1
    assert channels.count(topics.market_channel(m)) == 1  # the market's state once per batch
    for user in (a, b, c):
        assert channels.count(topics.user_balance_channel(user)) == 1, user
    assert topics.user_balance_channel(poor) not in channels
    assert not any(channel.startswith(f"user:{poor}:") for channel in channels)
    orders_of_a = [p for channel, p in seen if channel == topics.user_orders_channel(a)]
    assert [(p["status"], p.get("clientOrderId", "a-1")) for p in orders_of_a][-1][0] == "filled"
    (book,) = [p for channel, p in seen if channel == topics.market_book_channel(m)]
    balance_of_c = next(p for channel, p in seen if channel == topics.user_balance_channel(c))
    assert balance_of_c["escrow"] == 2_040
    levels = {tuple(level) for level in book["bids"]}
    assert (6_000, 0) in levels  # a's bid rested and was taken within the batch: the level is gone
    assert any(price == 2_000 and amount > 0 for price, amount in levels)


async def test_later_items_cross_earlier_ones_and_cancels_see_them(db: Database) -> None:
    _, market = await book_market(db)
    m = market.id or 0
    a, b, c = [await create_user(db, balance=50_000) for _ in range(3)]
    outcomes = await run(
        db,
        m,
        [
            Place(Actor(user_id=a), limit(m, "buy", "YES", 10_200, 5_000)),
            Place(Actor(user_id=a), limit(m, "buy", "YES", 10_200, 5_500)),
            Place(Actor(user_id=b), limit(m, "buy", "NO", 4_590, 4_500)),  # meets a's 5500 bid first
            CancelAll(Actor(user_id=a)),
            Place(Actor(user_id=c), limit(m, "buy", "NO", 5_100, 5_000)),  # a's bids are gone: rests
        ],
    )
    low, high, mint, cancelled, rests = outcomes
    assert isinstance(low, Placed) and isinstance(high, Placed) and isinstance(mint, Placed)
    assert isinstance(rests, Placed) and isinstance(cancelled, list)
    assert mint.order.status == "filled" and mint.trades[0].price == 4_500  # at the maker's 5500
    assert {o.id for o in cancelled} == {low.order.id, high.order.id}
    assert all(o.status == "cancelled" and o.cancel_reason == "user_cancel" for o in cancelled)
    assert rests.order.status == "pending" and rests.trades == ()
    assert await held(db, a, market) == {"YES": mint.order.filled}
    assert (await cash(db, a)).frozen == 0
    async with db.session() as session:
        assert (await ledger.trial_balance(session)).ok
    await assert_books_balanced(db)


async def test_orders_due_are_cancelled_before_the_batch_trades_and_cancels(db: Database) -> None:
    """A trading batch expires its market's due GTD orders first (read with its crossing windows):
    they release their escrow, meet no one, and a cancel of one in the batch finds it not open."""
    _, market = await book_market(db)
    m = market.id or 0
    a, b, c = [await create_user(db, balance=50_000) for _ in range(3)]
    later = utcnow() + timedelta(hours=1)
    due = await run(
        db,
        m,
        [
            Place(Actor(user_id=a), limit(m, "buy", "YES", 4_080, 4_000, expires_at=later)),  # in the window
            Place(Actor(user_id=a), limit(m, "buy", "YES", 2_040, 1_000, expires_at=later)),  # far from it
            Place(Actor(user_id=c), limit(m, "buy", "YES", 3_060, 3_900)),
        ],
    )
    assert all(isinstance(o, Placed) for o in due), due
    near, far, _ = (o.order.id or 0 for o in due if isinstance(o, Placed))
    async with db.transaction() as session:
        await session.execute(update(Order).where(col(Order.id).in_([near, far])).values(expires_at=utcnow()))
    sell, cancel = await run(
        db,
        m,
        [
            Place(Actor(user_id=b), limit(m, "buy", "NO", 6_120, 6_000)),  # an ask at 4000: a's bid is gone
            Cancel(Actor(user_id=a), near),
        ],
    )
    assert isinstance(sell, Placed) and sell.trades == () and sell.order.status == "pending"
    assert code(cancel) == "ORDER_NOT_OPEN"
    async with db.session() as session:
        rows = list(await session.scalars(select(Order).where(col(Order.id).in_([near, far]))))
    assert [(r.status, r.cancel_reason, r.escrow) for r in rows] == [("cancelled", "expired", 0)] * 2
    assert (await cash(db, a)).cash == 50_000 and (await cash(db, a)).frozen == 0
    async with db.session() as session:
        assert (await ledger.trial_balance(session)).ok
    await assert_books_balanced(db)


async def test_statements_per_batch_do_not_grow_with_its_items(db: Database) -> None:
    _, market = await book_market(db)
    m = market.id or 0
    buyers = [await create_user(db, balance=100_000) for _ in range(12)]
    sellers = [await create_user(db, balance=100_000) for _ in range(12)]

    def batch(size: int, price: int) -> list[orderbook_batch.Item]:
        """``size`` resting YES bids, then as many NO bids crossing them."""
        rest = [Place(Actor(user_id=u), limit(m, "buy", "YES", 2_040, price)) for u in buyers[:size]]
        cross = [Place(Actor(user_id=u), limit(m, "buy", "NO", 2_040, 10_000 - price)) for u in sellers[:size]]
        return [*rest, *cross]

    counts = []
    for size, price in ((2, 4_000), (12, 4_200)):
        with count_statements(db) as seen:
            outcomes = await run(db, m, batch(size, price))
        assert all(isinstance(o, Placed) and o.trades for o in outcomes[size:]), outcomes
        if db.engine.dialect.name == "sqlite":
            # SQLAlchemy sends SQLite one INSERT ... RETURNING per row (an in-process call, no round
            # trip); PostgreSQL gets one statement per table.
            seen = [s for s in seen if not s.startswith("INSERT")]
        counts.append(split(seen)[0])
    small, big = counts
    assert big <= small + 2, (small, big)  # 6x the items, the same handful of statements
    await assert_books_balanced(db)


async def fresh_levels(db: Database, market_id: int) -> tuple[dict[int, int], dict[int, int]]:
    """(bids, asks) per YES price as the public order book reads them now, every order a row."""
    async with db.session() as session:
        book = await order_lifecycle.order_book(
            session, Actor(), market_id=market_id, depth=order_lifecycle.MAX_DEPTH, fee_bps=FEE
        )
    return dict(book.bids), dict(book.asks)


async def test_published_book_levels_equal_a_fresh_read_of_the_book(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, market = await book_market(db)
    m = market.id or 0
    a, b, c, d = [await create_user(db, balance=200_000) for _ in range(4)]
    # In YES space a NO buy at q is an ask at 10000 - q.
    batches: list[list[orderbook_batch.Item]] = [
        [  # bids of uneven budgets at one level (each order's units are floored on its own), asks
            Place(Actor(user_id=a), limit(m, "buy", "YES", 1_021, 4_000)),
            Place(Actor(user_id=a), limit(m, "buy", "YES", 2_047, 4_000)),
            Place(Actor(user_id=b), limit(m, "buy", "YES", 3_333, 4_000)),
            Place(Actor(user_id=b), limit(m, "buy", "YES", 5_000, 3_900)),
            Place(Actor(user_id=c), limit(m, "buy", "YES", 5_000, 3_900)),  # twice the same order
            Place(Actor(user_id=c), limit(m, "buy", "NO", 2_999, 5_000)),  # ask at 5000
            Place(Actor(user_id=c), limit(m, "buy", "NO", 1_500, 4_000)),  # ask at 6000
        ],
        [  # an ask at 4000 fills part of a's first bid; b cancels its bids, then takes part of an ask
            Place(Actor(user_id=d), limit(m, "buy", "NO", 1_500, 6_000)),
            Place(Actor(user_id=d), limit(m, "buy", "NO", 1_111, 5_500)),  # ask at 4500
            CancelAll(Actor(user_id=b)),
            Place(Actor(user_id=b), limit(m, "buy", "YES", 777, 4_500, tif="IOC")),
        ],
        [  # a sells YES units it now holds: asks of units, not budgets
            Place(Actor(user_id=a), limit(m, "sell", "YES", 1_000, 4_200)),
            Place(Actor(user_id=a), limit(m, "sell", "YES", 400, 4_100)),
        ],
    ]
    for items in batches:
        with emitted(monkeypatch) as seen:
            outcomes = await run(db, m, items)
        assert not [o for o in outcomes if isinstance(o, DomainError)], outcomes
        bids, asks = await fresh_levels(db, m)
        (book,) = [p for channel, p in seen if channel == topics.market_book_channel(m)]
        assert book["bids"] or book["asks"]
        for price, amount in book["bids"]:
            assert amount == bids.get(price, 0), (price, book, bids)
        for price, amount in book["asks"]:
            assert amount == asks.get(price, 0), (price, book, asks)
    assert bids and asks  # both sides still hold interest at the end
