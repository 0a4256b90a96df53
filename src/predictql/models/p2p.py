"""P2P exchange: users trade platform balance ("USDT", kopecks) against fiat paid outside.

An ad is a standing offer; an order takes part of it. While an order is open the seller's amount
sits in the seller's ``user:{id}:p2p_escrow`` ledger account (``frozen_balance``); completion moves
it to the buyer, a cancel back to the seller. ``P2PProfile`` keeps each trader's public stats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Text
from sqlmodel import Field, SQLModel

from predictql.models.base import created_at, fk, id_field, money, when
from predictql.models.base import created_at as stamp

OPEN_ORDER_STATUSES = ("pending", "paid_by_buyer", "dispute")


class P2PAd(SQLModel, table=True):
    __tablename__ = "p2p_ads"

    id: int | None = id_field()
    user_id: int = fk("users.id", ondelete="CASCADE")
    type: str = Field(max_length=4)  # buy | sell: what the owner does with USDT
    fiat_currency: str = Field(max_length=8)
    exchange_rate: int = money(100)  # fiat kopecks per 100 balance kopecks (100 = 1:1)
    min_amount: int = money()  # balance kopecks per order
    max_amount: int = money()
    remaining_amount: int = money()  # what orders may still take
    payment_methods: list[str] = Field(default_factory=list, sa_type=JSON)
    payment_details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    instructions: str = Field(default="", sa_type=Text)
    max_payment_duration: int = 15  # minutes the buyer has to pay
    is_active: bool = True
    moderation_status: str = Field(default="approved", max_length=16)  # approved | hidden
    is_platform_ad: bool = False
    created_at: datetime = created_at()
    updated_at: datetime = stamp()

    __table_args__ = (Index("ix_p2p_ads_browse", "is_active", "type", "fiat_currency"),)


class P2POrder(SQLModel, table=True):
    __tablename__ = "p2p_orders"

    id: int | None = id_field()
    ad_id: int = fk("p2p_ads.id", ondelete="RESTRICT")
    buyer_id: int = fk("users.id", ondelete="RESTRICT")
    seller_id: int = fk("users.id", ondelete="RESTRICT")
    usdt_amount: int = money()
    fiat_amount: int = money()
    fiat_currency: str = Field(max_length=8)
    exchange_rate: int = money()
    payment_method: str = Field(max_length=64)
    payment_details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # where the buyer pays
    buyer_payment_details: dict[str, Any] | None = Field(default=None, sa_type=JSON)  # set by the buyer (PATCH)
    status: str = Field(default="pending", max_length=16)
    frozen_balance: int = money()
    operator_called: bool = False
    expires_at: datetime | None = when()  # the payment window's end while pending
    buyer_paid_at: datetime | None = when()
    finished_at: datetime | None = when()
    cancel_reason: str | None = Field(default=None, max_length=32)  # buyer | seller | expired | operator
    resolution: str | None = Field(default=None, max_length=8)  # dispute outcome: buyer | seller
    buyer_rating: int | None = None  # given by the buyer to the seller
    seller_rating: int | None = None  # given by the seller to the buyer
    created_at: datetime = created_at()
    updated_at: datetime = stamp()

    __table_args__ = (
        Index("ix_p2p_orders_status_expires", "status", "expires_at"),
        Index("ix_p2p_orders_ad_status", "ad_id", "status"),
    )


class P2PMessage(SQLModel, table=True):
    __tablename__ = "p2p_messages"

    id: int | None = id_field()
    order_id: int = fk("p2p_orders.id", ondelete="CASCADE")
    user_id: int | None = fk("users.id", nullable=True, index=False, ondelete="SET NULL")  # None: system
    sender_type: str = Field(default="user", max_length=16)  # user | operator | system
    message: str = Field(sa_type=Text)
    created_at: datetime = created_at()


class P2PProfile(SQLModel, table=True):
    """A trader's public P2P stats, kept in the transactions that change them."""

    __tablename__ = "p2p_profiles"

    user_id: int = Field(primary_key=True, foreign_key="users.id", sa_type=BigInteger, ondelete="CASCADE")
    completed_orders: int = 0
    rating_sum: int = 0
    rating_count: int = 0
