"""Traders' public P2P stats: completed orders and the ratings their counterparties gave them.

One ``p2p_profiles`` row per trader, opened on first use, moved by atomic ``UPDATE ... + n`` in
the transaction that completes or rates an order (so concurrent completions never lose a count).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.models import P2PProfile


async def ensure(session: AsyncSession, user_ids: Iterable[int]) -> None:
    """Get-or-create the users' rows; concurrent callers neither fail nor duplicate them."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    for user_id in sorted(set(user_ids)):
        await session.execute(
            dialect.insert(P2PProfile).values(user_id=user_id).on_conflict_do_nothing(index_elements=["user_id"])
        )


async def completed(session: AsyncSession, user_ids: Iterable[int]) -> None:
    """An order of theirs completed: one more completed order each."""
    ids = sorted(set(user_ids))
    await ensure(session, ids)
    await session.execute(
        update(P2PProfile)
        .where(col(P2PProfile.user_id).in_(ids))
        .values(completed_orders=P2PProfile.completed_orders + 1)
    )


async def rated(session: AsyncSession, user_id: int, rating: int) -> None:
    await ensure(session, [user_id])
    await session.execute(
        update(P2PProfile)
        .where(col(P2PProfile.user_id) == user_id)
        .values(rating_sum=P2PProfile.rating_sum + rating, rating_count=P2PProfile.rating_count + 1)
    )


def stats(profile: P2PProfile | None) -> tuple[int, float]:
    """(completed orders, average rating rounded to 0.1; 0.0 before the first rating)."""
    if profile is None:
        return 0, 0.0
    avg = round(profile.rating_sum / profile.rating_count, 1) if profile.rating_count else 0.0
    return profile.completed_orders, avg


async def of_users(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, tuple[int, float]]:
    ids = sorted(set(user_ids))
    rows = await session.scalars(
        select(P2PProfile).where(col(P2PProfile.user_id).in_(ids)).execution_options(populate_existing=True)
    )
    found = {row.user_id: stats(row) for row in rows}
    return {user_id: found.get(user_id, (0, 0.0)) for user_id in ids}
