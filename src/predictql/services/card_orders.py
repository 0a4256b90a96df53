"""Card orders: RUB in and out by bank card, run by an operator, 0 % fee.

* **deposit**: ``pending`` -> the user pays the platform card and says so (``paid_by_user``) -> an
  operator sees the money and completes it: the balance is credited through the ledger
  (``deposit``). An operator may also complete a ``pending`` deposit whose money arrived before the
  user said so, or reject either (nothing was credited).
* **withdraw**: the amount is debited into the payout hold when the order is created (after the
  money-out gates, ``services.money_out``); the operator pays the user's card and completes it
  (the hold leaves to the world) or rejects it (the hold returns). The user may cancel only while
  ``pending``; a cancelled withdraw is refunded.

Each change is a conditional ``UPDATE ... WHERE status = <the status read>``: of two racing
settlements exactly one matches, the other answers ``INVALID_ORDER_STATUS`` (409). Each change
notifies the owner, goes on their ``user:{id}:card_orders`` stream and on the back-office queue, and
an operator's action is written to the audit log, all in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from predictql.models import CardMessage, CardOrder
from predictql.services import audit, money_out, notifications, users
from predictql.services.cursors import Page, PageArgs, keyset_page, where_given
from predictql.services.notifications import Draft
from predictql.settings import Settings
from predictql.subscriptions import topics
from predictql.subscriptions.payloads import CardOrderState

TYPES = ("deposit", "withdraw")
STATUSES = ("pending", "paid_by_user", "completed", "cancelled", "rejected")
OPEN = ("pending", "paid_by_user")  # waiting for the user or an operator
MAX_MESSAGE = 2000
MAX_DETAIL = 100
DETAIL_KEYS = {
    "card_number": "card_number",
    "bank_name": "bank_name",
    "bank": "bank_name",
    "holder_name": "holder_name",
    "holder": "holder_name",
}
SUBJECT = "card_order"


def rub(kopecks: int) -> str:
    return f"{kopecks // 100}.{kopecks % 100:02d} RUB"


@dataclass(frozen=True, slots=True)
class Limits:
    bank_name: str
    card_number: str
    holder_name: str
    min_amount: int
    max_amount: int


def limits(settings: Settings) -> Limits:
    return Limits(
        settings.card_bank_name,
        settings.card_number,
        settings.card_holder_name,
        settings.card_min_kopecks,
        settings.card_max_kopecks,
    )


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def payment_details(raw: object, *, required: bool) -> dict[str, str] | None:
    """The user's card for a withdraw: ``card_number`` (13-19 digits, spaces or dashes allowed,
    Luhn-valid), optional ``bank_name``/``bank`` and ``holder_name``/``holder``."""
    if raw is None:
        if required:
            raise InvalidInput("payment_details with card_number is required for a withdraw", field="paymentDetails")
        return None
    if not isinstance(raw, dict) or not set(raw) <= set(DETAIL_KEYS):
        raise InvalidInput(f"payment_details takes only {', '.join(DETAIL_KEYS)}", field="paymentDetails")
    details: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_DETAIL:
            raise InvalidInput(f"payment_details.{key} must be a non-empty string", field="paymentDetails")
        details[DETAIL_KEYS[key]] = value.strip()
    number = details.get("card_number", "").replace(" ", "").replace("-", "")
    if "card_number" in details or required:
        if not (number.isascii() and number.isdigit() and 13 <= len(number) <= 19 and luhn_ok(number)):
            raise InvalidInput("card_number is not a valid card number", "INVALID_CARD_NUMBER", field="paymentDetails")
        details["card_number"] = number
    return details


def _check_amount(settings: Settings, amount: int) -> None:
    if amount < settings.card_min_kopecks:
        raise DomainError(f"the smallest card order is {settings.card_min_kopecks} kopecks", "AMOUNT_TOO_LOW")
    if amount > settings.card_max_kopecks:
        raise DomainError(f"the largest card order is {settings.card_max_kopecks} kopecks", "AMOUNT_TOO_HIGH")


async def create(
    session: AsyncSession, actor: Actor, settings: Settings, *, type: str, amount: int, details: object = None
) -> CardOrder:
    """A deposit or withdraw order of the caller's; a withdraw is debited now."""
    user_id = actor.require_write()
    if type not in TYPES:
        raise InvalidInput("type must be deposit or withdraw", field="type")
    _check_amount(settings, amount)
    card = payment_details(details, required=type == "withdraw")
    cash = await money_out.lock_user_money(session, user_id)
    if type == "deposit":
        open_deposit = await session.scalar(
            select(CardOrder.id)
            .where(col(CardOrder.user_id) == user_id, col(CardOrder.type) == "deposit", col(CardOrder.status).in_(OPEN))
            .limit(1)
        )
        if open_deposit is not None:
            raise Conflict("finish or cancel your open card deposit first", "ACTIVE_DEPOSIT_ORDER_EXISTS")
    else:
        await money_out.check_gates(session, settings, user_id, amount, cash)
    now = utcnow()
    order = CardOrder(
        user_id=user_id,
        type=type,
        amount=amount,
        status="pending",
        payment_details=card,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    assert order.id is not None
    if type == "withdraw":
        await money_out.hold(session, user_id, amount, (SUBJECT, order.id))
    await _changed(session, order, None)
    return order


async def _own(session: AsyncSession, actor: Actor, order_id: int, *, operator_ok: bool = False) -> CardOrder:
    """The caller's order (an operator's: any), fresh from the database; another's is not found."""
    user_id = actor.require_user()
    order = await session.get(CardOrder, order_id, populate_existing=True)
    if order is None or (order.user_id != user_id and not (operator_ok and (actor.is_operator or actor.is_admin))):
        raise NotFound("card order not found", "ORDER_NOT_FOUND", field="id")
    return order


def _not_own(order: CardOrder, operator_id: int) -> None:
    """Four eyes: an operator never settles their own money."""
    if order.user_id == operator_id:
        raise Forbidden("operators cannot settle their own card orders")


async def _move(session: AsyncSession, order: CardOrder, allowed: tuple[str, ...], to: str, **values: Any) -> str:
    """``order`` from its status (one of ``allowed``) to ``to``, once; the status it left."""
    before = order.status
    if before not in allowed:
        raise Conflict(f"card order is {before}", "INVALID_ORDER_STATUS")
    now = utcnow()
    result = await session.execute(
        update(CardOrder)
        .where(col(CardOrder.id) == order.id, col(CardOrder.status) == before)
        .values(status=to, updated_at=now, **values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("card order changed meanwhile; reload it", "INVALID_ORDER_STATUS")
    await session.refresh(order)
    return before


TEXT = {
    "pending": "Card {type} order #{id} for {amount} was created.",
    "paid_by_user": "Card deposit #{id}: your payment of {amount} awaits the operator's check.",
    "completed": "Card {type} order #{id} for {amount} is completed.",
    "cancelled": "Card {type} order #{id} for {amount} was cancelled.",
    "rejected": "Card {type} order #{id} for {amount} was rejected by the operator.",
}


async def _changed(session: AsyncSession, order: CardOrder, actor: Actor | None, before: str | None = None) -> None:
    """Notify the owner, push the order on their stream and on the back-office queue; audit an
    operator's action."""
    assert order.id is not None
    state = CardOrderState.of(order)
    topics.card_order_changed(session, state)
    topics.backoffice_item_changed(session, SUBJECT, order.id, order.status, open=order.status in OPEN)
    message = TEXT[order.status].format(type=order.type, id=order.id, amount=rub(order.amount))
    await notifications.create(
        session, Draft(order.user_id, "card_order_updated", "Card Order", message, SUBJECT, order.id)
    )
    if actor is not None:
        await audit.record(
            session,
            actor,
            f"card_order.{'complete' if order.status == 'completed' else 'reject'}",
            SUBJECT,
            order.id,
            before={"status": before},
            after={"status": order.status},
            note=order.note,
        )


async def confirm_paid(session: AsyncSession, actor: Actor, *, order_id: int) -> CardOrder:
    """The owner says the bank transfer of a deposit is sent: ``pending`` -> ``paid_by_user``."""
    actor.require_write()
    order = await _own(session, actor, order_id)
    if order.type != "deposit":
        raise Conflict("only a deposit is confirmed as paid", "INVALID_ORDER_STATUS")
    await _move(session, order, ("pending",), "paid_by_user", paid_at=utcnow())
    await _changed(session, order, None)
    return order


async def cancel(session: AsyncSession, actor: Actor, *, order_id: int) -> CardOrder:
    """The owner cancels a ``pending`` order; a withdraw's amount returns to the balance."""
    actor.require_write()
    order = await _own(session, actor, order_id)
    await _move(session, order, ("pending",), "cancelled", closed_at=utcnow())
    if order.type == "withdraw":
        await money_out.release(session, order.user_id, order.amount, (SUBJECT, order_id))
    await _changed(session, order, None)
    return order


async def _close(
    session: AsyncSession, actor: Actor, order_id: int, to: str, note: str | None
) -> tuple[CardOrder, str]:
    """An operator closes an open order that is not their own (``complete``, ``reject``), with their
    note: the order, moved to ``to``, and the status it left; the money is the caller's."""
    operator_id = actor.require_operator()
    order = await _own(session, actor, order_id, operator_ok=True)
    _not_own(order, operator_id)
    before = await _move(
        session, order, OPEN, to, closed_at=utcnow(), operator_id=operator_id, note=money_out.operator_note(note)
    )
    return order, before


async def complete(session: AsyncSession, actor: Actor, *, order_id: int, note: str | None = None) -> CardOrder:
    """An operator completes an open order: a deposit is credited, a withdraw's hold is paid out."""
    order, before = await _close(session, actor, order_id, "completed", note)
    if order.type == "deposit":
        await users.deposit(session, user_id=order.user_id, amount=order.amount)
    else:
        await money_out.pay_out(session, order.user_id, order.amount, 0, (SUBJECT, order_id))
    await _changed(session, order, actor, before)
    return order


async def reject(session: AsyncSession, actor: Actor, *, order_id: int, note: str | None = None) -> CardOrder:
    """An operator rejects an open order (money not received, card refused); a withdraw is refunded."""
    order, before = await _close(session, actor, order_id, "rejected", note)
    if order.type == "withdraw":
        await money_out.release(session, order.user_id, order.amount, (SUBJECT, order_id))
    await _changed(session, order, actor, before)
    return order


async def my_orders(
    session: AsyncSession, actor: Actor, *, type: str | None, limit: int, offset: int
) -> list[CardOrder]:
    user_id = actor.require_user()
    query = select(CardOrder).where(col(CardOrder.user_id) == user_id)
    if type is not None:
        query = query.where(col(CardOrder.type) == type)
    return list(await session.scalars(query.order_by(col(CardOrder.id).desc()).limit(limit).offset(offset)))


async def my_page(session: AsyncSession, actor: Actor, args: PageArgs, *, type: str | None = None) -> Page[CardOrder]:
    user_id = actor.require_user()
    query = select(CardOrder).where(col(CardOrder.user_id) == user_id)
    if type is not None:
        query = query.where(col(CardOrder.type) == type)
    return await keyset_page(session, query, col(CardOrder.id), args)


async def queue(
    session: AsyncSession,
    actor: Actor,
    args: PageArgs,
    *,
    statuses: tuple[str, ...] = OPEN,
    type: str | None = None,
    user_id: int | None = None,
) -> Page[CardOrder]:
    """The back office's card orders, newest first: open ones unless ``statuses`` says otherwise."""
    actor.require_operator()
    query = select(CardOrder).where(col(CardOrder.status).in_(statuses))
    query = where_given(query, (CardOrder.type, type), (CardOrder.user_id, user_id))
    return await keyset_page(session, query, col(CardOrder.id), args)


# -- the order's chat between its owner and the operators ------------------------------------


def _text(message: object) -> str:
    if not isinstance(message, str) or not message.strip():
        raise InvalidInput("message must be a non-empty string", "INVALID_MESSAGE", field="message")
    if len(message) > MAX_MESSAGE:
        raise InvalidInput(f"message is longer than {MAX_MESSAGE} characters", "INVALID_MESSAGE", field="message")
    return message.strip()


async def post_message(session: AsyncSession, actor: Actor, *, order_id: int, message: object) -> CardMessage:
    """The owner writes to the operators, or an operator answers; an operator's answer notifies the owner."""
    sender = actor.require_write()
    text = _text(message)
    order = await _own(session, actor, order_id, operator_ok=True)
    from_operator = sender != order.user_id
    row = CardMessage(order_id=order_id, sender_id=sender, from_operator=from_operator, message=text)
    session.add(row)
    await session.flush()
    if from_operator:
        await notifications.create(
            session,
            Draft(
                order.user_id,
                "card_order_message",
                "Card Order",
                f"The operator wrote about card order #{order_id}.",
                SUBJECT,
                order_id,
            ),
        )
        await audit.record(session, actor, "card_order.message", SUBJECT, order_id, after={"message_id": row.id})
    else:
        topics.backoffice_item_changed(session, SUBJECT, order_id, order.status, open=order.status in OPEN)
    return row


async def messages(session: AsyncSession, actor: Actor, *, order_id: int, limit: int, offset: int) -> list[CardMessage]:
    """The chat oldest first."""
    await _own(session, actor, order_id, operator_ok=True)
    query = select(CardMessage).where(col(CardMessage.order_id) == order_id).order_by(col(CardMessage.id))
    return list(await session.scalars(query.limit(limit).offset(offset)))


async def message_page(session: AsyncSession, actor: Actor, args: PageArgs, *, order_id: int) -> Page[CardMessage]:
    """The chat newest first (GraphQL connection)."""
    await _own(session, actor, order_id, operator_ok=True)
    query = select(CardMessage).where(col(CardMessage.order_id) == order_id)
    return await keyset_page(session, query, col(CardMessage.id), args)
