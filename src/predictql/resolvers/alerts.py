"""GraphQL root fields of price alerts: parse -> one service call -> wrap (REST twins in
``rest_compat/alerts.py``). Firings reach the owner as notifications (``myNotifications``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from predictql.errors import InvalidInput
from predictql.resolvers.common import INPUT, user_errors
from predictql.schema.alerts import (
    AlertFiring,
    AlertStatus,
    CreatePriceAlertInput,
    CreatePriceAlertPayload,
    DeletePriceAlertInput,
    DeletePriceAlertPayload,
    PriceAlert,
)
from predictql.schema.context import Info
from predictql.schema.ids import Kind, decode
from predictql.schema.node import gid
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.services import alerts
from predictql.services.alerts import AlertSpec


def _spec(input: CreatePriceAlertInput) -> AlertSpec:
    if input.market_id is not None:
        if input.level_bps is None or input.asset_level is not None:
            raise InvalidInput("a market alert takes levelBps (not assetLevel)", field="levelBps")
        market_id = decode(Kind.MARKET, input.market_id, "marketId")
        return AlertSpec(input.direction.value, Decimal(input.level_bps), market_id, None, input.repeating, "levelBps")
    if input.asset_level is None or input.level_bps is not None:
        raise InvalidInput("an asset alert takes symbol and assetLevel (not levelBps)", field="assetLevel")
    level = alerts.parse_level(input.asset_level, "assetLevel")
    return AlertSpec(input.direction.value, level, None, input.symbol, input.repeating, "assetLevel")


@strawberry.type
class AlertsQuery:
    @strawberry.field(description=f"The caller's price alerts (active and fired), newest first; pages of {BOUNDS}.")
    async def my_alerts(
        self,
        info: Info,
        status: Annotated[
            AlertStatus | None, strawberry.argument(description="ACTIVE or FIRED; both when omitted.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[PriceAlert]:
        args = page_args(info, first, after, last, before)
        async with info.context.db.session() as session:
            page = await alerts.page(session, info.context.actor, args, status=status.value if status else None)
        return connection(page, PriceAlert.from_row, lambda row: row.id)

    @strawberry.field(description=f"The caller's alert log: what fired, when, at what price; newest first; {BOUNDS}.")
    async def my_alert_firings(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[AlertFiring]:
        args = page_args(info, first, after, last, before)
        async with info.context.db.session() as session:
            page = await alerts.firings_page(session, info.context.actor, args)
        return connection(page, AlertFiring.from_row, lambda row: row.id)


@strawberry.type
class AlertsMutation:
    @strawberry.mutation(
        description="Set an alert on a market's YES price or an asset's price crossing a level; at most "
        "PREDICTQL_ALERT_MAX_ACTIVE active alerts per user (ALERT_LIMIT_REACHED)."
    )
    @user_errors
    async def create_price_alert(
        self, info: Info, input: Annotated[CreatePriceAlertInput, INPUT]
    ) -> CreatePriceAlertPayload:
        spec = _spec(input)
        async with info.context.db.transaction() as session:
            row = await alerts.create(
                session, info.context.actor, spec, max_active=info.context.settings.alert_max_active
            )
        return CreatePriceAlertPayload(alert=PriceAlert.from_row(row))

    @strawberry.mutation(
        description="Delete one of the caller's price alerts (another user's: NOT_FOUND); its log stays."
    )
    @user_errors
    async def delete_price_alert(
        self, info: Info, input: Annotated[DeletePriceAlertInput, INPUT]
    ) -> DeletePriceAlertPayload:
        alert_id = decode(Kind.ALERT, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await alerts.delete(session, info.context.actor, alert_id=alert_id)
        return DeletePriceAlertPayload(deleted_alert_id=gid(Kind.ALERT, row.id))
