"""Every table, imported once so ``SQLModel.metadata`` is complete (Alembic and tests use it)."""

from sqlmodel import SQLModel

from predictql.models.accounts import ApiToken, AuthSession, EmailCode, PasswordReset, RefreshToken, User
from predictql.models.assets import Asset, AssetPricePoint, FxRate
from predictql.models.backoffice import AuditEntry
from predictql.models.comments import AlertFiring, Comment, PriceAlert
from predictql.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from predictql.models.markets import Event, EventTag, Market, Pool, PricePoint
from predictql.models.money_out import CardMessage, CardOrder, Withdrawal
from predictql.models.notifications import Notification
from predictql.models.orders import BookLevel, Order
from predictql.models.p2p import P2PAd, P2PMessage, P2POrder, P2PProfile
from predictql.models.streams import StreamEvent, StreamHead
from predictql.models.support_chat import ChatMessage, ChatSession
from predictql.models.trading import (
    EventSuggestion,
    IdempotencyRecord,
    Position,
    Trade,
    WatchlistEntry,
)

metadata = SQLModel.metadata

__all__ = [
    "AlertFiring",
    "ApiToken",
    "Asset",
    "AssetPricePoint",
    "AuditEntry",
    "AuthSession",
    "BookLevel",
    "CardMessage",
    "CardOrder",
    "ChatMessage",
    "ChatSession",
    "Comment",
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
    "P2PAd",
    "P2PMessage",
    "P2POrder",
    "P2PProfile",
    "PasswordReset",
    "Pool",
    "Position",
    "PriceAlert",
    "PricePoint",
    "RefreshToken",
    "StreamEvent",
    "StreamHead",
    "Trade",
    "User",
    "WatchlistEntry",
    "Withdrawal",
    "metadata",
]
