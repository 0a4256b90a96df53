"""GTD orders expire on time: a periodic sweep cancels every open order past its expiry and
releases its escrow (``order_lifecycle.expire_orders``), so reserved money and a stale book level
do not wait for the next order on their market. Every process sweeps (``PREDICTQL_ORDER_EXPIRY_SWEEP_SECONDS``);
the markets' row locks make concurrent sweeps safe, and a quiet sweep is one indexed read.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.db import Database, utcnow
from predictql.models import Order
from predictql.services import order_lifecycle, periodic

log = logging.getLogger("predictql.orders")

# Literal, as the partial index ix_orders_open_expiry says it: the planner then uses the index.
OPEN_WITH_EXPIRY = text("orders.status IN ('pending', 'partial') AND orders.expires_at IS NOT NULL")


async def any_due(session: AsyncSession, now: datetime) -> bool:
    found = await session.scalar(select(col(Order.id)).where(OPEN_WITH_EXPIRY, col(Order.expires_at) <= now).limit(1))
    return found is not None


async def sweep(db: Database) -> int:
    """Expire what is due now; how many markets had orders to expire."""
    now = utcnow()
    async with db.session() as session:
        if not await any_due(session, now):
            return 0
    async with db.transaction() as session:
        return await order_lifecycle.expire_orders(session, now=now)


async def sweep_forever(db: Database, interval: float) -> None:
    await periodic.every(interval, lambda: sweep(db), log, "the order expiry sweep")
