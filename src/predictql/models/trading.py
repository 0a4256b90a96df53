"""What users hold and did: positions, trades, watchlists, idempotent request records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from predictql.models.base import created_at, fk, id_field, money, when


class Position(SQLModel, table=True):
    """Units of one token of one market held by one user.

    ``cost`` is everything paid for the units still held (AMM or fill price plus fees) and
    ``price_cost`` its price part, which a cancellation refunds; ``bonus_cost`` is the share of
    ``price_cost`` paid from the bonus balance. ``realized_pnl`` accumulates on sells and at
    settlement. A closed row stays as history; a later buy opens a new row.
    """

    __tablename__ = "positions"

    id: int | None = id_field()
    user_id: int = fk("users.id", ondelete="RESTRICT")
    market_id: int = fk("markets.id", ondelete="RESTRICT")
    event_id: int = fk("events.id", ondelete="RESTRICT")
    token: str = Field(max_length=3)
    amount: int = money()
    avg_price: int = 0
    cost: int = money()
    price_cost: int = money()
    bonus_cost: int = money()
    realized_pnl: int = money()
    use_bonus: bool = False
    status: str = Field(default="open", max_length=8)
    won_side: int | None = None
    created_at: datetime = created_at()
    closed_at: datetime | None = when()

    __table_args__ = (
        Index("ix_positions_owner_status", "user_id", "status", "market_id"),
        Index("ix_positions_market_status", "market_id", "status"),
        # A user's closed positions, most recently closed first (keyset on closed_at, id): a page
        # reads its own rows, not all the user's closed positions (bench_scale.py, migration 0015).
        Index(
            "ix_positions_owner_closed",
            "user_id",
            "closed_at",
            "id",
            postgresql_where=text("status = 'closed'"),
            sqlite_where=text("status = 'closed'"),
        ),
    )


class Trade(SQLModel, table=True):
    """One execution: an LMSR trade or an order-book fill (one row per taker side)."""

    __tablename__ = "trades"

    id: int | None = id_field()
    market_id: int = fk("markets.id", ondelete="RESTRICT", index=False)
    event_id: int = fk("events.id", ondelete="RESTRICT")
    user_id: int = fk("users.id", ondelete="RESTRICT", index=False)  # ix_trades_user_history
    kind: str = Field(default="lmsr", max_length=10)
    side: str = Field(max_length=4)
    token: str = Field(max_length=3)
    shares: int = money()
    price: int = 0
    amount: int = money()
    fee: int = money()
    created_at: datetime = created_at()

    # (user_id, id): a user's history is keyset-paged on the id; a page costs its own rows, not
    # the user's whole history (bench/bench_scale.py, migration 0015).
    __table_args__ = (Index("ix_trades_market_id", "market_id", "id"), Index("ix_trades_user_history", "user_id", "id"))


class WatchlistEntry(SQLModel, table=True):
    __tablename__ = "watchlist"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE", sa_type=BigInteger)
    event_id: int = Field(foreign_key="events.id", primary_key=True, ondelete="CASCADE", index=True, sa_type=BigInteger)
    created_at: datetime = created_at()


class EventSuggestion(SQLModel, table=True):
    __tablename__ = "event_suggestions"

    id: int | None = id_field()
    user_id: int = fk("users.id", ondelete="CASCADE")
    name: str = Field(max_length=300)
    description: str = Field(default="", max_length=5000)
    tags: str = Field(default="", max_length=500)
    created_at: datetime = created_at()


class IdempotencyRecord(SQLModel, table=True):
    """A POST seen with an ``Idempotency-Key``: replayed for the same body, refused for another."""

    __tablename__ = "idempotency_keys"

    id: int | None = id_field()
    owner: str = Field(max_length=80)
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    response_body: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = created_at()
    completed_at: datetime | None = when()

    __table_args__ = (UniqueConstraint("owner", "key"),)
