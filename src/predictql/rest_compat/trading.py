"""REST groups ``lmsr`` and the positions/trades routes of ``trading`` (UPPER_SNAKE codes, as their
pages write them), plus the PnL chart of the ``users`` group (lower_snake codes).

``shares_delta`` is signed: positive on a buy, negative on a sell (see ``services.lmsr_trading``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from predictql.errors import InvalidInput
from predictql.rest_compat.presenters import closed_position, feed_trade, position
from predictql.rest_compat.routing import ApiRequest, endpoint
from predictql.services import lmsr_batch, lmsr_trading, pnl, positions
from predictql.services.lmsr_trading import TradeRequest
from predictql.services.pnl import PnlPoint

DIGITS = re.compile(r"-?[0-9]{1,19}")
TRADE_FIELDS = ("market_id", "side", "amount_type", "amount", "use_bonus")


def _integer(value: Any, name: str, code: str, *, text: bool) -> int:
    """An int64 from JSON (a number) or a query string (digits); ``code`` otherwise."""
    if text and isinstance(value, str) and DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise InvalidInput(f"{name} must be an integer", code=code)
    return value


def _trade_request(values: Mapping[str, Any], *, text: bool) -> TradeRequest:
    """Each field fails with the code the LMSR pages give it (INVALID_SIDE, INVALID_AMOUNT)."""
    side, amount_type = values.get("side"), values.get("amount_type")
    use_bonus = False if text else values.get("use_bonus", False)  # a preview does not move money
    if not isinstance(side, str):
        raise InvalidInput("side is required: buy_yes, sell_yes, buy_no or sell_no", code="INVALID_SIDE")
    if not isinstance(amount_type, str):
        raise InvalidInput("amount_type is required: spend or shares", code="INVALID_AMOUNT")
    if not isinstance(use_bonus, bool):
        raise InvalidInput("use_bonus must be a boolean", code="INVALID_REQUEST")
    return TradeRequest(
        market_id=_integer(values.get("market_id"), "market_id", "INVALID_REQUEST", text=text),
        side=side,
        amount_type=amount_type,
        amount=_integer(values.get("amount"), "amount", "INVALID_AMOUNT", text=text),
        use_bonus=use_bonus,
    )


@endpoint("GET", "/lmsr/preview", auth="none")
async def lmsr_preview(api: ApiRequest) -> dict[str, Any]:
    request = _trade_request(api.request.query_params, text=True)
    async with api.db.session() as session:
        quote = await lmsr_trading.preview(session, request, fee_bps=api.settings.fee_bps, actor=api.actor)
    return {
        "cost_or_payout_cents": quote.total,
        "shares_delta": lmsr_trading.shares_delta(quote.side.is_buy, quote.shares),
    }


@endpoint("POST", "/lmsr/trade", auth="required", overrides={"INSUFFICIENT_BALANCE": 402})
async def lmsr_trade(api: ApiRequest) -> dict[str, Any]:
    body = await api.json_object(TRADE_FIELDS)
    request = _trade_request(body, text=False)
    result = (await lmsr_batch.trade(api.writer, api.actor, request, fee_bps=api.settings.fee_bps)).result
    return {
        "cost_or_payout_cents": result.cost_or_payout,
        "shares_delta": result.shares_delta,
        "new_position_yes": result.new_position_yes,
        "new_position_no": result.new_position_no,
    }


@endpoint("GET", "/market/positions/my", auth="required")
async def my_positions(api: ApiRequest) -> list[dict[str, Any]]:
    async with api.db.session() as session:
        return [position(view) for view in await positions.open_positions(session, api.actor)]


@endpoint("GET", "/market/positions/completed", auth="required")
async def completed_positions(api: ApiRequest) -> dict[str, Any]:
    limit = api.query_int("limit", 20, lo=1, hi=100)
    assert limit is not None
    cursor = api.request.query_params.get("cursor")
    async with api.db.session() as session:
        page = await positions.completed_positions(session, api.actor, cursor=cursor, limit=limit)
    return {
        "positions": [closed_position(view) for view in page.items],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }


@endpoint("POST", "/market/positions/{market_id}/close", auth="required")
async def close_position(api: ApiRequest) -> dict[str, Any]:
    market_id = api.path_int("market_id")
    await lmsr_batch.close_holding(api.writer, api.actor, market_id=market_id, fee_bps=api.settings.fee_bps)
    return {"message": "Position closed successfully"}


@endpoint("GET", "/market/trades/latest", auth="none")
async def latest_trades(api: ApiRequest) -> list[dict[str, Any]]:
    async with api.db.session() as session:
        return [feed_trade(item) for item in await lmsr_trading.latest_trades(session)]


def _chart(points: list[PnlPoint]) -> dict[str, Any]:
    return {"points": [{"timestamp": point.timestamp, "pnl": point.pnl_units} for point in points]}


@endpoint("GET", "/users/me/pnl/chart", auth="required", lower_codes=True)
async def my_pnl_chart(api: ApiRequest) -> dict[str, Any]:
    async with api.db.session() as session:
        return _chart(await pnl.my_chart(session, api.actor))


@endpoint("GET", "/users/{id}/pnl/chart", auth="optional", lower_codes=True)
async def pnl_chart(api: ApiRequest) -> dict[str, Any]:
    user_id = api.path_int("id")
    async with api.db.session() as session:
        return _chart(await pnl.chart(session, api.actor, user_id=user_id))
