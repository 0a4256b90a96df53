"""P2P order transitions after creation, each exactly once under the order's row lock
(``p2p_orders.lock``): the buyer's confirm-paid, the seller's confirm-received, cancel,
call-operator, the buyer's payment details, ratings; ``release``/``refund`` settle the escrow (also
for the sweeper and the back office). States: see ``p2p_orders``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, Forbidden, InvalidInput
from predictql.inputs import check_json
from predictql.models import P2POrder
from predictql.models.p2p import OPEN_ORDER_STATUSES
from predictql.services import ledger, p2p_ads, p2p_profiles
from predictql.services.p2p_orders import lock, money, participant, tell
from predictql.subscriptions import topics


def _closed(order: P2POrder) -> Conflict:
    return Conflict(f"the order is {order.status}", code="ORDER_NOT_OPEN")


async def confirm_paid(session: AsyncSession, actor: Actor, *, order_id: int) -> P2POrder:
    """The buyer says the fiat was sent: pending -> paid_by_buyer; the payment window closes."""
    actor.require_write()
    order = await lock(session, order_id)
    if participant(order, actor) != "buyer":
        raise Forbidden("only the buyer confirms the payment")
    if order.status != "pending":
        raise _closed(order) if order.status not in OPEN_ORDER_STATUSES else Conflict(f"the order is {order.status}")
    now = utcnow()
    order.status, order.buyer_paid_at, order.expires_at, order.updated_at = "paid_by_buyer", now, None, now
    await session.flush()
    topics.p2p_order_changed(session, order)
    await tell(
        session,
        order,
        [order.seller_id],
        "p2p_order_paid",
        "P2P order paid",
        f"The buyer marked order #{order.id} as paid: check your account and release it",
    )
    return order


async def release(session: AsyncSession, order: P2POrder, now: Any) -> None:
    """Escrow to the buyer; the order is completed (its row locked by the caller)."""
    order.status, order.finished_at, order.updated_at, order.expires_at = "completed", now, now, None
    amount, order.frozen_balance = order.frozen_balance, 0
    await session.flush()
    await ledger.post(
        session,
        kind="p2p_release",
        legs=[(ledger.user_p2p_escrow(order.seller_id), -amount), (ledger.user_cash(order.buyer_id), amount)],
        user_id=order.buyer_id,
        reference=("p2p_order", order.id or 0),
    )
    await p2p_profiles.completed(session, [order.buyer_id, order.seller_id])
    topics.p2p_order_changed(session, order)


async def refund(session: AsyncSession, order: P2POrder, now: Any, reason: str) -> None:
    """Escrow back to the seller and the amount back to the ad; the order is cancelled."""
    order.status, order.cancel_reason, order.finished_at, order.updated_at = "cancelled", reason, now, now
    order.expires_at = None
    amount, order.frozen_balance = order.frozen_balance, 0
    await session.flush()
    await ledger.post(
        session,
        kind="p2p_refund",
        legs=[(ledger.user_p2p_escrow(order.seller_id), -amount), (ledger.user_cash(order.seller_id), amount)],
        user_id=order.seller_id,
        reference=("p2p_order", order.id or 0),
    )
    await p2p_ads.give_back(session, order.ad_id, order.usdt_amount)
    topics.p2p_order_changed(session, order)


async def confirm_received(session: AsyncSession, actor: Actor, *, order_id: int) -> P2POrder:
    """The seller got the fiat: escrow goes to the buyer (from pending or paid_by_buyer)."""
    actor.require_write()
    order = await lock(session, order_id)
    if participant(order, actor) != "seller":
        raise Forbidden("only the seller confirms the receipt")
    if order.status not in ("pending", "paid_by_buyer"):
        raise (
            _closed(order)
            if order.status not in OPEN_ORDER_STATUSES
            else Conflict("the order is in dispute: an operator resolves it")
        )
    await release(session, order, utcnow())
    await tell(
        session,
        order,
        [order.buyer_id],
        "p2p_order_completed",
        "P2P order completed",
        f"Order #{order.id} is completed: {money(order.usdt_amount)} credited",
    )
    return order


async def cancel(session: AsyncSession, actor: Actor, *, order_id: int) -> P2POrder:
    """The buyer cancels before completion; the seller only while the buyer has not paid."""
    actor.require_write()
    order = await lock(session, order_id)
    role = participant(order, actor)
    if order.status not in OPEN_ORDER_STATUSES:
        raise _closed(order)
    if order.status == "dispute":
        raise Conflict("the order is in dispute: an operator resolves it")
    if role == "seller" and order.status != "pending":
        raise Conflict("the buyer marked the order paid: confirm the receipt or call the operator")
    await refund(session, order, utcnow(), role)
    other = order.seller_id if role == "buyer" else order.buyer_id
    await tell(
        session,
        order,
        [other],
        "p2p_order_cancelled",
        "P2P order cancelled",
        f"Order #{order.id} was cancelled by the {role}",
    )
    return order


async def call_operator(session: AsyncSession, actor: Actor, *, order_id: int) -> P2POrder:
    """A participant opens a dispute: the order waits for an operator (no payment window)."""
    actor.require_write()
    order = await lock(session, order_id)
    role = participant(order, actor)
    if order.status not in ("pending", "paid_by_buyer"):
        raise _closed(order) if order.status not in OPEN_ORDER_STATUSES else Conflict("an operator is called already")
    now = utcnow()
    order.status, order.operator_called, order.expires_at, order.updated_at = "dispute", True, None, now
    await session.flush()
    topics.p2p_order_changed(session, order)
    topics.backoffice_item_changed(session, "p2p_dispute", order.id or 0, "dispute", open=True)
    other = order.seller_id if role == "buyer" else order.buyer_id
    await tell(
        session,
        order,
        [other],
        "p2p_dispute_opened",
        "P2P dispute opened",
        f"The {role} called an operator on order #{order.id}",
    )
    return order


async def set_buyer_details(
    session: AsyncSession, actor: Actor, *, order_id: int, payment_details: dict[str, Any]
) -> P2POrder:
    """The buyer says how they pay (payer name, card...), while the order is pending or paid."""
    actor.require_write()
    order = await lock(session, order_id)
    if participant(order, actor) != "buyer":
        raise Forbidden("only the buyer sets the payment details")
    check_json(payment_details, "payment_details")
    if order.status not in ("pending", "paid_by_buyer"):
        raise _closed(order)
    order.buyer_payment_details, order.updated_at = dict(payment_details), utcnow()
    await session.flush()
    topics.p2p_order_changed(session, order)
    return order


async def rate(session: AsyncSession, actor: Actor, *, order_id: int, rating: int) -> P2POrder:
    """One 1..5 rating per participant of a completed order, for the counterparty."""
    actor.require_write()
    if isinstance(rating, bool) or not 1 <= rating <= 5:
        raise InvalidInput("rating must be 1 to 5", code="INVALID_RATING", field="rating")
    order = await lock(session, order_id)
    role = participant(order, actor)
    if order.status != "completed":
        raise InvalidInput("only a completed order can be rated", code="ORDER_NOT_COMPLETED")
    given = "buyer_rating" if role == "buyer" else "seller_rating"
    if getattr(order, given) is not None:
        raise InvalidInput("you rated this order already", code="ALREADY_RATED")
    setattr(order, given, rating)
    order.updated_at = utcnow()
    await session.flush()
    await p2p_profiles.rated(session, order.seller_id if role == "buyer" else order.buyer_id, rating)
    return order
