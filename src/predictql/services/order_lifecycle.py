"""Orders leaving the book without a fill (cancel, cancel all, pause, expiry, resolution), closing a
holding with market orders, and the reads: the caller's orders and the aggregated book.

Each writer locks the market row first, exactly like matching, so a cancel can never release escrow
that a concurrent fill is spending.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, DomainError, InvalidInput, NotFound
from predictql.models import Market, Order
from predictql.models.orders import OPEN_STATUSES
from predictql.pricing.orderbook import BookSnapshot
from predictql.services import events, ledger, lmsr_trading, order_escrow, orderbook_batch, orderbook_trading, pools
from predictql.services.cursors import Page, PageArgs, keyset_page
from predictql.services.ledger import Movement
from predictql.services.lmsr_trading import CloseResult
from predictql.subscriptions import topics

STATUSES = ("pending", "partial", "filled", "cancelled", "open")  # "open" = pending or partial
MAX_LIST = 1000
MAX_DEPTH = 1000
ALL_ORDERS = PageArgs(first=MAX_LIST)  # REST lists the newest MAX_LIST


async def _lock(session: AsyncSession, market_id: int) -> Market:
    market = await session.scalar(
        select(Market).where(col(Market.id) == market_id).with_for_update().execution_options(populate_existing=True)
    )
    if market is None:
        raise NotFound("market not found", code="MARKET_NOT_FOUND")
    return market


async def _cancel(session: AsyncSession, orders: list[Order], reason: str) -> list[Order]:
    await ledger.post_many(session, order_escrow.take_off(session, orders, reason, utcnow()))
    await session.flush()
    return orders


async def _one(session: AsyncSession, market_id: int, item: orderbook_batch.Item, fee_bps: int = 0) -> object:
    """The order-book batch executor with one item; its error raised."""
    (outcome,) = await orderbook_batch.execute(session, market_id, [item], fee_bps=fee_bps)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


async def cancel_order(session: AsyncSession, actor: Actor, *, order_id: int) -> Order:
    """Cancel one of the caller's open orders; what it still reserves is released."""
    user_id = actor.require_write()
    market_id = await session.scalar(
        select(Order.market_id).where(col(Order.id) == order_id, col(Order.user_id) == user_id)
    )
    if market_id is None:
        raise NotFound("order not found", code="ORDER_NOT_FOUND")
    cancelled = await _one(session, market_id, orderbook_batch.Cancel(actor, order_id))
    assert isinstance(cancelled, Order)
    return cancelled


async def set_paused(
    session: AsyncSession, actor: Actor, *, event_id: int, pool_id: int, market_id: int, paused: bool
) -> Market:
    """Pause (resting orders are cancelled, escrow released) or resume trading in one market."""
    await events.get_managed(session, actor, event_id)
    market = await _lock(session, market_id)
    if market.pool_id != pool_id or market.event_id != event_id:
        raise NotFound("market not found", code="MARKET_NOT_FOUND")
    if market.resolved:
        raise Conflict("market is resolved", code="MARKET_RESOLVED")
    market.paused = paused
    if paused:
        await _cancel(session, await order_escrow.open_orders(session, market_id), "market_paused")
    await session.flush()
    await topics.markets_changed(session, [market])
    return market


async def cancel_resting(session: AsyncSession, market: Market, reason: str) -> list[Movement]:
    """For resolution: cancel a locked market's open orders; the caller posts the movements."""
    orders = await order_escrow.open_orders(session, market.id or 0)
    movements = order_escrow.take_off(session, orders, reason, utcnow())
    await session.flush()
    return movements


async def expire_orders(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Cancel every GTD order past its expiry on every market (a periodic sweep); how many markets.

    All the markets are locked first, in id order, and the ledger is written once: holding ledger
    rows of one market while waiting for the next market's lock could deadlock with its matcher.
    """
    now = now or utcnow()
    due = select(Order.market_id).where(col(Order.status).in_(OPEN_STATUSES), col(Order.expires_at) <= now)
    markets = list(
        await session.scalars(
            select(Market)
            .where(col(Market.id).in_(due))
            .order_by(col(Market.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    movements: list[Movement] = []
    for market in markets:
        movements += await order_escrow.expire_due(session, market, now)
    await ledger.post_many(session, movements)
    return len(markets)


async def close_position(session: AsyncSession, actor: Actor, *, market_id: int, fee_bps: int) -> CloseResult:
    """Sell the caller's whole holding in an order-book market with market orders.

    The caller's own resting sells are cancelled first (they reserve the units). What the book
    cannot absorb stays held; NO_LIQUIDITY (409) when nothing at all could be sold.
    """
    actor.require_write()
    closed = await _one(session, market_id, orderbook_batch.Close(actor), fee_bps)
    assert isinstance(closed, CloseResult)
    return closed


async def close_holding(session: AsyncSession, actor: Actor, *, market_id: int, fee_bps: int) -> CloseResult:
    """``POST /market/positions/{market_id}/close`` for either mechanism: an order-book market sells
    into its book (``close_position``), an LMSR market to the market maker."""
    market_type = await session.scalar(select(Market.market_type).where(col(Market.id) == market_id))
    close = close_position if market_type == "orderbook" else lmsr_trading.close_position
    return await close(session, actor, market_id=market_id, fee_bps=fee_bps)


async def my_orders(
    session: AsyncSession, actor: Actor, *, status: str | None = None, page: PageArgs = ALL_ORDERS
) -> Page[Order]:
    """The caller's orders, newest first; ``status`` one of STATUSES; keyset-paged on id."""
    user_id = actor.require_user()
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
    query = select(Order).where(col(Order.user_id) == user_id)
    if status is not None:
        query = query.where(col(Order.status).in_(OPEN_STATUSES if status == "open" else (status,)))
    return await keyset_page(session, query, col(Order.id), page, bound=MAX_LIST)


async def order_books(
    session: AsyncSession, market_ids: list[int], *, depth: int, fee_bps: int
) -> dict[int, BookSnapshot]:
    """``order_book`` of markets the caller already sees (``Market.orderbook``), in one query."""
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"depth must be 1-{MAX_DEPTH}")
    now = utcnow()
    query = select(Order).where(
        col(Order.market_id).in_(market_ids),
        col(Order.status).in_(OPEN_STATUSES),
        col(Order.expires_at).is_(None) | (col(Order.expires_at) > now),
    )
    rows: dict[int, list[Order]] = {market_id: [] for market_id in market_ids}
    for row in await session.scalars(query.order_by(col(Order.seq))):
        rows[row.market_id].append(row)
    return {
        market_id: orderbook_trading.build_book(market_id, fee_bps, orders).snapshot(depth)
        for market_id, orders in rows.items()
    }


async def order_book(session: AsyncSession, actor: Actor, *, market_id: int, depth: int, fee_bps: int) -> BookSnapshot:
    """Resting interest aggregated per price level in YES space (NO orders at 10000 - price).

    A buy counts the units its remaining budget buys at its price, fee included.
    """
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"depth must be 1-{MAX_DEPTH}")
    market = await pools.get_market(session, market_id, actor=actor)
    now = utcnow()
    rows = await order_escrow.open_orders(
        session, market.id or 0, col(Order.expires_at).is_(None) | (col(Order.expires_at) > now)
    )
    return orderbook_trading.build_book(market.id or 0, fee_bps, rows).snapshot(depth)
