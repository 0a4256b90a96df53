"""Every table, imported once so ``SQLModel.metadata`` is complete (Alembic and tests use it)."""

from sqlmodel import SQLModel

from predictql.models.accounts import ApiToken, AuthSession, EmailCode, PasswordReset, RefreshToken, User
from predictql.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "AuthSession",
    "EmailCode",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "PasswordReset",
    "RefreshToken",
    "User",
    "metadata",
]
