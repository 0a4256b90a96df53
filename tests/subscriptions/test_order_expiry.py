"""GTD orders expire on time, by the app's periodic sweep: escrow released, the owner told on
``myOrders``, the level gone from the book stream; a quiet sweep writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.models import Order
from predictql.pricing.orderbook_types import max_buy_units
from predictql.services import ledger, order_expiry, orderbook_trading
from predictql.services.orderbook_trading import OrderRequest
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import data
from tests.subscriptions.test_orderbook_streams import BOOK, MY_ORDERS, auth, book_market
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, gid


async def test_a_gtd_order_expires_on_time_and_its_escrow_comes_back(
    live_with: Callable[..., AbstractAsyncContextManager[Live]], db: Database, settings: Settings
) -> None:
    _, market = await book_market(db)
    mid = market.id or 0
    alice, token = await trader(db, settings, balance=100_000)
    async with live_with(order_expiry_sweep_seconds=0.05) as app, GraphQLSocket(app.app, params=auth(token)) as ws:
        book = await ws.subscribe(BOOK, {"m": gid(Kind.MARKET, mid)})
        assert data(await ws.next(book), "orderbook")["kind"] == "SNAPSHOT"
        mine = await ws.subscribe(MY_ORDERS, {})
        await ws.nothing(0.1)
        # Expiry an hour away, then brought to now once the placement is seen: a wall-clock window
        # (it was 400 ms) raced a loaded machine both ways - a placement committed after it showed
        # an empty level, a reader slower than it met the expiry first.
        request = OrderRequest(
            mid, "buy", "YES", "limit", 30_000, 4000, tif="GTD", expires_at=utcnow() + timedelta(hours=1)
        )
        async with app.db.transaction() as session:
            placed = await orderbook_trading.place_order(
                session, Actor(user_id=alice), request, fee_bps=app.settings.fee_bps
            )
        assert data(await ws.next(mine), "myOrders")["status"] == "PENDING"
        (level,) = data(await ws.next(book), "orderbook")["bids"]
        assert level == {"price": 4000, "amount": max_buy_units(30_000, 4000, app.settings.fee_bps)}
        async with app.db.transaction() as session:
            order = await session.get(Order, placed.order.id)
            assert order is not None
            order.expires_at = utcnow()
        try:
            expired = data(await ws.next(mine, within=5), "myOrders")
        except TimeoutError:  # which half failed: the sweep (still open) or the delivery (expired)?
            async with db.session() as session:
                row = await session.get(Order, placed.order.id)
            raise AssertionError(f"no expiry message within 5 s; the order is {row and row.status}") from None
        assert (expired["status"], expired["cancelReason"]) == ("CANCELLED", "EXPIRED")
        gone = data(await ws.next(book), "orderbook")
        assert (gone["full"], gone["bids"]) == (False, [{"price": 4000, "amount": 0}])
    async with db.session() as session:
        assert (await ledger.balances(session, alice)).cash == 100_000
        row = await session.get(Order, placed.order.id)
        assert row is not None and row.escrow == 0


async def test_the_sweep_looks_for_open_orders_past_their_time_only(
    live: Live, db: Database, settings: Settings
) -> None:
    _, market = await book_market(db)
    alice, _ = await trader(db, settings, balance=100_000)
    later = utcnow() + timedelta(hours=1)
    request = OrderRequest(market.id or 0, "buy", "YES", "limit", 10_000, 4000, tif="GTD", expires_at=later)
    async with live.db.transaction() as session:
        await orderbook_trading.place_order(session, Actor(user_id=alice), request, fee_bps=settings.fee_bps)
    async with db.session() as session:
        assert not await order_expiry.any_due(session, utcnow())
        assert await order_expiry.any_due(session, later + timedelta(seconds=1))
    assert await order_expiry.sweep(live.db) == 0  # nothing due now: no write
