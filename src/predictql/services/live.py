"""Snapshots for live streams: what a subscriber is shown on connect and again after a gap.

Each is one short read with the caller's visibility rules (a hidden event is as missing as an
unknown one); the payload shapes are ``subscriptions.topics``'s, so a snapshot and the live
messages that follow it look alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, cast, func, inspect, literal, null, union_all
from sqlalchemy import select as sql_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import NotFound
from predictql.models import BookLevel, LedgerAccount, Order, core
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
    user_ids = sorted(marked.balances)
    touched = [(market_id, levels) for market_id, levels in sorted(marked.book.items()) if levels]
    if user_ids and touched:  # an order-book batch: both reads in one statement
        balances, books = await _balances_and_levels(session, user_ids, touched, fee_bps=fee_bps)
    else:
        balances = await balance_states(session, user_ids)
        books = [await book_levels(session, market_id, levels, fee_bps=fee_bps) for market_id, levels in touched]
    topics.publish_final(session, marked, balances, books)


def _balances_query(user_ids: Any, *, postgres: bool) -> Any:
    """The accounts of ``user_ids`` (a list, or a parameter's name: ``core.among``)."""
    return select(col(LedgerAccount.user_id), col(LedgerAccount.kind), col(LedgerAccount.balance)).where(
        core.among(col(LedgerAccount.user_id), user_ids, postgres=postgres)
    )


def _balance_rows(user_ids: Sequence[int], rows: Iterable[tuple[Any, Any, Any]]) -> list[BalanceState]:
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


async def balance_states(session: AsyncSession, user_ids: Sequence[int]) -> list[BalanceState]:
    """Each user's cash, bonus and escrow now (one query for all of them)."""
    if not user_ids:
        return []
    query = _balances_query(user_ids, postgres=core.on_postgresql(session))
    return _balance_rows(user_ids, await session.execute(query))


async def balance_state(session: AsyncSession, actor: Actor) -> BalanceState:
    """The caller's balances now (``UNAUTHORIZED`` when signed out)."""
    (state,) = await balance_states(session, [actor.require_user()])
    return state


def _levels_query(market_id: Any, yes_prices: Any, no_prices: Any, now: Any, *, postgres: bool) -> Any:
    """The open limit orders at the YES prices ``yes_prices`` (``no_prices``: the same levels as
    NO prices) counted per (side, token, price, remaining); values or bound parameters (the price
    lists: lists, or parameters' names, ``core.among``).

    The counts kept in ``book_levels`` (a few rows a level, whatever its depth), less the GTD
    orders among them already past their time but not yet swept (counted negatively; read through
    the orders' (market, status, expires_at) index, so their cost is theirs: a batch sweeps its
    market's due orders first, and usually there are none)."""

    def at_levels(token: Any, price: Any) -> Any:
        return ((token == "YES") & core.among(price, yes_prices, postgres=postgres)) | (
            (token == "NO") & core.among(price, no_prices, postgres=postgres)
        )

    level = core.table(BookLevel).c
    kept = sql_select(level.side, level.token, level.price, level.remaining, level.orders).where(
        level.market_id == market_id, at_levels(level.token, level.price)
    )
    side, token, price, remaining = col(Order.side), col(Order.token), col(Order.price), col(Order.remaining)
    due = (
        sql_select(side, token, price, remaining, -func.count())
        .where(
            col(Order.market_id) == market_id,
            col(Order.status).in_(OPEN_STATUSES),
            col(Order.expires_at) <= now,
            col(Order.kind) == "limit",
            at_levels(token, price),
        )
        .group_by(side, token, price, remaining)
    )
    return union_all(kept, due)


def _levels(
    market_id: int, touched: set[tuple[bool, int]], rows: Iterable[tuple[Any, Any, Any, Any, Any]], fee_bps: int
) -> BookLevels:
    totals: dict[tuple[bool, int], int] = defaultdict(int)
    for row_side, row_token, row_price, row_remaining, count in rows:
        is_bid, yes_price, units = orderbook_trading.level_units(row_side, row_token, row_price, row_remaining, fee_bps)
        totals[(is_bid, yes_price)] += units * int(count)
    return BookLevels(
        market_id,
        tuple((price, totals[(True, price)]) for is_bid, price in sorted(touched, key=lambda t: -t[1]) if is_bid),
        tuple((price, totals[(False, price)]) for is_bid, price in sorted(touched, key=lambda t: t[1]) if not is_bid),
    )


async def book_levels(
    session: AsyncSession, market_id: int, touched: set[tuple[bool, int]], *, fee_bps: int
) -> BookLevels:
    """The total now of each ``(is bid, YES price)`` level, aggregated as ``order_book`` does.

    One grouped read: the open limit orders at those levels counted per (side, token, price,
    remaining), each group's units as ``orderbook_trading.level_units`` counts one order (rows
    never become objects, so the cost follows the distinct remainders, not the orders)."""
    yes_prices = sorted({price for _, price in touched})
    postgres = core.on_postgresql(session)
    query = _levels_query(market_id, yes_prices, [SCALE - p for p in yes_prices], utcnow(), postgres=postgres)
    rows = await session.execute(query)
    return _levels(market_id, touched, rows, fee_bps)


def _shaped(part: int, query: Any, picks: tuple[int | None, ...]) -> Any:
    """``query``'s columns ``picks`` (an index, or None for a NULL) as (part, n1, n2, n3, t1, t2)."""
    columns = list(query.subquery().c)
    number: Any = BigInteger()
    text: Any = String()
    out: list[Any] = [literal(part).label("part")]
    for name, pick, type_ in zip(
        ("n1", "n2", "n3", "t1", "t2"), picks, (number, number, number, text, text), strict=True
    ):
        out.append(cast(null() if pick is None else columns[pick], type_).label(name))
    return sql_select(*out)


@cache
def _balances_and_levels_statement(markets: int, postgres: bool) -> Any:
    """Built once per number of markets and store (its cache key is then memoized; on PostgreSQL
    its text is one whatever the lists' lengths, ``core.among``): the balances of the
    users ``user_ids`` and, for each market ``i`` (from 1), the grouped levels at ``yes_<i>`` (YES
    prices) and ``no_<i>`` (NO prices) of ``market_<i>``, open at ``now``."""
    balances = _balances_query("user_ids", postgres=postgres)
    # balances: user_id, kind, balance -> n1 user_id, n2 balance, t1 kind
    parts = [_shaped(0, balances, (0, 2, None, 1, None))]
    for index in range(1, markets + 1):
        levels = _levels_query(
            bindparam(f"market_{index}", type_=BigInteger),
            f"yes_{index}",
            f"no_{index}",
            bindparam("now", type_=core.table(Order).c.expires_at.type),
            postgres=postgres,
        )
        # levels: side, token, price, remaining, count -> n1 price, n2 remaining, n3 count, t1 side, t2 token
        parts.append(_shaped(index, levels, (2, 3, 4, 0, 1)))
    return union_all(*parts)


async def _balances_and_levels(
    session: AsyncSession,
    user_ids: Sequence[int],
    touched: Sequence[tuple[int, set[tuple[bool, int]]]],
    *,
    fee_bps: int,
) -> tuple[list[BalanceState], list[BookLevels]]:
    """``balance_states`` and each market's ``book_levels`` in one round trip: a ``UNION ALL`` of
    those reads, each row tagged with its part and padded to one shape (part, three numbers, two
    strings), read at one moment as the separate reads were, one after the other."""
    params: dict[str, Any] = {"user_ids": list(user_ids), "now": utcnow()}
    for index, (market_id, levels) in enumerate(touched, start=1):
        yes_prices = sorted({price for _, price in levels})
        params.update({f"market_{index}": market_id, f"yes_{index}": yes_prices})
        params[f"no_{index}"] = [SCALE - p for p in yes_prices]
    balance_rows: list[tuple[Any, Any, Any]] = []
    level_rows: dict[int, list[tuple[Any, Any, Any, Any, Any]]] = defaultdict(list)
    for part, n1, n2, n3, t1, t2 in await session.execute(
        _balances_and_levels_statement(len(touched), core.on_postgresql(session)), params
    ):
        if part == 0:
            balance_rows.append((n1, t1, n2))
        else:
            level_rows[part].append((t1, t2, n1, n2, n3))
    balances = _balance_rows(user_ids, balance_rows)
    books = [
        _levels(market_id, levels, level_rows[index], fee_bps)
        for index, (market_id, levels) in enumerate(touched, start=1)
    ]
    return balances, books
