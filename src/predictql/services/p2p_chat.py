"""The chat of one P2P order: its buyer, its seller and operators; chronological.

Each message is pushed on the order's channel (``p2pOrderMessages``) and notifies the other
people of the order in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.errors import InvalidInput
from predictql.inputs import text_problem
from predictql.models import P2PMessage, P2POrder, User
from predictql.services import audit, notifications, p2p_orders
from predictql.services.notifications import Draft
from predictql.subscriptions import topics

DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 50, 200, 1_000_000
MAX_MESSAGE = 2000


@dataclass(frozen=True, slots=True)
class Chat:
    messages: list[tuple[P2PMessage, User | None]]
    status: str


async def history(
    session: AsyncSession, actor: Actor, *, order_id: int, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> Chat:
    """Oldest first, with each sender, and the order's status now."""
    order = await session.get(P2POrder, order_id)
    if order is None:
        raise p2p_orders.missing()
    p2p_orders.participant(order, actor, staff=True)
    rows = await session.execute(
        select(P2PMessage, User)
        .outerjoin(User, col(User.id) == col(P2PMessage.user_id))
        .where(col(P2PMessage.order_id) == order_id)
        .order_by(col(P2PMessage.id))
        .limit(limit)
        .offset(offset)
    )
    return Chat([(message, user) for message, user in rows], order.status)


def _text(message: str) -> str:
    text = message.strip() if isinstance(message, str) else ""
    if not text or len(text) > MAX_MESSAGE or text_problem(text):
        raise InvalidInput(f"a message is 1 to {MAX_MESSAGE} characters", code="INVALID_MESSAGE", field="message")
    return text


async def _post(session: AsyncSession, order: P2POrder, user_id: int, sender_type: str, text: str) -> P2PMessage:
    row = P2PMessage(order_id=order.id or 0, user_id=user_id, sender_type=sender_type, message=text)
    session.add(row)
    await session.flush()
    topics.p2p_message_posted(session, row)
    told = {order.buyer_id, order.seller_id} - {user_id}
    who = "An operator" if sender_type == "operator" else "Your counterparty"
    await notifications.create_many(
        session,
        [
            Draft(user, "p2p_message", "New P2P message", f"{who} wrote on order #{order.id}", "p2p_order", order.id)
            for user in sorted(told)
        ],
    )
    return row


async def post(session: AsyncSession, actor: Actor, *, order_id: int, message: str) -> P2PMessage:
    """A participant writes; an operator writing here is answering the order's chat (audited)."""
    user_id = actor.require_write()
    text = _text(message)
    order = await session.get(P2POrder, order_id)
    if order is None:
        raise p2p_orders.missing()
    role = p2p_orders.participant(order, actor, staff=True)
    if role != "operator":
        return await _post(session, order, user_id, "user", text)
    row = await _post(session, order, user_id, "operator", text)
    await audit.record(
        session,
        actor,
        "p2p_order.message",
        "p2p_order",
        order.id or 0,
        after={"message_id": row.id, "status": order.status},
    )
    # Other operators see the dispute was answered (it stays open until resolved).
    topics.backoffice_item_changed(session, "p2p_dispute", order.id or 0, order.status, open=order.status == "dispute")
    return row
