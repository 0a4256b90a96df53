"""GraphQL types of notifications: one notification, the caller's notifications as a connection."""

from __future__ import annotations

from datetime import datetime

import strawberry

from predictql.models import Notification as NotificationRow
from predictql.schema.pagination import PageInfo
from predictql.services.cursors import Page, encode_cursor
from predictql.subscriptions.payloads import NotificationTick


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
    created_at: datetime = strawberry.field(description="When it was created (RFC 3339, UTC).")
    related_id: strawberry.ID | None = strawberry.field(description="The id of the row it is about.")
    related_type: str | None = strawberry.field(description="What relatedId names: event, market or order.")

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


@strawberry.type(description="One notification of a page, with its cursor.")
class NotificationEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this notification.")
    node: Notification = strawberry.field(description="The notification.")


@strawberry.type(description="A page of the caller's notifications, newest first.")
class NotificationConnection:
    edges: list[NotificationEdge] = strawberry.field(description="The page's notifications, newest first.")
    page_info: PageInfo = strawberry.field(description="Whether more follow, and the cursor to continue from.")

    @classmethod
    def from_page(cls, page: Page[NotificationRow]) -> NotificationConnection:
        edges = [
            NotificationEdge(cursor=encode_cursor(row.id or 0), node=Notification.from_row(row)) for row in page.items
        ]
        return cls(edges=edges, page_info=PageInfo(has_next_page=page.has_more, end_cursor=page.next_cursor))
