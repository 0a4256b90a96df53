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
from predictql.db import Database
from predictql.models import Order, Trade
from predictql.services.market_writer import MarketWriter
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.api.test_orders_api import book_market, post_order
from tests.markets.test_concurrency import assert_ledger_balanced
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
