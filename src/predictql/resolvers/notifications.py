"""GraphQL root fields of notifications: parse -> one service call -> wrap (REST twins in
``rest_compat/notifications.py``; the live stream is ``myNotifications`` in ``resolvers/subscriptions``)."""

from __future__ import annotations

import strawberry

from predictql.schema.context import Info
from predictql.schema.ids import Kind, decode
from predictql.schema.notifications import Notification, NotificationConnection
from predictql.services import notifications


@strawberry.type
class NotificationsQuery:
    @strawberry.field(description="The caller's notifications, newest first (first: 1-100).")
    async def notifications(self, info: Info, first: int = 20, after: str | None = None) -> NotificationConnection:
        async with info.context.db.session() as session:
            page = await notifications.page(session, info.context.actor, first=first, after=after)
        return NotificationConnection.from_page(page)

    @strawberry.field(description="How many of the caller's notifications are unread (the badge).")
    async def unread_notification_count(self, info: Info) -> int:
        async with info.context.db.session() as session:
            return await notifications.unread_count(session, info.context.actor)


@strawberry.type
class NotificationsMutation:
    @strawberry.mutation(description="Mark one of the caller's notifications read; the notification as it now is.")
    async def mark_notification_read(self, info: Info, id: strawberry.ID) -> Notification:
        async with info.context.db.transaction() as session:
            row = await notifications.mark_read(
                session, info.context.actor, notification_id=decode(Kind.NOTIFICATION, id)
            )
        return Notification.from_row(row)

    @strawberry.mutation(description="Mark every unread notification of the caller read; how many were unread.")
    async def mark_all_notifications_read(self, info: Info) -> int:
        async with info.context.db.transaction() as session:
            return await notifications.mark_all_read(session, info.context.actor)

    @strawberry.mutation(description="Delete one of the caller's notifications (another user's: NOT_FOUND).")
    async def delete_notification(self, info: Info, id: strawberry.ID) -> bool:
        async with info.context.db.transaction() as session:
            await notifications.delete(session, info.context.actor, notification_id=decode(Kind.NOTIFICATION, id))
        return True
