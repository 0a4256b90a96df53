"""Order-book writes through the market's writer (``services.order_writes``): concurrent placements
and cancels over REST are batched (fewer commits than requests) and all accounted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from predictql.app import create_app
from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import Forbidden, InsufficientFunds, InvalidInput
from predictql.models import Market, Order, Trade
from predictql.services.market_writer import MarketWriter
from predictql.services.order_writes import Queued
from predictql.services.orderbook_batch import Cancel, Place
from predictql.services.orderbook_trading import OrderRequest, Placed
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.api.test_orders_api import book_market, post_order
from tests.markets.test_concurrency import assert_ledger_balanced
from tests.markets.test_orderbook_services import FEE, assert_books_balanced, cash, create_user, held
from tests.support import BASE, Lifespan, bearer

PAIRS = 24


@pytest.fixture
async def served(settings: Settings, db: Database) -> AsyncIterator[tuple[httpx.AsyncClient, Database, MarketWriter]]:
    async with Lifespan(create_app(settings, run_migrations=False)) as running:
        transport = httpx.ASGITransport(app=running, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield http, running.state["db"], running.state["writer"]


async def test_concurrent_placements_and_cancels_are_batched_and_accounted(
    served: tuple[httpx.AsyncClient, Database, MarketWriter], settings: Settings
) -> None:
    http, app_db, writer = served
    _, market = await book_market(app_db)
    mid = market.id or 0
    users = [await trader(app_db, settings, balance=1_000_000) for _ in range(8)]
    # YES and NO buys at 5000 mint against each other; a far-off resting buy per user is cancelled.
    placed = await asyncio.gather(
        *(
            post_order(http, users[i % 8][1], mid, "buy", "YES" if i % 2 == 0 else "NO", 100, 5000)
            for i in range(2 * PAIRS)
        ),
        *(post_order(http, token, mid, "buy", "YES", 10, 100) for _, token in users),
    )
    assert [r.status_code for r in placed] == [200] * len(placed), [r.text for r in placed if r.is_error]
    assert 0 < writer.batches < len(placed)  # group commit: requests queued together share a commit
    resting = [r.json()["id"] for r in placed[2 * PAIRS :]]
    cancelled = await asyncio.gather(
        *(
            http.delete(f"/api/v1/market/orders/{order_id}", headers=bearer(token))
            for order_id, (_, token) in zip(resting, users, strict=True)
        )
    )
    assert [r.status_code for r in cancelled] == [200] * len(users), [r.text for r in cancelled if r.is_error]
    async with app_db.session() as session:
        statuses = dict(
            (
                await session.execute(
                    select(Order.status, func.count()).where(col(Order.market_id) == mid).group_by(col(Order.status))
                )
            ).all()
        )
        filled = dict(
            (
                await session.execute(
                    select(Order.token, func.sum(Order.filled))
                    .where(col(Order.market_id) == mid, col(Order.status) == "filled")
                    .group_by(col(Order.token))
                )
            ).all()
        )
        trades = await session.scalar(select(func.count()).where(col(Trade.market_id) == mid))
    assert statuses == {"filled": 2 * PAIRS, "cancelled": len(users)}
    assert filled["YES"] == filled["NO"] > 0 and trades  # every unit minted against the other side
    await assert_ledger_balanced(app_db)


def place(user: int, market_id: int, token: str, amount: int, price: int, **actor: bool) -> Queued:
    return Queued(
        Place(Actor(user_id=user, **actor), OrderRequest(market_id, "buy", token, "limit", amount, price)), FEE
    )


async def test_orders_queued_while_a_batch_waits_for_the_market_join_it(db: Database) -> None:
    """Another process's batch holds the market (here: an open transaction that locked it); the
    orders queued meanwhile join the waiting batch once it has the lock: one batch, one commit, in
    arrival order (the last crosses the first), and a joined item that fails its checks (the ones
    run before the lock, and the plan's) fails alone."""
    _, market = await book_market(db)
    m = market.id or 0
    a, b, c, poor = [await create_user(db, balance=b) for b in (50_000, 50_000, 50_000, 100)]
    writer = MarketWriter(db)
    async with db.transaction() as holder:
        await holder.execute(select(Market.id).where(col(Market.id) == m).with_for_update())
        first = asyncio.create_task(writer.run(m, place(a, m, "YES", 6_120, 6_000)))
        for _ in range(20):  # the drainer took the first order and waits for the lock
            await asyncio.sleep(0.01)
        assert not first.done() and not writer._queues[m]
        joined = [
            place(poor, m, "YES", 2_040, 2_000),  # 100 kopecks: insufficient
            place(b, m, "YES", 2_040, 2_000, can_write=False),  # a read-only token (checked before the lock)
            place(b, m, "YES", 2_040, 20_000),  # a price out of range (checked before the lock)
            Queued(Cancel(Actor(user_id=c), 10**9), FEE),  # no such order
            place(c, m, "NO", 4_080, 4_000),  # crosses a's bid: a mint
        ]
        later = [asyncio.create_task(writer.run(m, item)) for item in joined]
        await asyncio.sleep(0.05)
        assert len(writer._queues[m]) == len(joined)  # queued behind the waiting batch, not taken yet
    results = [await first, *await asyncio.gather(*later, return_exceptions=True)]
    assert writer.batches == 1
    bid, broke, read_only, bad_price, missing, mint = results
    assert isinstance(broke, InsufficientFunds) and broke.code == "INSUFFICIENT_BALANCE"
    assert isinstance(read_only, Forbidden) and isinstance(bad_price, InvalidInput)
    assert bad_price.code == "INVALID_PRICE" and missing.code == "ORDER_NOT_FOUND"
    assert isinstance(bid, Placed) and isinstance(mint, Placed)
    assert mint.order.status == "filled" and len(mint.trades) == 1 and bid.order.filled == mint.order.filled > 0
    assert bid.order.seq < mint.order.seq
    assert await held(db, a, market) == {"YES": bid.order.filled}
    assert await held(db, c, market) == {"NO": mint.order.filled}
    assert (await cash(db, poor)).cash == 100 and (await cash(db, b)).cash == 50_000
    async with db.session() as session:
        placed = list(await session.scalars(select(Order.user_id).where(col(Order.market_id) == m)))
    assert sorted(placed) == sorted([a, c])
    await assert_books_balanced(db)
