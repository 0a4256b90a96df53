"""Every table, imported once so ``SQLModel.metadata`` is complete (Alembic and tests use it)."""

from sqlmodel import SQLModel

from predictql.models.accounts import ApiToken, AuthSession, EmailCode, PasswordReset, RefreshToken, User
from predictql.models.assets import Asset, AssetPricePoint, FxRate
from predictql.models.backoffice import AuditEntry
from predictql.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from predictql.models.markets import Event, EventTag, Market, Pool, PricePoint
from predictql.models.notifications import Notification
from predictql.models.orders import Order
from predictql.models.streams import StreamEvent, StreamHead
from predictql.models.trading import (
    EventSuggestion,
    IdempotencyRecord,
    Position,
    Trade,
    WatchlistEntry,
)

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "Asset",
    "AssetPricePoint",
    "AuditEntry",
    "AuthSession",
    "EmailCode",
    "Event",
    "EventSuggestion",
    "EventTag",
    "FxRate",
    "IdempotencyRecord",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "Market",
    "Notification",
    "Order",
    "PasswordReset",
    "Pool",
    "Position",
    "PricePoint",
    "RefreshToken",
    "StreamEvent",
    "StreamHead",
    "Trade",
    "User",
    "WatchlistEntry",
    "metadata",
]
