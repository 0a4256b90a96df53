"""GraphQL types of price alerts (our extension): ``PriceAlert``, its log ``AlertFiring``, inputs
and payloads. A market alert's level and prices are basis points (``Int``); an asset alert's are
prices (``Float``, as asset prices are)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from predictql.models import AlertFiring as FiringRow
from predictql.models import PriceAlert as AlertRow
from predictql.schema.context import Info
from predictql.schema.enums import value
from predictql.schema.ids import Kind
from predictql.schema.markets import Market
from predictql.schema.node import Node, gid
from predictql.schema.payloads import MutationPayload


@strawberry.enum(description="Which way a price must cross an alert's level.")
class AlertDirection(Enum):
    ABOVE = value("above", description="From below the level to at or above it.")
    BELOW = value("below", description="From above the level to at or below it.")


@strawberry.enum(description="Where a price alert is.")
class AlertStatus(Enum):
    ACTIVE = value("active", description="Waiting for a crossing (a repeating alert stays active).")
    FIRED = value("fired", description="A one-shot alert that fired; it will not fire again.")


def _bps(amount: Decimal | None, market: bool) -> int | None:
    return int(amount) if market and amount is not None else None


def _asset(amount: Decimal | None, market: bool) -> float | None:
    return float(amount) if not market and amount is not None else None


async def _market(info: Info, market_id: int | None) -> Market | None:
    if market_id is None:
        return None
    row = await info.context.loaders.market_by_id.load(market_id)
    return Market.from_row(row) if row is not None else None


@strawberry.type(description="An alert on a market's YES price or an asset's price crossing a level.")
class PriceAlert(Node):
    id: strawberry.ID = strawberry.field(description="The alert's global id (alrt_...).")
    symbol: str | None = strawberry.field(description="The asset (e.g. BTCUSDT) of an asset alert; null otherwise.")
    direction: AlertDirection = strawberry.field(description="Which way the price must cross the level.")
    level_bps: int | None = strawberry.field(description="A market alert's level, basis points of YES; else null.")
    asset_level: float | None = strawberry.field(description="An asset alert's level, a price; else null.")
    repeating: bool = strawberry.field(
        description="Fires on every crossing (re-armed once the price went back); false: fires once."
    )
    status: AlertStatus = strawberry.field(description="ACTIVE or FIRED.")
    fire_count: int = strawberry.field(description="How many times it fired.")
    last_fired_at: datetime | None = strawberry.field(description="When it last fired; null if never.")
    created_at: datetime = strawberry.field(description="When it was set (RFC 3339, UTC).")
    row: strawberry.Private[AlertRow]

    @strawberry.field(description="The market of a market alert; null for an asset alert.")
    async def market(self, info: Info) -> Market | None:
        return await _market(info, self.row.market_id)

    @classmethod
    def from_row(cls, row: AlertRow) -> PriceAlert:
        market = row.market_id is not None
        return cls(
            id=gid(Kind.ALERT, row.id),
            symbol=row.symbol,
            direction=AlertDirection(row.direction),
            level_bps=_bps(row.level, market),
            asset_level=_asset(row.level, market),
            repeating=row.repeating,
            status=AlertStatus(row.status) if row.status != "deleted" else AlertStatus.FIRED,
            fire_count=row.fire_count,
            last_fired_at=row.last_fired_at,
            created_at=row.created_at,
            row=row,
        )


@strawberry.type(description="One firing of a price alert: the alert log.")
class AlertFiring(Node):
    id: strawberry.ID = strawberry.field(description="The firing's global id (afire_...).")
    symbol: str | None = strawberry.field(description="The asset of an asset alert; null otherwise.")
    direction: AlertDirection = strawberry.field(description="The way the price crossed.")
    level_bps: int | None = strawberry.field(description="The market alert's level, basis points; else null.")
    asset_level: float | None = strawberry.field(description="The asset alert's level; else null.")
    price_before_bps: int | None = strawberry.field(description="A market's YES price before the move, basis points.")
    price_bps: int | None = strawberry.field(description="A market's YES price after the move, basis points.")
    asset_price_before: float | None = strawberry.field(description="An asset's price before the move.")
    asset_price: float | None = strawberry.field(description="An asset's price after the move.")
    fired_at: datetime = strawberry.field(description="When it fired (RFC 3339, UTC).")
    row: strawberry.Private[FiringRow]

    @strawberry.field(description="The alert that fired (its current state); null if it was deleted.")
    async def alert(self, info: Info) -> PriceAlert | None:
        row = await info.context.loaders.price_alert_by_id.load(self.row.alert_id)
        return PriceAlert.from_row(row) if row is not None and row.status != "deleted" else None

    @strawberry.field(description="The market of a market alert; null for an asset alert.")
    async def market(self, info: Info) -> Market | None:
        return await _market(info, self.row.market_id)

    @classmethod
    def from_row(cls, row: FiringRow) -> AlertFiring:
        market = row.market_id is not None
        return cls(
            id=gid(Kind.ALERT_FIRING, row.id),
            symbol=row.symbol,
            direction=AlertDirection(row.direction),
            level_bps=_bps(row.level, market),
            asset_level=_asset(row.level, market),
            price_before_bps=_bps(row.price_before, market),
            price_bps=_bps(row.price, market),
            asset_price_before=_asset(row.price_before, market),
            asset_price=_asset(row.price, market),
            fired_at=row.created_at,
            row=row,
        )


@strawberry.input(
    description="A new price alert: marketId with levelBps (a market's YES price), or symbol with assetLevel."
)
class CreatePriceAlertInput:
    direction: AlertDirection = strawberry.field(description="ABOVE or BELOW.")
    market_id: strawberry.ID | None = strawberry.field(default=None, description="The market (mkt_...).")
    level_bps: int | None = strawberry.field(default=None, description="With marketId: the level, 1-9999 bps.")
    symbol: str | None = strawberry.field(default=None, description="An asset, e.g. BTCUSDT (capitals and digits).")
    asset_level: float | None = strawberry.field(default=None, description="With symbol: the level, a price > 0.")
    repeating: bool = strawberry.field(default=False, description="Fire on every crossing, not only the first.")


@strawberry.input(description="One of the caller's price alerts.")
class DeletePriceAlertInput:
    id: strawberry.ID = strawberry.field(description="The alert (alrt_...).")


@strawberry.type(description="What createPriceAlert changed.")
class CreatePriceAlertPayload(MutationPayload):
    alert: PriceAlert | None = strawberry.field(default=None, description="The new alert.")


@strawberry.type(description="What deletePriceAlert changed.")
class DeletePriceAlertPayload(MutationPayload):
    deleted_alert_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted alert's id.")
