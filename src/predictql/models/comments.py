"""Comments on events (our extension) and price alerts with their log (our extension).

A comment is top-level (``parent_id`` null) or a reply to a top-level comment: one level only.
``status`` is ``visible``, ``deleted`` (by its author; the text is gone) or ``hidden`` (by an
admin; the text is kept for moderation but never shown).

A price alert watches a market's YES price (``market_id``, ``level`` in basis points) or an
asset's price (``symbol``, ``level`` in the asset's quote currency) crossing ``level`` in
``direction`` (``above`` | ``below``). ``status``: ``active``, ``fired`` (a one-shot alert that
fired) or ``deleted``; rows stay so that the log keeps pointing at them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Index, Numeric, Text
from sqlmodel import Field, SQLModel

from predictql.models.base import created_at, fk, id_field, when

PRICE = Numeric(30, 10)  # an alert level or a price: basis points (market) or an asset price


class Comment(SQLModel, table=True):
    __tablename__ = "comments"

    id: int | None = id_field()
    event_id: int = fk("events.id", ondelete="CASCADE", index=False)
    user_id: int = fk("users.id", ondelete="CASCADE", index=False)
    parent_id: int | None = fk("comments.id", nullable=True, index=False, ondelete="CASCADE")
    body: str = Field(sa_type=Text)
    status: str = Field(default="visible", max_length=8)
    created_at: datetime = created_at()
    edited_at: datetime | None = when()
    removed_at: datetime | None = when()  # deleted or hidden

    __table_args__ = (
        # An event's top-level comments (keyset on id either way), a thread's replies, a user's
        # recent comments (the rate limit).
        Index("ix_comments_event_parent", "event_id", "parent_id", "id"),
        Index("ix_comments_parent", "parent_id", "id"),
        Index("ix_comments_user", "user_id", "id"),
    )


class PriceAlert(SQLModel, table=True):
    __tablename__ = "price_alerts"

    id: int | None = id_field()
    user_id: int = fk("users.id", ondelete="CASCADE", index=False)
    market_id: int | None = fk("markets.id", nullable=True, index=False, ondelete="CASCADE")
    symbol: str | None = Field(default=None, max_length=32)
    direction: str = Field(max_length=5)  # above | below
    level: Decimal = Field(sa_type=PRICE)
    repeating: bool = False
    status: str = Field(default="active", max_length=8)
    fire_count: int = 0
    last_fired_at: datetime | None = when()
    created_at: datetime = created_at()

    __table_args__ = (
        Index("ix_price_alerts_user", "user_id", "status", "id"),
        Index("ix_price_alerts_market", "market_id", "status"),
        Index("ix_price_alerts_symbol", "symbol", "status"),
    )


class AlertFiring(SQLModel, table=True):
    """One firing of a price alert: which, when, at what price (the log)."""

    __tablename__ = "alert_firings"

    id: int | None = id_field()
    alert_id: int = fk("price_alerts.id", ondelete="CASCADE", index=False)
    user_id: int = fk("users.id", ondelete="CASCADE", index=False)
    market_id: int | None = fk("markets.id", nullable=True, index=False, ondelete="CASCADE")
    symbol: str | None = Field(default=None, max_length=32)
    direction: str = Field(max_length=5)
    level: Decimal = Field(sa_type=PRICE)
    price_before: Decimal | None = Field(default=None, sa_type=PRICE)
    price: Decimal = Field(sa_type=PRICE)
    created_at: datetime = created_at()

    __table_args__ = (
        Index("ix_alert_firings_user", "user_id", "id"),
        Index("ix_alert_firings_alert", "alert_id", "id"),
    )
