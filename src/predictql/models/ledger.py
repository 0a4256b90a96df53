"""Double-entry ledger: every balance change is a transaction whose entries sum to zero.

``LedgerAccount.balance`` is the running sum of its entries, kept in the same transaction as the
entries. A CHECK keeps user balances non-negative even if a bug slipped past the service checks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, text
from sqlmodel import Field, SQLModel

from predictql.models.base import created_at, fk, id_field, money

MONEY_KINDS_SQL = "kind IN ('deposit', 'withdrawal', 'payout_hold')"  # = services.users.MONEY_KINDS


class LedgerAccount(SQLModel, table=True):
    __tablename__ = "ledger_accounts"

    id: int | None = id_field()
    code: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=24, index=True)
    user_id: int | None = fk("users.id", nullable=True, ondelete="RESTRICT")
    balance: int = money()
    allow_negative: bool = False
    created_at: datetime = created_at()

    __table_args__ = (CheckConstraint("allow_negative OR balance >= 0", name="non_negative"),)


class LedgerTransaction(SQLModel, table=True):
    __tablename__ = "ledger_transactions"

    id: int | None = id_field()
    kind: str = Field(max_length=24, index=True)
    user_id: int | None = fk("users.id", nullable=True, ondelete="RESTRICT")
    reference_type: str | None = Field(default=None, max_length=24)
    reference_id: int | None = Field(default=None, sa_type=BigInteger)
    memo: str = Field(default="", max_length=200)
    created_at: datetime = created_at()

    # A user's deposits and withdrawals, newest first, without reading their trades' transactions
    # (``users.money_movements``; found by bench/bench_scale.py, migration 0015).
    __table_args__ = (
        Index(
            "ix_ledger_transactions_money",
            "user_id",
            "id",
            postgresql_where=text(MONEY_KINDS_SQL),
            sqlite_where=text(MONEY_KINDS_SQL),
        ),
    )


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entries"

    id: int | None = id_field()
    transaction_id: int = fk("ledger_transactions.id", ondelete="RESTRICT")
    account_id: int = fk("ledger_accounts.id", ondelete="RESTRICT")
    amount: int = Field(sa_type=BigInteger)
    created_at: datetime = created_at()
