"""REST group ``p2p`` (UPPER_SNAKE codes): ads, orders, order chat, ratings.

Where the pages show plain-text or 500 answers (create-ad 400, confirm/cancel failures), we answer
the envelope with the status the kind of failure has (DECISIONS rule 8): 400 bad input, 403 not a
participant, 404 unknown order, 409 the order's state does not allow it (``ORDER_NOT_OPEN`` once
it is completed or cancelled, ``CONFLICT`` otherwise). Extension fields: ads carry
``max_payment_duration``; orders ``expires_at``, ``buyer_paid_at``, ``cancel_reason``,
``resolution``, and in the detail ``buyer_payment_details``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictql.errors import InvalidInput
from predictql.models import P2PMessage, P2POrder, User
from predictql.rest_compat.routing import ApiRequest, endpoint
from predictql.services import p2p_ads, p2p_chat, p2p_flow, p2p_orders
from predictql.services.p2p_ads import AdFields, AdFilter, AdView

ADS, ORDERS = "/p2p/ads", "/p2p/orders"
AD_FIELDS = (
    "type",
    "fiat_currency",
    "exchange_rate",
    "min_amount",
    "max_amount",
    "payment_methods",
    "payment_details",
    "instructions",
    "max_payment_duration",
)
UPDATE_FIELDS = (*AD_FIELDS[2:], "is_active")
ORDER_FIELDS = ("ad_id", "usdt_amount", "payment_method", "payment_details", "format")


def ad_json(view: AdView, *, details: bool = False) -> dict[str, Any]:
    ad, owner = view.ad, view.owner
    body = {
        "id": ad.id, "user_id": ad.user_id, "type": ad.type, "fiat_currency": ad.fiat_currency,
        "exchange_rate": ad.exchange_rate, "min_amount": ad.min_amount, "max_amount": ad.max_amount,
        "remaining_amount": ad.remaining_amount, "payment_methods": ad.payment_methods,
        "instructions": ad.instructions, "is_active": ad.is_active, "moderation_status": ad.moderation_status,
        "is_platform_ad": ad.is_platform_ad, "created_at": ad.created_at, "updated_at": ad.updated_at,
        "user": {"id": owner.id, "name": owner.name, "nickname": owner.nickname or "",
                 "avatar_url": owner.avatar_url or "", "completed_orders": view.completed_orders,
                 "p2p_avg_rating": view.avg_rating},
        "user_avg_rating": view.avg_rating, "max_payment_duration": ad.max_payment_duration,
    }  # fmt: skip
    if details:
        body["payment_details"] = ad.payment_details
    return body


def order_json(order: P2POrder) -> dict[str, Any]:
    return {
        "id": order.id, "ad_id": order.ad_id, "buyer_id": order.buyer_id, "seller_id": order.seller_id,
        "usdt_amount": order.usdt_amount, "fiat_amount": order.fiat_amount, "fiat_currency": order.fiat_currency,
        "exchange_rate": order.exchange_rate, "payment_method": order.payment_method, "status": order.status,
        "frozen_balance": order.frozen_balance, "operator_called": order.operator_called,
        "created_at": order.created_at, "updated_at": order.updated_at, "expires_at": order.expires_at,
        "buyer_paid_at": order.buyer_paid_at, "cancel_reason": order.cancel_reason, "resolution": order.resolution,
    }  # fmt: skip


def order_detail_json(order: P2POrder, counterpart: User | None) -> dict[str, Any]:
    other = counterpart and {
        "id": counterpart.id,
        "name": counterpart.name,
        "nickname": counterpart.nickname or "",
        "avatar_url": counterpart.avatar_url or "",
    }
    return {
        **order_json(order),
        "payment_details": order.payment_details,
        "counterpart": other,
        "buyer_payment_details": order.buyer_payment_details,
    }


def message_json(row: P2PMessage, user: User | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "order_id": row.order_id,
        "user_id": row.user_id,
        "sender_type": row.sender_type,
        "message": row.message,
        "created_at": row.created_at,
        "user": {"id": user.id, "name": user.name} if user is not None else None,
    }


def _int(body: Mapping[str, Any], name: str, code: str = "INVALID_REQUEST") -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer", code=code)
    return value


def _str(body: Mapping[str, Any], name: str, code: str = "INVALID_REQUEST") -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", code=code)
    return value


def _obj(body: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise InvalidInput(f"{name} must be an object")
    return value


def _ad_fields(body: Mapping[str, Any]) -> AdFields:
    methods = body.get("payment_methods")
    if methods is not None and (not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)):
        raise InvalidInput("payment_methods must be a list of strings")
    active = body.get("is_active")
    if active is not None and not isinstance(active, bool):
        raise InvalidInput("is_active must be a boolean")
    return AdFields(
        type=_str(body, "type"),
        fiat_currency=_str(body, "fiat_currency"),
        exchange_rate=_int(body, "exchange_rate"),
        min_amount=_int(body, "min_amount"),
        max_amount=_int(body, "max_amount"),
        payment_methods=methods,
        payment_details=_obj(body, "payment_details"),
        instructions=_str(body, "instructions"),
        max_payment_duration=_int(body, "max_payment_duration"),
        is_active=active,
    )


def _flag(api: ApiRequest, name: str) -> bool | None:
    raw = api.request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise InvalidInput(f"{name} must be true or false")
    return raw == "true"


def _text_param(api: ApiRequest, name: str) -> str | None:
    return api.request.query_params.get(name) or None


@endpoint("GET", ADS, auth="none")
async def list_ads(api: ApiRequest) -> dict[str, Any]:
    """Extension: ``is_active=false`` lists paused ads; without it, active ads only."""
    kind = _text_param(api, "type")
    filters = AdFilter(
        type=kind,
        fiat_currency=_text_param(api, "fiat_currency"),
        amount=api.query_int("amount"),
        payment_method=_text_param(api, "payment_method"),
        max_payment_duration=api.query_int("max_payment_duration", lo=1, hi=10_000),
        is_active=_flag(api, "is_active") is not False,
        author_nickname=_text_param(api, "author_nickname"),
    )
    sort = api.query_choice("sort_by", p2p_ads.SORTS, "rating")
    limit = api.query_int("limit", p2p_ads.DEFAULT_LIMIT, lo=1, hi=p2p_ads.MAX_LIMIT) or p2p_ads.DEFAULT_LIMIT
    offset = api.query_int("offset", 0, lo=0, hi=p2p_ads.MAX_OFFSET) or 0
    async with api.db.session() as session:
        views = await p2p_ads.list_ads(session, filters, sort=sort, limit=limit, offset=offset)
    return {"ads": [ad_json(view) for view in views]}


@endpoint("GET", ADS + "/{id}", auth="optional")
async def get_ad(api: ApiRequest) -> dict[str, Any]:
    """The owner also sees ``payment_details``."""
    ad_id = api.path_int("id")
    async with api.db.session() as session:
        view = await p2p_ads.get_ad(session, api.actor, ad_id=ad_id)
    return ad_json(view, details=api.actor.user_id == view.ad.user_id)


@endpoint("POST", ADS, auth="required")
async def create_ad(api: ApiRequest) -> dict[str, Any]:
    """Extension: ``max_payment_duration`` (minutes, 5-180, default 15), ``is_active``."""
    fields = _ad_fields(await api.json_object((*AD_FIELDS, "is_active")))
    async with api.db.transaction() as session:
        ad = await p2p_ads.create_ad(session, api.actor, fields)
    return {"id": ad.id}


@endpoint("PUT", ADS + "/{id}", auth="required")
async def update_ad(api: ApiRequest) -> dict[str, bool]:
    ad_id = api.path_int("id")
    fields = _ad_fields(await api.json_object(UPDATE_FIELDS))
    async with api.db.transaction() as session:
        await p2p_ads.update_ad(session, api.actor, ad_id=ad_id, fields=fields)
    return {"success": True}


@endpoint("DELETE", ADS + "/{id}", auth="required")
async def delete_ad(api: ApiRequest) -> dict[str, bool]:
    ad_id = api.path_int("id")
    async with api.db.transaction() as session:
        await p2p_ads.delete_ad(session, api.actor, ad_id=ad_id)
    return {"success": True}


@endpoint("POST", ORDERS, auth="required")
async def create_order(api: ApiRequest) -> dict[str, Any]:
    """``format`` is accepted (p2p | fast_pay) but never routes through a card order here, so
    ``card_order_id`` is absent."""
    body = await api.json_object(ORDER_FIELDS)
    ad_id, amount = _int(body, "ad_id"), _int(body, "usdt_amount")
    method = _str(body, "payment_method", "INVALID_PAYMENT_METHOD")
    if ad_id is None or amount is None or method is None:
        raise InvalidInput("ad_id, usdt_amount and payment_method are required")
    request = p2p_orders.OrderRequest(ad_id, amount, method, _obj(body, "payment_details"), _str(body, "format"))
    async with api.db.transaction() as session:
        order = await p2p_orders.create_order(session, api.actor, request, settings=api.settings)
    return {"id": order.id}


@endpoint("GET", ORDERS + "/my", auth="required")
async def my_orders(api: ApiRequest) -> dict[str, Any]:
    status = _text_param(api, "status")
    if status is not None and status not in p2p_orders.STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(p2p_orders.STATUSES)}")
    limit = api.query_int("limit", p2p_orders.DEFAULT_LIMIT, lo=1, hi=p2p_orders.MAX_LIMIT) or 1
    offset = api.query_int("offset", 0, lo=0, hi=p2p_ads.MAX_OFFSET) or 0
    async with api.db.session() as session:
        rows = await p2p_orders.my_orders(session, api.actor, status=status, limit=limit, offset=offset)
    return {"orders": [order_json(row) for row in rows]}


@endpoint("GET", ORDERS + "/{id}", auth="required")
async def get_order(api: ApiRequest) -> dict[str, Any]:
    order_id = api.path_int("id")
    async with api.db.session() as session:
        view = await p2p_orders.get_order(session, api.actor, order_id=order_id)
    return order_detail_json(view.order, view.counterpart)


@endpoint("PATCH", ORDERS + "/{id}", auth="required", overrides={"ORDER_NOT_OPEN": 400})
async def update_payment(api: ApiRequest) -> dict[str, bool]:
    """The buyer's own payment details (how they pay), shown as ``buyer_payment_details``."""
    order_id = api.path_int("id")
    details = _obj(await api.json_object(("payment_details",)), "payment_details")
    if details is None:
        raise InvalidInput("payment_details is required")
    async with api.db.transaction() as session:
        await p2p_flow.set_buyer_details(session, api.actor, order_id=order_id, payment_details=details)
    return {"success": True}


async def _transition(api: ApiRequest, action: Any) -> dict[str, bool]:
    order_id = api.path_int("id")
    async with api.db.transaction() as session:
        await action(session, api.actor, order_id=order_id)
    return {"success": True}


@endpoint("POST", ORDERS + "/{id}/confirm-paid", auth="required")
async def confirm_paid(api: ApiRequest) -> dict[str, bool]:
    return await _transition(api, p2p_flow.confirm_paid)


@endpoint("POST", ORDERS + "/{id}/confirm-received", auth="required")
async def confirm_received(api: ApiRequest) -> dict[str, bool]:
    return await _transition(api, p2p_flow.confirm_received)


@endpoint("POST", ORDERS + "/{id}/cancel", auth="required")
async def cancel_order(api: ApiRequest) -> dict[str, bool]:
    return await _transition(api, p2p_flow.cancel)


@endpoint("POST", ORDERS + "/{id}/call-operator", auth="required")
async def call_operator(api: ApiRequest) -> dict[str, bool]:
    return await _transition(api, p2p_flow.call_operator)


@endpoint("POST", ORDERS + "/{id}/rate", auth="required")
async def rate_order(api: ApiRequest) -> dict[str, bool]:
    order_id = api.path_int("id")
    rating = _int(await api.json_object(("rating",)), "rating", "INVALID_RATING")
    if rating is None:
        raise InvalidInput("rating is required", code="INVALID_RATING")
    async with api.db.transaction() as session:
        await p2p_flow.rate(session, api.actor, order_id=order_id, rating=rating)
    return {"success": True}


@endpoint("GET", ORDERS + "/{id}/messages", auth="required")
async def list_messages(api: ApiRequest) -> dict[str, Any]:
    order_id = api.path_int("id")
    limit = api.query_int("limit", p2p_chat.DEFAULT_LIMIT, lo=1, hi=p2p_chat.MAX_LIMIT) or 1
    offset = api.query_int("offset", 0, lo=0, hi=p2p_chat.MAX_OFFSET) or 0
    async with api.db.session() as session:
        chat = await p2p_chat.history(session, api.actor, order_id=order_id, limit=limit, offset=offset)
    return {"messages": [message_json(row, user) for row, user in chat.messages], "status": chat.status}


@endpoint("POST", ORDERS + "/{id}/messages", auth="required")
async def post_message(api: ApiRequest) -> dict[str, Any]:
    order_id = api.path_int("id")
    text = _str(await api.json_object(("message",)), "message", "INVALID_MESSAGE")
    async with api.db.transaction() as session:
        row = await p2p_chat.post(session, api.actor, order_id=order_id, message=text or "")
    return {"id": row.id}
