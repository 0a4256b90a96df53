"""Events hold pools; a pool's outcomes are binary YES/NO markets (LMSR or order book)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index
from sqlmodel import Field, SQLModel

from predictql.db import UTCDateTime
from predictql.models.base import created_at, fk, id_field, money, when


class Event(SQLModel, table=True):
    __tablename__ = "events"

    id: int | None = id_field()
    creator_id: int = fk("users.id", ondelete="RESTRICT")
    name: str = Field(max_length=300)
    name_ru: str = Field(default="", max_length=300)
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    image_url: str | None = Field(default=None, max_length=500)
    is_active: bool = False
    versus_names: list[str] = Field(default_factory=list, sa_type=JSON)
    versus_images: list[str] = Field(default_factory=list, sa_type=JSON)
    has_draw: bool = False
    main_pool_id: int | None = Field(default=None, sa_type=BigInteger)
    is_loop_event: bool = False
    loop_interval_minutes: int = 0
    asset_symbol: str | None = Field(default=None, max_length=20, index=True)
    polymarket_event_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at()
    closed_at: datetime | None = when()
    cancelled_at: datetime | None = when()


class EventTag(SQLModel, table=True):
    """Tags normalized for filtering (``Event.tags`` keeps their order for display)."""

    __tablename__ = "event_tags"

    event_id: int = Field(foreign_key="events.id", primary_key=True, ondelete="CASCADE", sa_type=BigInteger)
    tag: str = Field(primary_key=True, max_length=100, index=True)


class Pool(SQLModel, table=True):
    __tablename__ = "pools"

    id: int | None = id_field()
    event_id: int = fk("events.id", ondelete="CASCADE")
    name: str = Field(max_length=300)
    name_ru: str = Field(default="", max_length=300)
    rules: str = Field(default="", max_length=10000)
    rules_ru: str = Field(default="", max_length=10000)
    margin: float = Field(default=0.0, sa_type=Float)
    live_at: datetime = Field(sa_type=UTCDateTime)
    finish_at: datetime = Field(sa_type=UTCDateTime)
    won_side: int | None = None
    meta: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = created_at()
    closed_at: datetime | None = when()


class Market(SQLModel, table=True):
    """One outcome as a binary market. LMSR state: q_yes/q_no units sold, liquidity ``lmsr_b``
    (share units = kopecks) and the prior ``p0`` that fixes the starting YES price."""

    __tablename__ = "markets"

    id: int | None = id_field()
    pool_id: int = fk("pools.id", ondelete="CASCADE")
    event_id: int = fk("events.id", ondelete="CASCADE")
    name: str = Field(max_length=300)
    name_ru: str = Field(default="", max_length=300)
    outcome_index: int = 0
    market_type: str = Field(default="lmsr", max_length=16)
    lmsr_b: int = Field(sa_type=BigInteger)
    p0: float = Field(sa_type=Float)
    q_yes: int = money()
    q_no: int = money()
    volume: int = money()
    paused: bool = False
    resolved: bool = False
    winning_outcome: str | None = Field(default=None, max_length=3)
    last_price: int | None = None  # order book: the last execution's YES price, basis points
    yes_name: str = Field(default="Yes", max_length=100)
    no_name: str = Field(default="No", max_length=100)
    created_at: datetime = created_at()
    resolved_at: datetime | None = when()


class PricePoint(SQLModel, table=True):
    """The YES probability of a market after each change: the source of every chart."""

    __tablename__ = "price_points"

    id: int | None = id_field()
    market_id: int = fk("markets.id", ondelete="CASCADE", index=False)
    probability: float = Field(sa_type=Float)
    created_at: datetime = created_at()

    __table_args__ = (Index("ix_price_points_market_time", "market_id", "created_at"),)
