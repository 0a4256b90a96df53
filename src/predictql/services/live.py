"""Snapshots for live streams: what a subscriber is shown on connect and again after a gap.

Each is one short read with the caller's visibility rules (a hidden event is as missing as an
unknown one); the payload shapes are ``subscriptions.topics``'s, so a snapshot and the live
messages that follow it look alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import func, inspect
from sqlalchemy import select as sql_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import NotFound
from predictql.models import LedgerAccount, Order
from predictql.models.orders import OPEN_STATUSES
from predictql.pricing.orderbook_types import SCALE
from predictql.services import charts, events, ledger, order_escrow, orderbook_trading, pools
from predictql.services.charts import ChartPoint
from predictql.subscriptions import topics
from predictql.subscriptions.payloads import BalanceState, BookLevels, ChartTick, MarketState


async def market_state(session: AsyncSession, actor: Actor, market_id: int) -> MarketState:
    """The market now; ``market_not_found`` when missing or hidden from ``actor``."""
    market = await pools.get_market(session, market_id, actor=actor)
    return MarketState.of(market)


async def _pool_id(session: AsyncSession, actor: Actor, event_id: int, pool_id: int | None) -> int | None:
    event = await events.get_visible(session, actor, event_id)
    return pool_id if pool_id is not None else event.main_pool_id


async def chart_state(session: AsyncSession, actor: Actor, event_id: int, pool_id: int | None = None) -> ChartTick:
    """The latest point of the event's pool ``pool_id`` (default: its main pool)."""
    chosen = await _pool_id(session, actor, event_id, pool_id)
    markets = (await events.markets_of(session, [chosen]))[chosen] if chosen is not None else []
    if not markets or markets[0].event_id != event_id:
        raise NotFound("pool not found", code="pool_not_found")
    return ChartTick.of(markets)


async def chart_history(session: AsyncSession, actor: Actor, event_id: int) -> tuple[int | None, list[ChartPoint]]:
    """The event's main pool and its chart at the default scale (empty before its first pool)."""
    chosen = await _pool_id(session, actor, event_id, None)
    if chosen is None:
        return None, []
    return chosen, await charts.pool_chart(session, actor, chosen)


# -- the once-per-transaction messages (a ``Database`` commit hook, before numbering) ----------


def final_states(fee_bps: int) -> Callable[[AsyncSession], Awaitable[None]]:
    """The commit hook emitting what the transaction marked changed (``topics.orders_changed``...),
    each as it is at its end: run before ``stream_log.sequence`` numbers the messages."""

    async def hook(session: AsyncSession) -> None:
        await publish_final_states(session, fee_bps=fee_bps)

    return hook


async def publish_final_states(session: AsyncSession, *, fee_bps: int) -> None:
    marked = topics.take_marked(session)
    if not marked:
        return
    await session.flush()
    for item in (*marked.orders, *marked.positions):
        if inspect(item).expired_attributes:  # a savepoint rolled back after it was marked: reload
            await session.refresh(item)
    balances = await balance_states(session, sorted(marked.balances))
    books = [
        await book_levels(session, market_id, touched, fee_bps=fee_bps)
        for market_id, touched in sorted(marked.book.items())
        if touched
    ]
    topics.publish_final(session, marked, balances, books)


async def balance_states(session: AsyncSession, user_ids: Sequence[int]) -> list[BalanceState]:
    """Each user's cash, bonus and escrow now (one query for all of them)."""
    if not user_ids:
        return []
    rows = await session.execute(
        select(col(LedgerAccount.user_id), col(LedgerAccount.kind), col(LedgerAccount.balance)).where(
            col(LedgerAccount.user_id).in_(user_ids)
        )
    )
    found: dict[int, dict[str, int]] = {user_id: {} for user_id in user_ids}
    for user_id, kind, balance in rows:
        found[int(user_id or 0)][kind] = int(balance)
    now = utcnow()
    return [
        BalanceState(
            user_id,
            by.get("user_cash", 0),
            by.get("user_bonus", 0),
            by.get(order_escrow.ESCROW_KIND, 0),
            now,
            p2p_frozen=by.get(ledger.P2P_ESCROW_KIND, 0),
            payout_frozen=by.get(ledger.PAYOUT_KIND, 0),
        )
        for user_id, by in found.items()
    ]


async def balance_state(session: AsyncSession, actor: Actor) -> BalanceState:
    """The caller's balances now (``UNAUTHORIZED`` when signed out)."""
    (state,) = await balance_states(session, [actor.require_user()])
    return state


async def book_levels(
    session: AsyncSession, market_id: int, touched: set[tuple[bool, int]], *, fee_bps: int
) -> BookLevels:
    """The total now of each ``(is bid, YES price)`` level, aggregated as ``order_book`` does.

    One grouped read: the open limit orders at those levels counted per (side, token, price,
    remaining), each group's units as ``orderbook_trading.level_units`` counts one order (rows
    never become objects, so the cost follows the distinct remainders, not the orders)."""
    yes_prices = sorted({price for _, price in touched})
    now = utcnow()
    side, token, price, remaining = col(Order.side), col(Order.token), col(Order.price), col(Order.remaining)
    rows = await session.execute(
        sql_select(side, token, price, remaining, func.count())
        .where(
            col(Order.market_id) == market_id,
            col(Order.status).in_(OPEN_STATUSES),
            col(Order.kind) == "limit",
            col(Order.expires_at).is_(None) | (col(Order.expires_at) > now),
            ((token == "YES") & price.in_(yes_prices)) | ((token == "NO") & price.in_([SCALE - p for p in yes_prices])),
        )
        .group_by(side, token, price, remaining)
    )
    totals: dict[tuple[bool, int], int] = defaultdict(int)
    for row_side, row_token, row_price, row_remaining, count in rows:
        is_bid, yes_price, units = orderbook_trading.level_units(row_side, row_token, row_price, row_remaining, fee_bps)
        totals[(is_bid, yes_price)] += units * int(count)
    return BookLevels(
        market_id,
        tuple((price, totals[(True, price)]) for is_bid, price in sorted(touched, key=lambda t: -t[1]) if is_bid),
        tuple((price, totals[(False, price)]) for is_bid, price in sorted(touched, key=lambda t: t[1]) if not is_bid),
    )
