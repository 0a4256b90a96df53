"""GraphQL types of notifications: one notification, the caller's notifications as a connection."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from predictql.models import Notification as NotificationRow
from predictql.schema.context import Info
from predictql.schema.markets import Event, Market
from predictql.schema.orders import Order
from predictql.schema.payloads import MutationPayload
from predictql.subscriptions.payloads import NotificationTick

NotificationSubject = Annotated[
    Event | Market | Order, strawberry.union("NotificationSubject", description="What a notification is about.")
]


def _id(value: int | None) -> strawberry.ID:
    return strawberry.ID(str(value))


@strawberry.type(description="Something that happened to the caller's trades, orders or bets.")
class Notification:
    id: strawberry.ID = strawberry.field(description="The notification's id.")
    user_id: strawberry.ID = strawberry.field(description="The recipient (always the caller).")
    type: str = strawberry.field(
        description="What happened: trade_executed, order_filled, bet_won, bet_lost, event_closed or event_cancelled."
    )
    title: str = strawberry.field(description='A short heading, e.g. "Event Resolved".')
    message: str = strawberry.field(description="The sentence to show, e.g. \"Event 'X' has been resolved\".")
    read: bool = strawberry.field(description="The caller has marked it read.")
    read_at: datetime | None = strawberry.field(description="When it was first marked read; null while unread.")
    created_at: datetime
    related_id: strawberry.ID | None = strawberry.field(
        description="The id of the row it is about.", deprecation_reason="Use subject."
    )
    related_type: str | None = strawberry.field(
        description="What relatedId names: event, market or order.", deprecation_reason="Use subject { __typename }."
    )

    @strawberry.field(description="What it is about: an event, a market or one of the caller's orders; null if gone.")
    async def subject(self, info: Info) -> NotificationSubject | None:
        if self.related_id is None:
            return None
        loaders, row_id = info.context.loaders, int(self.related_id)
        if self.related_type == "event":
            event = await loaders.event_by_id.load(row_id)
            return Event.from_row(event) if event else None
        if self.related_type == "market":
            market = await loaders.market_by_id.load(row_id)
            return Market.from_row(market) if market else None
        if self.related_type == "order":
            order = await loaders.order_by_id.load(row_id)
            return Order.from_row(order) if order and order.user_id == info.context.actor.user_id else None
        return None

    @classmethod
    def from_row(cls, row: NotificationRow) -> Notification:
        return cls.from_tick(NotificationTick.of(row))

    @classmethod
    def from_tick(cls, tick: NotificationTick) -> Notification:
        return cls(
            id=_id(tick.id), user_id=_id(tick.user_id), type=tick.type, title=tick.title, message=tick.message,
            read=tick.read, read_at=tick.read_at, created_at=tick.created_at,
            related_id=_id(tick.related_id) if tick.related_id is not None else None, related_type=tick.related_type,
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
