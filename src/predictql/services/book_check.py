"""Is ``book_levels`` what the open orders say? (the triggers of migration 0017 keep it)

The published levels read ``book_levels`` instead of the orders, so a count drifting from the
orders would show subscribers and snapshots different books. This recounts the open limit orders
(a full read: for cron, ``predictql ledger check``, and the tests after order-book scenarios)
and names each key whose kept count differs.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from predictql.models import BookLevel, Order
from predictql.models.orders import OPEN_STATUSES

Key = tuple[int, str, int, str, int]  # market_id, token, price, side, remaining


async def counted(session: AsyncSession) -> dict[Key, int]:
    """The open limit orders per key, from ``orders`` (GTD orders past their time included, as
    ``book_levels`` counts them until they are swept)."""
    key = (col(Order.market_id), col(Order.token), col(Order.price), col(Order.side), col(Order.remaining))
    query = (
        select(*key, func.count())
        .where(col(Order.status).in_(OPEN_STATUSES), col(Order.kind) == "limit")
        .group_by(*key)
    )
    return {_key(row): int(row[5]) for row in await session.execute(query)}


async def kept(session: AsyncSession) -> dict[Key, int]:
    level = BookLevel
    key = (col(level.market_id), col(level.token), col(level.price), col(level.side), col(level.remaining))
    return {_key(row): int(row[5]) for row in await session.execute(select(*key, col(level.orders)))}


def _key(row: tuple[object, ...]) -> Key:
    market_id, token, price, side, remaining = row[:5]
    return int(market_id), str(token), int(price), str(side), int(remaining)  # type: ignore[call-overload]


async def differences(session: AsyncSession) -> list[tuple[Key, int, int]]:
    """(key, kept, counted) for every key where ``book_levels`` and the orders disagree, in order."""
    have, want = await kept(session), await counted(session)
    keys = sorted(have.keys() | want.keys())
    return [(k, have.get(k, 0), want.get(k, 0)) for k in keys if have.get(k) != want.get(k)]
