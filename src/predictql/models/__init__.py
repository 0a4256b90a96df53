"""Every table, imported once so ``SQLModel.metadata`` is complete (Alembic and tests use it)."""

from sqlmodel import SQLModel

from predictql.models.accounts import ApiToken, AuthSession, EmailCode, PasswordReset, RefreshToken, User
from predictql.models.backoffice import AuditEntry
from predictql.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from predictql.models.markets import Event, EventTag, Market, Pool, PricePoint
from predictql.models.notifications import Notification
from predictql.models.orders import Order
from predictql.models.p2p import P2PAd, P2PMessage, P2POrder, P2PProfile
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
    "AuditEntry",
    "AuthSession",
    "EmailCode",
    "Event",
    "EventSuggestion",
    "EventTag",
    "IdempotencyRecord",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "Market",
    "Notification",
    "Order",
    "P2PAd",
    "P2PMessage",
    "P2POrder",
    "P2PProfile",
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
