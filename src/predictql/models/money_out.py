"""Money in and out through the back office: card orders (RUB by bank card, operator-mediated,
0 %), their operator chat, and crypto withdrawals (USDT/USDC on chain, approved by an operator).

Every kopeck of them moves through the ledger (``services.money_out``): a card withdraw and a
crypto withdrawal are debited into the user's payout hold when created and leave it exactly once,
to the world (sent) or back to the user (cancelled, rejected). States change by conditional
``UPDATE ... WHERE status IN (...)``, so two racing operators (or an operator and the user)
settle an order once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Text
from sqlmodel import Field, SQLModel

from predictql.models.base import created_at, fk, id_field, money, when
from predictql.models.base import created_at as stamped


class CardOrder(SQLModel, table=True):
    __tablename__ = "card_orders"

    id: int | None = id_field()
    user_id: int = fk("users.id", ondelete="RESTRICT", index=False)
    type: str = Field(max_length=16)  # deposit | withdraw
    amount: int = money()  # kopecks
    status: str = Field(max_length=16)  # pending | paid_by_user | completed | cancelled | rejected
    payment_details: dict[str, Any] | None = Field(default=None, sa_type=JSON)  # withdraw: {card_number, ...}
    operator_id: int | None = fk("users.id", nullable=True, index=False, ondelete="SET NULL")
    note: str | None = Field(default=None, max_length=500)  # the operator's reason on a rejection
    created_at: datetime = created_at()
    updated_at: datetime = stamped()
    paid_at: datetime | None = when()
    closed_at: datetime | None = when()

    __table_args__ = (
        Index("ix_card_orders_user", "user_id", "id"),
        Index("ix_card_orders_status", "status", "id"),
    )


class CardMessage(SQLModel, table=True):
    __tablename__ = "card_messages"

    id: int | None = id_field()
    order_id: int = fk("card_orders.id", ondelete="CASCADE", index=False)
    sender_id: int = fk("users.id", ondelete="RESTRICT", index=False)
    from_operator: bool = False
    message: str = Field(sa_type=Text)
    created_at: datetime = created_at()

    __table_args__ = (Index("ix_card_messages_order", "order_id", "id"),)


class Withdrawal(SQLModel, table=True):
    __tablename__ = "withdrawals"

    id: int | None = id_field()
    user_id: int = fk("users.id", ondelete="RESTRICT", index=False)
    token: str = Field(max_length=8)  # USDT | USDC
    network: str = Field(max_length=16)  # tron | bsc | polygon | ethereum | avalanche
    address: str = Field(max_length=64)
    amount: int = money()  # cents = kopecks of balance, debited whole
    fee: int = money()
    amount_sent: int = money()  # amount - fee, what goes on chain
    status: str = Field(max_length=16)  # pending | completed | cancelled | rejected
    tx_hash: str | None = Field(default=None, max_length=128)
    operator_id: int | None = fk("users.id", nullable=True, index=False, ondelete="SET NULL")
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at()
    updated_at: datetime = stamped()
    closed_at: datetime | None = when()

    __table_args__ = (
        Index("ix_withdrawals_user", "user_id", "id"),
        Index("ix_withdrawals_status", "status", "id"),
    )
