"""GraphQL types of notifications: one notification, the caller's notifications as a connection."""

from __future__ import annotations

from datetime import datetime

import strawberry

from predictql.models import Notification as NotificationRow
from predictql.schema.enums import NotificationSubjectType, NotificationType, opt
from predictql.schema.ids import Kind
from predictql.schema.node import Node, gid, opt_gid
from predictql.schema.pagination import PageInfo
from predictql.services.cursors import Page, encode_cursor
from predictql.subscriptions.payloads import NotificationTick

SUBJECT_KINDS = {"event": Kind.EVENT, "market": Kind.MARKET, "order": Kind.ORDER}


@strawberry.type(description="Something that happened to the caller's trades, orders or bets.")
class Notification(Node):
    id: strawberry.ID
    user_id: strawberry.ID = strawberry.field(description="The recipient's global id (usr_...).")
    type: NotificationType = strawberry.field(description="What happened.")
    title: str = strawberry.field(description='A short heading, e.g. "Event Resolved".')
    message: str = strawberry.field(description="The sentence to show, e.g. \"Event 'X' has been resolved\".")
    read: bool
    read_at: datetime | None = strawberry.field(description="When it was first marked read; null while unread.")
    created_at: datetime
    related_id: strawberry.ID | None = strawberry.field(
        description="The global id of what it is about (evt_..., mkt_... or ord_...)."
    )
    related_type: NotificationSubjectType | None = strawberry.field(description="What relatedId names.")

    @classmethod
    def from_row(cls, row: NotificationRow) -> Notification:
        return cls.from_tick(NotificationTick.of(row))

    @classmethod
    def from_tick(cls, tick: NotificationTick) -> Notification:
        return cls(
            id=gid(Kind.NOTIFICATION, tick.id), user_id=gid(Kind.USER, tick.user_id),
            type=NotificationType(tick.type), title=tick.title, message=tick.message,
            read=tick.read, read_at=tick.read_at, created_at=tick.created_at,
            related_id=opt_gid(SUBJECT_KINDS[tick.related_type], tick.related_id) if tick.related_type else None,
            related_type=opt(NotificationSubjectType, tick.related_type),
        )

    @staticmethod
    def live(text: str) -> Notification:
        """A bus message of ``user:{id}:notifications`` (module level: built once per message)."""
        return Notification.from_tick(NotificationTick.from_json(text))


@strawberry.type
class NotificationEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this notification.")
    node: Notification


@strawberry.type(description="A page of the caller's notifications, newest first.")
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: Page[NotificationRow]) -> NotificationConnection:
        edges = [
            NotificationEdge(cursor=encode_cursor(row.id or 0), node=Notification.from_row(row)) for row in page.items
        ]
        return cls(edges=edges, page_info=PageInfo(has_next_page=page.has_more, end_cursor=page.next_cursor))
