"""REST group ``trading`` (order-book orders; UPPER_SNAKE codes), ``markets.orderbook`` (lower_snake),
and our extension ``POST /events/{id}/pools/{pool_id}/markets/{market_id}/pause``.

Order JSON is the documented ``Order`` (``filled`` = units executed, ``price`` 0 for market orders)
plus our extension fields: ``remaining``, ``spent``, ``received``, ``fees``, ``time_in_force``,
``expires_at``, ``client_order_id``, ``cancel_reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import StrictBool

from predictql.errors import InvalidInput
from predictql.jsonutil import parse_timestamp
from predictql.models import Order
from predictql.rest_compat.market_presenters import market_json
from predictql.rest_compat.routing import ApiRequest, StrictBody, endpoint
from predictql.services import order_lifecycle, order_writes
from predictql.services.orderbook_trading import OrderRequest

AMOUNT_TYPES = {"buy": "cents", "sell": "shares"}
ORDER_FIELDS = (
    "market_id",
    "type",
    "kind",
    "token_type",
    "price",
    "amount",
    "amount_type",
    "use_bonus",
    "time_in_force",
    "expires_at",
    "client_order_id",
)


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id, "user_id": order.user_id, "market_id": order.market_id, "type": order.side,
        "kind": order.kind, "token_type": order.token, "price": order.price, "amount": order.amount,
        "filled": order.filled, "status": order.status, "use_bonus": order.use_bonus, "created_at": order.created_at,
        "remaining": order.remaining, "spent": order.spent, "received": order.received, "fees": order.fees,
        "time_in_force": order.tif, "expires_at": order.expires_at, "client_order_id": order.client_order_id,
        "cancel_reason": order.cancel_reason,
    }  # fmt: skip


def _int(value: Any, name: str, code: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer", code=code)
    return value


def _text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    return value


def _moment(value: Any) -> datetime | None:
    """``expires_at``: an RFC 3339 timestamp; one without an offset is UTC (rule 11)."""
    if value is None:
        return None
    try:
        return parse_timestamp(str(_text(value, "expires_at")))
    except ValueError:
        raise InvalidInput("expires_at must be an RFC 3339 timestamp") from None


def _order_request(body: Mapping[str, Any]) -> OrderRequest:
    """Shapes only; the service checks values (so GraphQL answers with the same codes)."""
    side, use_bonus = _text(body.get("type"), "type") or "", body.get("use_bonus", False)
    amount_type = body.get("amount_type")
    if amount_type is not None and amount_type != AMOUNT_TYPES.get(side, amount_type):
        raise InvalidInput(f"a {side} order's amount_type is {AMOUNT_TYPES[side]}", code="INVALID_AMOUNT")
    if not isinstance(use_bonus, bool):
        raise InvalidInput("use_bonus must be a boolean")
    kind = _text(body.get("kind", "limit"), "kind") or ""
    price = body.get("price")
    return OrderRequest(
        market_id=_int(body.get("market_id"), "market_id", "INVALID_REQUEST"),
        side=side,
        token=_text(body.get("token_type"), "token_type") or "",
        kind=kind,
        amount=_int(body.get("amount"), "amount", "INVALID_AMOUNT"),
        price=_int(price, "price", "INVALID_PRICE") if kind == "limit" and price is not None else None,
        use_bonus=use_bonus,
        tif=_text(body.get("time_in_force"), "time_in_force"),
        expires_at=_moment(body.get("expires_at")),
        client_order_id=_text(body.get("client_order_id"), "client_order_id"),
    )


@endpoint("POST", "/market/orders", auth="required")
async def place_order(api: ApiRequest) -> dict[str, Any]:
    request = _order_request(await api.json_object(ORDER_FIELDS))
    placed = await order_writes.place(api.writer, api.actor, request, fee_bps=api.settings.fee_bps)
    return order_json(placed.order)


@endpoint("DELETE", "/market/orders/{id}", auth="required")
async def cancel_order(api: ApiRequest) -> dict[str, str]:
    order_id = api.path_int("id")
    await order_writes.cancel(api.writer, api.actor, order_id=order_id, fee_bps=api.settings.fee_bps)
    return {"message": "Order cancelled successfully"}


@endpoint("GET", "/market/orders/my", auth="required")
async def my_orders(api: ApiRequest) -> list[dict[str, Any]]:
    async with api.db.session() as session:
        page = await order_lifecycle.my_orders(session, api.actor)
    return [order_json(order) for order in page.items]


@endpoint("GET", "/market/orders/my/current", auth="required")
async def my_current_orders(api: ApiRequest) -> list[dict[str, Any]]:
    async with api.db.session() as session:
        page = await order_lifecycle.my_orders(session, api.actor, status="open")
    return [order_json(order) for order in page.items]


@endpoint("GET", "/market/orderbook/{market_id}", auth="none", lower_codes=True)
async def orderbook(api: ApiRequest) -> dict[str, Any]:
    """Extensions: ``?depth=`` levels per side (default 100) and ``?token=NO`` for the NO-price view."""
    market_id = api.path_int("market_id")
    depth = api.query_int("depth", 100, lo=1, hi=order_lifecycle.MAX_DEPTH) or 100
    token = api.query_choice("token", ("YES", "NO"), "YES")
    async with api.db.session() as session:
        book = await order_lifecycle.order_book(
            session, api.actor, market_id=market_id, depth=depth, fee_bps=api.settings.fee_bps
        )
    book = book.flipped() if token == "NO" else book
    levels = {side: [{"price": p, "amount": u} for p, u in getattr(book, side)] for side in ("bids", "asks")}
    return {"market_id": market_id, **levels}


class PauseBody(StrictBody):
    paused: StrictBool = True


@endpoint(
    "POST", "/events/{id}/pools/{pool_id}/markets/{market_id}/pause", auth="creator", body=PauseBody, body_optional=True
)
async def pause_market(api: ApiRequest) -> dict[str, Any]:
    """Our extension: ``{"paused": true|false}``; pausing cancels the market's resting orders."""
    event_id, pool_id, market_id = api.path_int("id"), api.path_int("pool_id"), api.path_int("market_id")
    body = await api.optional_body(PauseBody)
    async with api.db.transaction() as session:
        market = await order_lifecycle.set_paused(
            session, api.actor, event_id=event_id, pool_id=pool_id, market_id=market_id, paused=body.paused
        )
    return market_json(market)
