"""Order-book orders: what a user asked for, how far it got, and what it still holds in escrow.

Units follow ``pricing/orderbook_types``: a buy's ``amount``/``remaining`` is a kopeck budget that
covers cost and fee; a sell's is share units. ``escrow`` is what the order still reserves: kopecks
held in the owner's ``user:{id}:escrow`` ledger account (buy; ``escrow_bonus`` of them came from the
bonus balance and go back there), or units of the owner's position that no other sell may use
(sell). It is zero once the order is filled or cancelled.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from predictql.db import UTCDateTime, utcnow
from predictql.models.base import created_at, fk, id_field, money, when

OPEN_STATUSES = ("pending", "partial")
OPEN_SQL = "status IN ('pending', 'partial')"  # OPEN_STATUSES as partial indexes and their queries spell it
OPEN_GTD_SQL = f"{OPEN_SQL} AND expires_at IS NOT NULL"  # the open orders that can expire

# An open order's place in the book, as SQL over the row (migration 0016 indexes both, verbatim):
# BOOK_SIDE is 1 for a bid (buys YES or sells NO: YES price ``price`` or 10000 - ``price``), 0 for
# an ask; BOOK_KEY its priority within the side, smaller first: an ask's YES price, a bid's YES price
# negated, so both sides read ``(BOOK_KEY, seq)`` ascending. Constants are literals, not bound
# parameters: an expression index matches only the same expression. Laid out as PostgreSQL prints
# them back, so Alembic's comparison of models and migrations sees the same text.
BOOK_SIDE = """
CASE
    WHEN side = 'buy' AND token = 'YES' OR side = 'sell' AND token = 'NO' THEN 1
    ELSE 0
END"""
BOOK_KEY = """
CASE
    WHEN side = 'buy' AND token = 'YES' THEN - price
    WHEN side = 'sell' AND token = 'NO' THEN price - 10000
    WHEN token = 'YES' THEN price
    ELSE 10000 - price
END"""


class Order(SQLModel, table=True):
    __tablename__ = "orders"

    id: int | None = id_field()
    user_id: int = fk("users.id", ondelete="RESTRICT", index=False)
    market_id: int = fk("markets.id", ondelete="RESTRICT", index=False)
    event_id: int = fk("events.id", ondelete="RESTRICT", index=False)
    side: str = Field(max_length=4)  # buy | sell
    token: str = Field(max_length=3)  # YES | NO
    kind: str = Field(max_length=6)  # limit | market
    price: int = 0  # own-token basis points 1..9999; 0 for a market order
    amount: int = money()
    remaining: int = money()
    filled: int = money()  # units executed
    spent: int = money()  # buy: kopecks paid, fees included
    received: int = money()  # sell: kopecks received, fees deducted
    fees: int = money()
    tif: str = Field(default="GTC", max_length=9)
    expires_at: datetime | None = when()
    client_order_id: str | None = Field(default=None, max_length=64)
    seq: int = Field(sa_type=BigInteger)  # price-time priority within the market
    status: str = Field(default="pending", max_length=9)
    cancel_reason: str | None = Field(default=None, max_length=32)
    use_bonus: bool = False
    escrow: int = money()
    escrow_bonus: int = money()
    created_at: datetime = created_at()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    __table_args__ = (
        # (market_id, status) prefix: a market's open orders; + expires_at: the ones due to expire.
        Index("ix_orders_market_status", "market_id", "status", "expires_at"),
        Index("ix_orders_user_status", "user_id", "status"),
        # The expiry sweep's question, "any open order past its time?", on open GTD orders only.
        Index(
            "ix_orders_open_expiry",
            "expires_at",
            postgresql_where=text(OPEN_GTD_SQL),
            sqlite_where=text(OPEN_GTD_SQL),
        ),
        # A side of a market's book in priority order, open orders only: the crossing window of a
        # batch (``orderbook_batch._window_query``) reads its first rows, not the whole side.
        Index(
            "ix_orders_book",
            "market_id",
            text(f"({BOOK_SIDE})"),
            text(f"({BOOK_KEY})"),
            "seq",
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
        # A market's open GTD orders by expiry: the ones a batch finds due (``due_conditions``) are a
        # seek, whatever the depth of its book (ix_orders_book, partial on the open statuses too,
        # looked cheaper to a planner without statistics, and read every open order of the market).
        Index(
            "ix_orders_market_due",
            "market_id",
            "expires_at",
            postgresql_where=text(OPEN_GTD_SQL),
            sqlite_where=text(OPEN_GTD_SQL),
        ),
        UniqueConstraint("user_id", "client_order_id"),
        # One seq per market: a second matcher working the same market at once could not commit.
        UniqueConstraint("market_id", "seq"),
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class BookLevel(SQLModel, table=True):
    """How many open limit orders of a market rest with one (token, price, side, remaining).

    Derived from ``orders`` and kept by database triggers on it (migration 0017), in the writing
    statement's own transaction whichever code path wrote the order, so the levels published
    after a batch read a level's rows here instead of every order resting at it. A buy's
    units depend on its own remaining budget (``orderbook_trading.level_units``), hence the
    remaining in the key: a level costs its distinct remainders (few where amounts repeat, as
    many as its orders where none do, though still one narrow primary-key range). Only positive
    counts are kept; GTD orders past their time stay counted until swept (the level read
    subtracts those). ``book_check`` compares it with ``orders``."""

    __tablename__ = "book_levels"

    market_id: int = Field(sa_type=BigInteger, primary_key=True)  # no FK: a copy of orders' own
    token: str = Field(max_length=3, primary_key=True)
    price: int = Field(primary_key=True)  # own-token basis points, as Order.price
    side: str = Field(max_length=4, primary_key=True)
    remaining: int = Field(sa_type=BigInteger, primary_key=True)
    orders: int = Field(sa_type=BigInteger)

    __table_args__ = (CheckConstraint("orders > 0", name="positive"),)
