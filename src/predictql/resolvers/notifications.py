"""GraphQL root fields of notifications: parse -> one service call -> wrap (REST twins in
``rest_compat/notifications.py``; the live stream is ``myNotifications`` in ``resolvers/subscriptions``)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from predictql.resolvers.common import INPUT, user_errors
from predictql.schema import ids
from predictql.schema.context import Info
from predictql.schema.ids import Kind, decode
from predictql.schema.notifications import (
    DeleteNotificationPayload,
    MarkAllNotificationsReadPayload,
    MarkNotificationReadPayload,
    Notification,
)
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.services import notifications


@strawberry.type
class NotificationsQuery:
    @strawberry.field(description=f"The caller's notifications, newest first; pages of {BOUNDS}.")
    async def notifications(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        unread: Annotated[
            bool, strawberry.argument(description="true: only the unread ones (REST /notifications/unread).")
        ] = False,
    ) -> Connection[Notification]:
        args = page_args(info, first, after, last, before)
        async with info.context.db.session() as session:
            page = await notifications.page(session, info.context.actor, args, unread=unread)
        return connection(page, Notification.from_row, lambda row: row.id)

    @strawberry.field(description="How many of the caller's notifications are unread (the badge).")
    async def unread_notification_count(self, info: Info) -> int:
        async with info.context.db.session() as session:
            return await notifications.unread_count(session, info.context.actor)


@strawberry.input(description="One of the caller's notifications.")
class NotificationInput:
    id: strawberry.ID = strawberry.field(description="The notification's id.")


@strawberry.type
class NotificationsMutation:
    @strawberry.mutation(description="Mark one of the caller's notifications read; the notification as it now is.")
    @user_errors
    async def mark_notification_read(
        self, info: Info, input: Annotated[NotificationInput, INPUT]
    ) -> MarkNotificationReadPayload:
        notification_id = decode(Kind.NOTIFICATION, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await notifications.mark_read(session, info.context.actor, notification_id=notification_id)
        return MarkNotificationReadPayload(notification=Notification.from_row(row))

    @strawberry.mutation(description="Mark every unread notification of the caller read; how many were unread.")
    @user_errors
    async def mark_all_notifications_read(self, info: Info) -> MarkAllNotificationsReadPayload:
        async with info.context.db.transaction() as session:
            count = await notifications.mark_all_read(session, info.context.actor)
        return MarkAllNotificationsReadPayload(marked_count=count)

    @strawberry.mutation(description="Delete one of the caller's notifications (another user's: NOT_FOUND).")
    @user_errors
    async def delete_notification(
        self, info: Info, input: Annotated[NotificationInput, INPUT]
    ) -> DeleteNotificationPayload:
        notification_id = decode(Kind.NOTIFICATION, input.id, "id")
        async with info.context.db.transaction() as session:
            await notifications.delete(session, info.context.actor, notification_id=notification_id)
        return DeleteNotificationPayload(
            deleted_notification_id=strawberry.ID(ids.encode(ids.Kind.NOTIFICATION, notification_id))
        )
