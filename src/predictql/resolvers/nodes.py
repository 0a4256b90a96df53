"""``node(id)``, ``nodes(ids)`` and the object behind any global id, through the DataLoaders.

Every by-id root field (``event``, ``pool``, ``market``, ``user``) and ``node`` resolve here, so
30 aliased lookups cost one batched statement per kind of row, not one (or more) per lookup. The
prefix picks the loader; a malformed or foreign id is ``INVALID_ID``. A well-formed id of a row
that is missing, or that the caller may not see (a hidden event and what lies under it, another
user's order, position, notification, token, money movement, event suggestion, card order or
withdrawal; the audit log to anyone but operators), is null: the two are not told apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from predictql.errors import InvalidInput, NotFound
from predictql.models import Event as EventRow
from predictql.resolvers.p2p import fetch_p2p_ad, fetch_p2p_message, fetch_p2p_order
from predictql.schema.alerts import AlertFiring, PriceAlert
from predictql.schema.assets import AssetPrice
from predictql.schema.comments import Comment
from predictql.schema.context import Context, Info
from predictql.schema.discovery import EventSuggestion
from predictql.schema.ids import Kind, decode, parse
from predictql.schema.markets import Event, Market, Pool
from predictql.schema.money_out import AuditEntry, CardMessage, CardOrder, Withdrawal
from predictql.schema.node import Node
from predictql.schema.notifications import Notification
from predictql.schema.orders import Order
from predictql.schema.support_chat import fetch_chat_message, fetch_chat_session
from predictql.schema.trading import Position, Trade
from predictql.schema.users import ApiToken, MoneyTransaction, User
from predictql.services import assets
from predictql.services.events import can_see
from predictql.services.users import Profile

MAX_NODES = 100


async def _visible_event(context: Context, event_id: int) -> EventRow | None:
    row = await context.loaders.event_by_id.load(event_id)
    return row if row is not None and can_see(context.actor, row) else None


async def fetch_event(context: Context, row_id: int) -> Event | None:
    row = await _visible_event(context, row_id)
    return None if row is None else Event.from_row(row)


async def fetch_pool(context: Context, row_id: int) -> Pool | None:
    row = await context.loaders.pool_by_id.load(row_id)
    if row is None or await _visible_event(context, row.event_id) is None:
        return None
    return Pool.from_row(row)


async def fetch_market(context: Context, row_id: int) -> Market | None:
    row = await context.loaders.market_by_id.load(row_id)
    if row is None or await _visible_event(context, row.event_id) is None:
        return None
    return Market.from_row(row)


async def fetch_user(context: Context, row_id: int) -> User | None:
    row = await context.loaders.user_by_id.load(row_id)
    if row is None:
        return None
    mine = row_id == context.actor.user_id
    balances = await context.loaders.balances_by_user_id.load(row_id) if mine else None
    return User.from_profile(Profile(row, balances))


async def fetch_order(context: Context, row_id: int) -> Order | None:
    row = await context.loaders.order_by_id.load(row_id)
    return Order.from_row(row) if row is not None and row.user_id == context.actor.user_id else None


async def fetch_trade(context: Context, row_id: int) -> Trade | None:
    row = await context.loaders.trade_by_id.load(row_id)
    if row is None or await _visible_event(context, row.event_id) is None:
        return None
    return Trade.from_row(row)


async def fetch_position(context: Context, row_id: int) -> Position | None:
    row = await context.loaders.position_by_id.load(row_id)
    return Position.from_row(row) if row is not None and row.user_id == context.actor.user_id else None


async def fetch_notification(context: Context, row_id: int) -> Notification | None:
    row = await context.loaders.notification_by_id.load(row_id)
    return Notification.from_row(row) if row is not None and row.user_id == context.actor.user_id else None


async def fetch_api_token(context: Context, row_id: int) -> ApiToken | None:
    row = await context.loaders.api_token_by_id.load(row_id)
    mine = row is not None and row.user_id == context.actor.user_id and row.revoked_at is None
    return ApiToken.from_row(row) if row is not None and mine else None


async def fetch_transaction(context: Context, row_id: int) -> MoneyTransaction | None:
    item = await context.loaders.my_money_movement_by_id.load(row_id)
    return None if item is None else MoneyTransaction.from_item(item)


async def fetch_suggestion(context: Context, row_id: int) -> EventSuggestion | None:
    row = await context.loaders.suggestion_by_id.load(row_id)
    return EventSuggestion.from_row(row) if row is not None and row.user_id == context.actor.user_id else None


def _staff(context: Context) -> bool:
    return context.actor.user_id is not None and (context.actor.is_operator or context.actor.is_admin)


async def fetch_card_order(context: Context, row_id: int) -> CardOrder | None:
    row = await context.loaders.card_order_by_id.load(row_id)
    mine = row is not None and (row.user_id == context.actor.user_id or _staff(context))
    return CardOrder.from_row(row) if row is not None and mine else None


async def fetch_card_message(context: Context, row_id: int) -> CardMessage | None:
    row = await context.loaders.card_message_by_id.load(row_id)
    if row is None or await fetch_card_order(context, row.order_id) is None:
        return None
    return CardMessage.from_row(row)


async def fetch_withdrawal(context: Context, row_id: int) -> Withdrawal | None:
    row = await context.loaders.withdrawal_by_id.load(row_id)
    mine = row is not None and (row.user_id == context.actor.user_id or _staff(context))
    return Withdrawal.from_row(row) if row is not None and mine else None


async def fetch_audit_entry(context: Context, row_id: int) -> AuditEntry | None:
    row = await context.loaders.audit_entry_by_id.load(row_id) if _staff(context) else None
    return None if row is None else AuditEntry.from_row(row)


async def fetch_comment(context: Context, row_id: int) -> Comment | None:
    row = await context.loaders.comment_by_id.load(row_id)
    if row is None or await _visible_event(context, row.event_id) is None:
        return None
    return Comment.from_row(row)


async def fetch_alert(context: Context, row_id: int) -> PriceAlert | None:
    row = await context.loaders.price_alert_by_id.load(row_id)
    mine = row is not None and row.user_id == context.actor.user_id and row.status != "deleted"
    return PriceAlert.from_row(row) if row is not None and mine else None


async def fetch_alert_firing(context: Context, row_id: int) -> AlertFiring | None:
    row = await context.loaders.alert_firing_by_id.load(row_id)
    return AlertFiring.from_row(row) if row is not None and row.user_id == context.actor.user_id else None


async def fetch_asset(context: Context, row_id: int) -> AssetPrice | None:
    row = await context.loaders.asset_by_id.load(row_id)
    if row is None:
        return None
    try:
        return AssetPrice.from_quote(assets.quote_of(row, context.settings.price_stale_seconds))
    except NotFound:  # no price recorded yet
        return None


FETCH: dict[Kind, Callable[[Context, int], Awaitable[Node | None]]] = {
    Kind.USER: fetch_user,
    Kind.EVENT: fetch_event,
    Kind.POOL: fetch_pool,
    Kind.MARKET: fetch_market,
    Kind.ORDER: fetch_order,
    Kind.TRADE: fetch_trade,
    Kind.POSITION: fetch_position,
    Kind.NOTIFICATION: fetch_notification,
    Kind.API_TOKEN: fetch_api_token,
    Kind.TRANSACTION: fetch_transaction,
    Kind.SUGGESTION: fetch_suggestion,
    Kind.CARD_ORDER: fetch_card_order,
    Kind.CARD_MESSAGE: fetch_card_message,
    Kind.WITHDRAWAL: fetch_withdrawal,
    Kind.AUDIT_ENTRY: fetch_audit_entry,
    Kind.CHAT_SESSION: fetch_chat_session,
    Kind.CHAT_MESSAGE: fetch_chat_message,
    Kind.COMMENT: fetch_comment,
    Kind.ALERT: fetch_alert,
    Kind.ALERT_FIRING: fetch_alert_firing,
    Kind.P2P_AD: fetch_p2p_ad,
    Kind.P2P_ORDER: fetch_p2p_order,
    Kind.P2P_MESSAGE: fetch_p2p_message,
    Kind.ASSET: fetch_asset,
}
assert set(FETCH) == set(Kind), "every kind of id resolves"


async def fetch(context: Context, value: str) -> Node | None:
    """The object behind any global id, or None (missing, or not the caller's to see)."""
    kind, row_id = parse(value)
    return await FETCH[kind](context, row_id)


ID_ARG = strawberry.argument(description="A global id of this kind (its prefix); another kind is INVALID_ID.")


@strawberry.type
class NodesQuery:
    @strawberry.field(
        description="Any object by its global id; null when it is missing or not the caller's to see. "
        "A string that is not an id is INVALID_ID."
    )
    async def node(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="Any global id.")]
    ) -> Node | None:
        return await fetch(info.context, id)

    @strawberry.field(
        description=f"Objects by their global ids, in the order asked (1-{MAX_NODES} ids, batched per kind); "
        "null for each that is missing or not the caller's to see."
    )
    async def nodes(
        self, info: Info, ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global ids.")]
    ) -> list[Node | None]:
        if not 0 < len(ids) <= MAX_NODES:
            raise InvalidInput(f"ids must hold 1-{MAX_NODES} ids", "TOO_MANY_IDS")
        kinds = [parse(value) for value in ids]  # every id is checked before anything is read
        # Gathered, so the loaders see every key before they run: one batch per kind of row.
        return list(await asyncio.gather(*(FETCH[kind](info.context, row_id) for kind, row_id in kinds)))

    @strawberry.field(description="One event; null when missing or hidden from the caller.")
    async def event(self, info: Info, id: Annotated[strawberry.ID, ID_ARG]) -> Event | None:
        return await fetch_event(info.context, decode(Kind.EVENT, id))

    @strawberry.field(description="One pool; null when missing or its event is hidden from the caller.")
    async def pool(self, info: Info, id: Annotated[strawberry.ID, ID_ARG]) -> Pool | None:
        return await fetch_pool(info.context, decode(Kind.POOL, id))

    @strawberry.field(description="One market; null when missing or its event is hidden from the caller.")
    async def market(self, info: Info, id: Annotated[strawberry.ID, ID_ARG]) -> Market | None:
        return await fetch_market(info.context, decode(Kind.MARKET, id))

    @strawberry.field(description="A user's profile (private fields only for the user themself); null when missing.")
    async def user(self, info: Info, id: Annotated[strawberry.ID, ID_ARG]) -> User | None:
        return await fetch_user(info.context, decode(Kind.USER, id))
