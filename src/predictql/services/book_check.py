"""Is ``book_levels`` what the open orders say? (the triggers of migration 0017 keep it)

The published levels read ``book_levels`` instead of the orders, so a count drifting from the
orders would show subscribers and snapshots different books. This recounts the open limit orders
(a full read: for cron, ``predictql ledger check``, and the tests after order-book scenarios)
and names each key whose kept count differs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from predictql.models import BookLevel, Order
from predictql.models.orders import OPEN_STATUSES

Key = tuple[int, str, int, str, int]  # market_id, token, price, side, remaining


_KEY = ("market_id", "token", "price", "side", "remaining")


def _key_columns(model: type[Order] | type[BookLevel]) -> list[Any]:
    return [col(getattr(model, name)).label(name) for name in _KEY]


def _counted_query() -> Any:
    """The open limit orders per key (GTD orders past their time included, as ``book_levels``
    counts them until they are swept)."""
    key = _key_columns(Order)
    return (
        select(*key, func.count().label("n"))
        .where(col(Order.status).in_(OPEN_STATUSES), col(Order.kind) == "limit")
        .group_by(*key)
    )


def _kept_query() -> Any:
    return select(*_key_columns(BookLevel), col(BookLevel.orders).label("n"))


async def counted(session: AsyncSession) -> dict[Key, int]:
    """The open limit orders per key, from ``orders``."""
    return {_key(row): int(row[5]) for row in await session.execute(_counted_query())}


async def kept(session: AsyncSession) -> dict[Key, int]:
    return {_key(row): int(row[5]) for row in await session.execute(_kept_query())}


def _key(row: tuple[object, ...]) -> Key:
    market_id, token, price, side, remaining = row[:5]
    return int(market_id), str(token), int(price), str(side), int(remaining)  # type: ignore[call-overload]


async def differences(session: AsyncSession) -> list[tuple[Key, int, int]]:
    """(key, kept, counted) for every key where ``book_levels`` and the orders disagree, in order.
    One statement, so one snapshot: read apart, a batch committing between the two reads (the
    check runs on a live server's database, outside any transaction) would show a difference that
    is not there."""
    kept_part = _kept_query().add_columns(literal(0).label("want"))
    counted_part = _counted_query().subquery()
    counted_rows = select(
        *[counted_part.c[name] for name in _KEY], literal(0).label("n"), counted_part.c.n.label("want")
    )
    both = union_all(kept_part, counted_rows).subquery()
    key = [both.c[name] for name in _KEY]
    have, want = func.sum(both.c.n), func.sum(both.c.want)
    query = select(*key, have, want).group_by(*key).having(have != want).order_by(*key)
    return [(_key(row), int(row[5]), int(row[6])) for row in await session.execute(query)]
