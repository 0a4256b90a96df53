"""REST routes of price alerts (our extension, README "Price alerts"; UPPER_SNAKE codes).

- ``GET /alerts?status=active|fired&limit=50&offset=0`` -> the caller's alerts, newest first;
- ``POST /alerts {"market_id" | "symbol", "direction": "above"|"below", "level", "repeating"}`` ->
  201 the alert (``level``: basis points 1-9999 for a market, a price for an asset);
- ``DELETE /alerts/{id}`` -> ``{"message": "alert deleted successfully"}``;
- ``GET /alerts/log?limit=50&offset=0`` -> what fired, newest first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from predictql.models import AlertFiring, PriceAlert
from predictql.rest_compat.routing import ApiRequest, StrictBody, endpoint
from predictql.services import alerts
from predictql.services.alerts import AlertSpec


class NewAlert(StrictBody):
    market_id: StrictInt | None = Field(default=None, ge=1, le=2**63 - 1)
    symbol: StrictStr | None = None
    direction: StrictStr
    level: StrictInt | StrictFloat | StrictStr
    repeating: StrictBool = False


def _number(value: Decimal | None, market: bool) -> int | float | None:
    """Basis points stay integers; an asset price is a float, as asset prices are (DECISIONS 1)."""
    if value is None:
        return None
    return int(value) if market else float(value)


def alert_json(row: PriceAlert) -> dict[str, Any]:
    market = row.market_id is not None
    return {
        "id": row.id,
        "market_id": row.market_id,
        "symbol": row.symbol,
        "direction": row.direction,
        "level": _number(row.level, market),
        "repeating": row.repeating,
        "status": row.status,
        "fire_count": row.fire_count,
        "last_fired_at": row.last_fired_at,
        "created_at": row.created_at,
    }


def firing_json(row: AlertFiring) -> dict[str, Any]:
    market = row.market_id is not None
    return {
        "id": row.id,
        "alert_id": row.alert_id,
        "market_id": row.market_id,
        "symbol": row.symbol,
        "direction": row.direction,
        "level": _number(row.level, market),
        "price_before": _number(row.price_before, market),
        "price": _number(row.price, market),
        "created_at": row.created_at,
    }


def _page(api: ApiRequest) -> tuple[int, int]:
    limit = api.query_int("limit", alerts.DEFAULT_LIMIT, lo=1, hi=alerts.MAX_LIMIT)
    offset = api.query_int("offset", 0, lo=0, hi=alerts.MAX_OFFSET)
    return limit or alerts.DEFAULT_LIMIT, offset or 0


@endpoint("GET", "/alerts", auth="required")
async def list_alerts(api: ApiRequest) -> list[dict[str, Any]]:
    """The caller's price alerts (active and fired), newest first."""
    status = api.query_choice("status", ("any", "active", "fired"), "any")
    limit, offset = _page(api)
    async with api.db.session() as session:
        rows = await alerts.list_alerts(
            session, api.actor, status=None if status == "any" else status, limit=limit, offset=offset
        )
    return [alert_json(row) for row in rows]


@endpoint("POST", "/alerts", auth="required", status=201, body=NewAlert)
async def create_alert(api: ApiRequest) -> dict[str, Any]:
    """A price alert on a market's YES price or an asset's price."""
    body = await api.body(NewAlert)
    spec = AlertSpec(body.direction, alerts.parse_level(body.level), body.market_id, body.symbol, body.repeating)
    async with api.db.transaction() as session:
        row = await alerts.create(session, api.actor, spec, max_active=api.settings.alert_max_active)
    return alert_json(row)


@endpoint("DELETE", "/alerts/{id}", auth="required")
async def delete_alert(api: ApiRequest) -> dict[str, str]:
    """Delete one of the caller's alerts (its log stays)."""
    alert_id = api.path_int("id")
    async with api.db.transaction() as session:
        await alerts.delete(session, api.actor, alert_id=alert_id)
    return {"message": "alert deleted successfully"}


@endpoint("GET", "/alerts/log", auth="required")
async def alert_log(api: ApiRequest) -> list[dict[str, Any]]:
    """What the caller's alerts fired, when, at what price; newest first."""
    limit, offset = _page(api)
    async with api.db.session() as session:
        rows = await alerts.list_firings(session, api.actor, limit=limit, offset=offset)
    return [firing_json(row) for row in rows]
