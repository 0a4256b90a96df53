"""REST group ``card``: RUB deposits and withdrawals by bank card, run by an operator (0 %).

The guide documents ``/card/limits`` and ``{"id": N}`` for a created order; the rest is inferred
(README "Money in and out: card and crypto withdrawals"): confirm-paid and cancel answer the order
as it now is, ``/card/orders/my`` a bare array of orders newest first, the chat a bare array of
messages oldest first, and a new message ``{"id": N}`` as the P2P chat does. Another user's order
is 404 ``ORDER_NOT_FOUND`` (ids do not reveal what exists); a move its state does not allow is 409
``INVALID_ORDER_STATUS``.
"""

from __future__ import annotations

from typing import Any

from pydantic import StrictInt, StrictStr

from predictql.models import CardMessage, CardOrder
from predictql.rest_compat.routing import ApiRequest, StrictBody, endpoint
from predictql.services import card_orders

DEFAULT_LIMIT, MAX_LIMIT, CHAT_LIMIT, MAX_OFFSET = 20, 100, 50, 1_000_000


def card_order_json(order: CardOrder) -> dict[str, Any]:
    return {
        "id": order.id,
        "user_id": order.user_id,
        "type": order.type,
        "amount_kopecks": order.amount,
        "status": order.status,
        "payment_details": order.payment_details,
        "operator_note": order.note,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "paid_at": order.paid_at,
        "completed_at": order.closed_at if order.status == "completed" else None,
    }


def card_message_json(row: CardMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "order_id": row.order_id,
        "sender": "operator" if row.from_operator else "user",
        "sender_id": row.sender_id,
        "message": row.message,
        "created_at": row.created_at,
    }


@endpoint("GET", "/card/limits", auth="required")
async def limits(api: ApiRequest) -> dict[str, Any]:
    api.actor.require_user()
    found = card_orders.limits(api.settings)
    return {
        "platform_card": {
            "bank_name": found.bank_name,
            "card_number": found.card_number,
            "holder_name": found.holder_name,
        },
        "min_amount_kopecks": found.min_amount,
        "max_amount_kopecks": found.max_amount,
    }


class CardOrderBody(StrictBody):
    type: StrictStr
    amount_kopecks: StrictInt
    payment_details: dict[str, Any] | None = None


@endpoint("POST", "/card/orders", auth="required", body=CardOrderBody)
async def create(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(CardOrderBody)
    async with api.db.transaction() as session:
        order = await card_orders.create(
            session, api.actor, api.settings, type=body.type, amount=body.amount_kopecks, details=body.payment_details
        )
    return {"id": order.id}


@endpoint("POST", "/card/orders/{id}/confirm-paid", auth="required")
async def confirm_paid(api: ApiRequest) -> dict[str, Any]:
    order_id = api.path_int("id")
    async with api.db.transaction() as session:
        order = await card_orders.confirm_paid(session, api.actor, order_id=order_id)
    return card_order_json(order)


@endpoint("POST", "/card/orders/{id}/cancel", auth="required")
async def cancel(api: ApiRequest) -> dict[str, Any]:
    order_id = api.path_int("id")
    async with api.db.transaction() as session:
        order = await card_orders.cancel(session, api.actor, order_id=order_id)
    return card_order_json(order)


@endpoint("GET", "/card/orders/my", auth="required")
async def my_orders(api: ApiRequest) -> list[dict[str, Any]]:
    kind = api.request.query_params.get("type")
    kind = api.query_choice("type", card_orders.TYPES, "deposit") if kind else None
    limit = api.query_int("limit", DEFAULT_LIMIT, lo=1, hi=MAX_LIMIT) or DEFAULT_LIMIT
    offset = api.query_int("offset", 0, lo=0, hi=MAX_OFFSET) or 0
    async with api.db.session() as session:
        rows = await card_orders.my_orders(session, api.actor, type=kind, limit=limit, offset=offset)
    return [card_order_json(row) for row in rows]


@endpoint("GET", "/card/orders/{id}/messages", auth="required")
async def list_messages(api: ApiRequest) -> list[dict[str, Any]]:
    order_id = api.path_int("id")
    limit = api.query_int("limit", CHAT_LIMIT, lo=1, hi=MAX_LIMIT) or CHAT_LIMIT
    offset = api.query_int("offset", 0, lo=0, hi=MAX_OFFSET) or 0
    async with api.db.session() as session:
        rows = await card_orders.messages(session, api.actor, order_id=order_id, limit=limit, offset=offset)
    return [card_message_json(row) for row in rows]


class CardMessageBody(StrictBody):
    message: StrictStr


@endpoint("POST", "/card/orders/{id}/messages", auth="required", body=CardMessageBody)
async def post_message(api: ApiRequest) -> dict[str, Any]:
    order_id = api.path_int("id")
    body = await api.body(CardMessageBody, code="INVALID_MESSAGE")
    async with api.db.transaction() as session:
        row = await card_orders.post_message(session, api.actor, order_id=order_id, message=body.message)
    return {"id": row.id}
