"""Notifications: what happened to a user's trades, orders and bets, kept until they delete it.

A notification is written inside the transaction of what it reports (a trade, a fill, a
resolution), so a rollback leaves none. ``related_type``/``related_id`` name the row it is about
(``event``, ``market`` or ``order``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Text
from sqlmodel import Field, SQLModel

from predictql.models.base import created_at, fk, id_field, when


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"

    id: int | None = id_field()
    user_id: int = fk("users.id", ondelete="CASCADE", index=False)
    type: str = Field(max_length=32)  # trade_executed | order_filled | bet_won | bet_lost | event_closed | ...
    title: str = Field(max_length=200)
    message: str = Field(sa_type=Text)
    read: bool = False
    read_at: datetime | None = when()
    created_at: datetime = created_at()
    related_id: int | None = Field(default=None, sa_type=BigInteger)
    related_type: str | None = Field(default=None, max_length=16)

    __table_args__ = (
        # A user's notifications newest first (keyset on id), and their unread ones (list and count).
        Index("ix_notifications_user_newest", "user_id", "id"),
        Index("ix_notifications_user_unread", "user_id", "read", "id"),
    )
