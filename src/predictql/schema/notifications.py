"""GraphQL types of notifications: one notification, the caller's notifications as a connection."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from predictql.models import Notification as NotificationRow
from predictql.schema.context import Info
from predictql.schema.enums import NotificationSubjectType, NotificationType, opt
from predictql.schema.ids import Kind, parse
from predictql.schema.markets import Event, Market
from predictql.schema.money_out import CardOrder, Withdrawal
from predictql.schema.node import Node, gid, opt_gid
from predictql.schema.orders import Order
from predictql.schema.p2p import P2PAd, P2POrder
from predictql.schema.payloads import MutationPayload
from predictql.subscriptions.payloads import NotificationTick

NotificationSubject = Annotated[
    Event | Market | Order | CardOrder | Withdrawal | P2POrder | P2PAd,
    strawberry.union("NotificationSubject", description="What a notification is about."),
]

SUBJECT_KINDS = {
    "event": Kind.EVENT,
    "market": Kind.MARKET,
    "order": Kind.ORDER,
    "card_order": Kind.CARD_ORDER,
    "withdrawal": Kind.WITHDRAWAL,
    "p2p_order": Kind.P2P_ORDER,
    "p2p_ad": Kind.P2P_AD,
}


@strawberry.type(description="Something that happened to the caller's trades, orders or bets.")
class Notification(Node):
    id: strawberry.ID = strawberry.field(description="The notification's global id (ntf_...).")
    user_id: strawberry.ID = strawberry.field(
        description="The recipient's global id (usr_...; always the caller).",
        deprecation_reason="The caller's own: use me { id }.",
    )
    type: NotificationType = strawberry.field(description="What happened.")
    title: str = strawberry.field(description='A short heading, e.g. "Event Resolved".')
    message: str = strawberry.field(description="The sentence to show, e.g. \"Event 'X' has been resolved\".")
    read: bool = strawberry.field(description="The caller has marked it read.")
    read_at: datetime | None = strawberry.field(description="When it was first marked read; null while unread.")
    created_at: datetime = strawberry.field(description="When it was created (RFC 3339, UTC).")
    related_id: strawberry.ID | None = strawberry.field(
        description="The global id of what it is about (evt_..., mkt_..., ord_..., pord_... or pad_...).",
        deprecation_reason="Use subject.",
    )
    related_type: NotificationSubjectType | None = strawberry.field(
        description="What relatedId names.", deprecation_reason="Use subject { __typename }."
    )

    @strawberry.field(
        description="What it is about: an event, a market, one of the caller's orders, card orders, withdrawals "
        "or P2P orders, or a P2P ad; null if gone."
    )
    async def subject(self, info: Info) -> NotificationSubject | None:
        if self.related_id is None:
            return None
        loaders, (kind, row_id) = info.context.loaders, parse(self.related_id)
        if kind is Kind.EVENT:
            event = await loaders.event_by_id.load(row_id)
            return Event.from_row(event) if event else None
        if kind is Kind.MARKET:
            market = await loaders.market_by_id.load(row_id)
            return Market.from_row(market) if market else None
        if kind is Kind.ORDER:
            order = await loaders.order_by_id.load(row_id)
            return Order.from_row(order) if order and order.user_id == info.context.actor.user_id else None
        if kind is Kind.CARD_ORDER:
            card = await loaders.card_order_by_id.load(row_id)
            return CardOrder.from_row(card) if card and card.user_id == info.context.actor.user_id else None
        if kind is Kind.WITHDRAWAL:
            out = await loaders.withdrawal_by_id.load(row_id)
            return Withdrawal.from_row(out) if out and out.user_id == info.context.actor.user_id else None
        if kind is Kind.P2P_ORDER:
            trade = await loaders.p2p_order_by_id.load(row_id)
            mine = trade is not None and info.context.actor.user_id in (trade.buyer_id, trade.seller_id)
            return P2POrder.from_row(trade) if trade is not None and mine else None
        if kind is Kind.P2P_AD:
            ad = await loaders.p2p_ad_by_id.load(row_id)
            return P2PAd.from_row(ad) if ad is not None and ad.moderation_status != "deleted" else None
        return None

    @classmethod
    def from_row(cls, row: NotificationRow) -> Notification:
        return cls.from_tick(NotificationTick.of(row))

    @classmethod
    def from_tick(cls, tick: NotificationTick) -> Notification:
        return cls(
            id=gid(Kind.NOTIFICATION, tick.id),
            user_id=gid(Kind.USER, tick.user_id),
            type=NotificationType(tick.type),
            title=tick.title,
            message=tick.message,
            read=tick.read,
            read_at=tick.read_at,
            created_at=tick.created_at,
            related_id=opt_gid(SUBJECT_KINDS[tick.related_type], tick.related_id) if tick.related_type else None,
            related_type=opt(NotificationSubjectType, tick.related_type),
        )

    @staticmethod
    def live(text: str) -> Notification:
        """A bus message of ``user:{id}:notifications`` (module level: built once per message)."""
        return Notification.from_tick(NotificationTick.from_json(text))


@strawberry.type(description="What markNotificationRead changed.")
class MarkNotificationReadPayload(MutationPayload):
    notification: Notification | None = strawberry.field(default=None, description="The notification, now read.")


@strawberry.type(description="What markAllNotificationsRead changed.")
class MarkAllNotificationsReadPayload(MutationPayload):
    marked_count: int | None = strawberry.field(default=None, description="How many notifications were unread.")


@strawberry.type(description="What deleteNotification changed.")
class DeleteNotificationPayload(MutationPayload):
    deleted_notification_id: strawberry.ID | None = strawberry.field(
        default=None, description="The deleted notification's id."
    )
