"""The operator side of P2P: disputes and ad moderation. Operators and admins only.

Ads are live when published (the documents know no pre-moderation; ``moderation_status`` is
"approved"); an operator hides a bad one (``hidden``: out of listings, not takeable) or shows it
again. A dispute is resolved to the buyer (escrow released to them, order completed) or to the
seller (escrow back, order cancelled), exactly once under the order's row lock. Every action is
audited and announced on the back-office channel in its own transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, InvalidInput, NotFound
from predictql.models import P2PAd, P2POrder
from predictql.services import audit, notifications, p2p_flow, p2p_orders
from predictql.services.cursors import Page, PageArgs, keyset_page
from predictql.services.notifications import Draft
from predictql.subscriptions import topics

SIDES = ("buyer", "seller")
MODERATION = ("approved", "hidden")


async def disputes(
    session: AsyncSession, actor: Actor, page: PageArgs, *, open_only: bool = True, user_id: int | None = None
) -> Page[P2POrder]:
    """Orders in dispute (or, ``open_only`` False, every order an operator was called on), newest
    first, optionally of one participant."""
    actor.require_operator()
    query = select(P2POrder).where(col(P2POrder.operator_called))
    if open_only:
        query = query.where(col(P2POrder.status) == "dispute")
    if user_id is not None:
        query = query.where((col(P2POrder.buyer_id) == user_id) | (col(P2POrder.seller_id) == user_id))
    return await keyset_page(session, query, col(P2POrder.id), page)


def _snapshot(order: P2POrder) -> dict[str, Any]:
    return {"status": order.status, "frozen_balance": order.frozen_balance, "resolution": order.resolution}


async def resolve(session: AsyncSession, actor: Actor, *, order_id: int, to: str, note: str | None = None) -> P2POrder:
    """Settle a dispute: ``to`` buyer releases the escrow to the buyer, seller returns it."""
    actor.require_operator()
    if to not in SIDES:
        raise InvalidInput("resolve to buyer or seller", field="to")
    order = await p2p_orders.lock(session, order_id)
    if order.status != "dispute":
        raise Conflict(f"the order is {order.status}, not in dispute", code="ORDER_NOT_OPEN")
    before, now = _snapshot(order), utcnow()
    order.resolution = to
    if to == "buyer":
        await p2p_flow.release(session, order, now)
    else:
        await p2p_flow.refund(session, order, now, "operator")
    await audit.record(
        session,
        actor,
        "p2p_dispute.resolve",
        "p2p_order",
        order.id or 0,
        before=before,
        after=_snapshot(order),
        note=note,
    )
    topics.backoffice_item_changed(session, "p2p_dispute", order.id or 0, order.status, open=False)
    text = f"An operator resolved the dispute on order #{order.id} in favour of the {to}"
    await notifications.create_many(
        session,
        [
            Draft(user, "p2p_dispute_resolved", "P2P dispute resolved", text, "p2p_order", order.id)
            for user in sorted({order.buyer_id, order.seller_id})
        ],
    )
    return order


async def ads(
    session: AsyncSession,
    actor: Actor,
    page: PageArgs,
    *,
    moderation_status: str | None = None,
    user_id: int | None = None,
) -> Page[P2PAd]:
    """Ads for moderation, newest first: by moderation state (approved or hidden) and owner."""
    actor.require_operator()
    query = select(P2PAd).where(col(P2PAd.moderation_status) != "deleted")
    if moderation_status is not None:
        if moderation_status not in MODERATION:
            raise InvalidInput("moderation status: approved or hidden", field="moderationStatus")
        query = query.where(col(P2PAd.moderation_status) == moderation_status)
    if user_id is not None:
        query = query.where(col(P2PAd.user_id) == user_id)
    return await keyset_page(session, query, col(P2PAd.id), page)


async def moderate(session: AsyncSession, actor: Actor, *, ad_id: int, status: str, note: str | None = None) -> P2PAd:
    """Hide an ad (it leaves listings and takes no new order; open orders run on) or approve it."""
    actor.require_operator()
    if status not in MODERATION:
        raise InvalidInput("moderation status: approved or hidden", field="status")
    ad = await session.get(P2PAd, ad_id, with_for_update=True, populate_existing=True)
    if ad is None or ad.moderation_status == "deleted":
        raise NotFound("ad not found")
    before = {"moderation_status": ad.moderation_status}
    ad.moderation_status, ad.updated_at = status, utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        f"p2p_ad.{'hide' if status == 'hidden' else 'approve'}",
        "p2p_ad",
        ad.id or 0,
        before=before,
        after={"moderation_status": status},
        note=note,
    )
    topics.backoffice_item_changed(session, "p2p_ad", ad.id or 0, status, open=False)
    if before["moderation_status"] != status:
        verb = "hidden" if status == "hidden" else "shown again"
        await notifications.create(
            session,
            Draft(
                ad.user_id,
                "p2p_ad_moderated",
                "P2P ad moderated",
                f"An operator {verb} your {ad.type} ad #{ad.id}",
                "p2p_ad",
                ad.id,
            ),
        )
    return ad
