"""P2P payment windows end on time: every ``serve`` process sweeps pending orders whose
``expires_at`` has passed and cancels them, escrow back to the seller.

Concurrent sweeps (several processes) are safe: each order is cancelled under its row lock after
re-reading its status and deadline (``p2p_orders.lock``), so its escrow returns exactly once; a
buyer who confirmed payment just before the sweep keeps the order.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.db import Database, utcnow
from predictql.models import P2POrder
from predictql.services import notifications, p2p_flow, p2p_orders, periodic
from predictql.services.notifications import Draft

log = logging.getLogger("predictql.p2p")
BATCH = 100


async def due(session: AsyncSession, now: datetime) -> list[int]:
    rows = await session.scalars(
        select(col(P2POrder.id))
        .where(col(P2POrder.status) == "pending", col(P2POrder.expires_at) <= now)
        .order_by(col(P2POrder.id))
        .limit(BATCH)
    )
    return [int(row or 0) for row in rows]


async def expire(session: AsyncSession, order_id: int, now: datetime) -> bool:
    """Cancel one order if it is still pending past its window; whether it was."""
    order = await p2p_orders.lock(session, order_id)
    if order.status != "pending" or order.expires_at is None or order.expires_at > now:
        return False
    await p2p_flow.refund(session, order, now, "expired")
    await notifications.create_many(
        session,
        [
            Draft(
                user,
                "p2p_order_expired",
                "P2P order expired",
                f"Order #{order.id} was not paid in time and is cancelled",
                "p2p_order",
                order.id,
            )
            for user in (order.buyer_id, order.seller_id)
        ],
    )
    return True


async def sweep(db: Database) -> int:
    """Expire what is due now, one short transaction per order; how many were cancelled."""
    now = utcnow()
    async with db.session() as session:
        ids = await due(session, now)
    cancelled = 0
    for order_id in ids:
        async with db.transaction() as session:
            cancelled += await expire(session, order_id, now)
    return cancelled


async def sweep_forever(db: Database, interval: float) -> None:
    await periodic.every(interval, lambda: sweep(db), log, "the P2P expiry sweep")
