"""Every closed set of the GraphQL schema, as enums (issue 11 point 3).

GraphQL shows the member NAMES (UPPER_SNAKE); each member's Python value is the string the services
and the database use, so the boundary converts with ``Enum(service_value)`` (output) and
``member.value`` (input), and services keep their strings. A value outside the set is refused
while the document is validated (``GRAPHQL_VALIDATION_FAILED``) or a variable is coerced
(``BAD_USER_INPUT``), before any resolver runs.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar, cast

import strawberry

E = TypeVar("E", bound=Enum)


def value(raw: str, description: str) -> str:
    """A member whose GraphQL name is its Python name and whose value is the service's string ``raw``
    (typed as ``str`` so that ``member.value`` is one for mypy too: Strawberry unwraps it)."""
    return cast(str, strawberry.enum_value(raw, description=description))


@strawberry.enum(description="A side of a binary market: what a share pays out on (also the side that won).")
class Outcome(Enum):
    YES = value("YES", description="Pays 1 kopeck per unit if the market resolves YES.")
    NO = value("NO", description="Pays 1 kopeck per unit if the market resolves NO.")

    @classmethod
    def of_index(cls, index: int | None) -> Outcome | None:
        """0 = YES, 1 = NO, as the services store a winning side; None stays None."""
        return None if index is None else (cls.YES, cls.NO)[index]


@strawberry.enum(description="Buying or selling shares.")
class OrderSide(Enum):
    BUY = value("buy", description="Buy shares of the token.")
    SELL = value("sell", description="Sell shares of the token.")


@strawberry.enum(description="An LMSR trade: a direction and a token in one.")
class LmsrSide(Enum):
    BUY_YES = value("buy_yes", description="Buy YES shares from the market maker.")
    SELL_YES = value("sell_yes", description="Sell YES shares to the market maker.")
    BUY_NO = value("buy_no", description="Buy NO shares from the market maker.")
    SELL_NO = value("sell_no", description="Sell NO shares to the market maker.")


@strawberry.enum(description="What an LMSR trade's amount counts.")
class AmountType(Enum):
    SPEND = value("spend", description="A kopeck budget, fees included (buys only).")
    SHARES = value("shares", description="Share units.")


@strawberry.enum(description="How an order is priced.")
class OrderKind(Enum):
    LIMIT = value("limit", description="At its limit price or better.")
    MARKET = value("market", description="At the resting prices, whatever they are.")


@strawberry.enum(description="How long an order stays on the book.")
class TimeInForce(Enum):
    GTC = value("GTC", description="Good till cancelled.")
    GTD = value("GTD", description="Good till expiresAt.")
    IOC = value("IOC", description="Immediate or cancel: what does not match at once is cancelled.")
    FOK = value("FOK", description="Fill or kill: the whole order matches at once, or nothing happens.")
    POST_ONLY = value("POST_ONLY", description="Rests only; refused if it would match at once.")


@strawberry.enum(description="Where an order is in its life.")
class OrderStatus(Enum):
    PENDING = value("pending", description="Resting, nothing filled yet.")
    PARTIAL = value("partial", description="Resting, partly filled.")
    FILLED = value("filled", description="Done: everything that could execute did.")
    CANCELLED = value("cancelled", description="Done: taken off the book (see cancelReason).")


@strawberry.enum(description="Which of the caller's orders to list.")
class OrderStatusFilter(Enum):
    OPEN = value("open", description="Pending or partial: still on the book.")
    PENDING = value("pending", description="Resting, nothing filled yet.")
    PARTIAL = value("partial", description="Resting, partly filled.")
    FILLED = value("filled", description="Filled.")
    CANCELLED = value("cancelled", description="Cancelled.")


@strawberry.enum(description="Why an order was cancelled.")
class CancelReason(Enum):
    USER_CANCEL = value("user_cancel", description="Its owner cancelled it.")
    EXPIRED = value("expired", description="A GTD order reached expiresAt.")
    SELF_TRADE = value("self_trade", description="It rested where the owner's own new order would have matched it.")
    IOC_REMAINDER = value("ioc_remainder", description="The unmatched rest of an IOC or market order.")
    DUST = value("dust", description="What remained was too small to buy a unit.")
    MARKET_PAUSED = value("market_paused", description="The market was paused.")
    MARKET_RESOLVED = value("market_resolved", description="The market was resolved.")
    EVENT_CANCELLED = value("event_cancelled", description="The event was cancelled.")
    POST_ONLY_WOULD_CROSS = value("POST_ONLY_WOULD_CROSS", description="A POST_ONLY order would have matched.")
    FOK_NOT_FILLABLE = value("FOK_NOT_FILLABLE", description="A FOK order could not fill whole.")


@strawberry.enum(description="Where an event is in its life.")
class EventStatus(Enum):
    NEW = value("new", description="No pool is live yet.")
    STARTED = value("started", description="At least one pool is live.")
    PAID = value("paid", description="Every pool is resolved and paid out.")
    CANCELLED = value("cancelled", description="Cancelled; positions refunded.")


@strawberry.enum(description="Whether a position is still held.")
class PositionStatus(Enum):
    OPEN = value("open", description="Units are held.")
    CLOSED = value("closed", description="Sold, settled or refunded.")


@strawberry.enum(description="How a market trades.")
class MarketType(Enum):
    LMSR = value("lmsr", description="Against the LMSR automated market maker.")
    ORDERBOOK = value("orderbook", description="On a central limit order book, between users.")


@strawberry.enum(description="How a trade was executed.")
class TradeSource(Enum):
    LMSR = value("lmsr", description="With the LMSR market maker.")
    ORDERBOOK = value("orderbook", description="An order-book fill between two users.")


@strawberry.enum(description="A role an administrator (or, for stats viewers, a creator) grants.")
class Role(Enum):
    CREATOR = value("creator", description="May create events.")
    STATS_VIEWER = value("stats_viewer", description="May read platform statistics.")
    ADMIN = value("admin", description="May manage everything.")


@strawberry.enum(description="What a notification tells.")
class NotificationType(Enum):
    TRADE_EXECUTED = value("trade_executed", description="An LMSR trade of the user executed.")
    ORDER_FILLED = value("order_filled", description="An order of the user filled, in part or whole.")
    BET_WON = value("bet_won", description="A position of the user won.")
    BET_LOST = value("bet_lost", description="A position of the user lost.")
    EVENT_CLOSED = value("event_closed", description="An event the user held positions in was resolved.")
    EVENT_CANCELLED = value("event_cancelled", description="An event the user held positions in was cancelled.")
    CARD_ORDER_UPDATED = value("card_order_updated", description="A card order of the user changed state.")
    CARD_ORDER_MESSAGE = value("card_order_message", description="An operator wrote on a card order's chat.")
    WITHDRAWAL_UPDATED = value("withdrawal_updated", description="A crypto withdrawal of the user changed state.")
    COMMENT_REPLY = value("comment_reply", description="Someone replied to a comment thread the user wrote in.")
    PRICE_ALERT = value("price_alert", description="A price alert of the user fired.")
    P2P_ORDER_CREATED = value("p2p_order_created", description="Someone took the user's P2P ad.")
    P2P_ORDER_PAID = value("p2p_order_paid", description="The buyer of the user's P2P sale says they paid.")
    P2P_ORDER_COMPLETED = value("p2p_order_completed", description="The user's P2P purchase completed.")
    P2P_ORDER_CANCELLED = value("p2p_order_cancelled", description="The counterparty cancelled a P2P order.")
    P2P_ORDER_EXPIRED = value("p2p_order_expired", description="A P2P order was not paid in time.")
    P2P_DISPUTE_OPENED = value("p2p_dispute_opened", description="The counterparty called an operator.")
    P2P_DISPUTE_RESOLVED = value("p2p_dispute_resolved", description="An operator resolved a P2P dispute.")
    P2P_MESSAGE = value("p2p_message", description="A new message on a P2P order's chat.")
    P2P_AD_MODERATED = value("p2p_ad_moderated", description="An operator hid or showed again the user's P2P ad.")
    LOOP_ROUND_REFUNDED = value(
        "loop_round_refunded",
        description="A loop-event round the user held was cancelled for want of a fresh price; refunded.",
    )
    SUPPORT_REPLY = value("support_reply", description="An operator answered the user's support chat.")


@strawberry.enum(description="What kind of object a notification is about.")
class NotificationSubjectType(Enum):
    EVENT = value("event", description="An event.")
    MARKET = value("market", description="A market.")
    ORDER = value("order", description="An order.")
    CARD_ORDER = value("card_order", description="A card order.")
    WITHDRAWAL = value("withdrawal", description="A crypto withdrawal.")
    P2P_ORDER = value("p2p_order", description="A P2P order.")
    P2P_AD = value("p2p_ad", description="A P2P ad.")


@strawberry.enum(description="A kind of money movement.")
class MoneyTransactionType(Enum):
    DEPOSIT = value("deposit", description="Money in.")
    WITHDRAWAL = value("withdrawal", description="Money out.")


@strawberry.enum(description="Where a money movement is.")
class MoneyTransactionStatus(Enum):
    PENDING = value("pending", description="A money-out request not yet sent (its amount is in payoutFrozen).")
    COMPLETED = value("completed", description="Done: a deposit booked, or money-out sent.")
    FAILED = value("failed", description="A money-out request cancelled or rejected; its amount came back.")


@strawberry.enum(description="The interface language.")
class Language(Enum):
    EN = value("en", description="English.")
    RU = value("ru", description="Russian.")


@strawberry.enum(description="The interface colour theme.")
class Theme(Enum):
    LIGHT = value("light", description="Light.")
    DARK = value("dark", description="Dark.")


@strawberry.enum(description="The order of a list of comments.")
class CommentOrder(Enum):
    NEWEST = value("newest", description="Newest first; first/after go towards older comments.")
    OLDEST = value("oldest", description="Oldest first; first/after go towards newer comments.")


def opt(enum: type[E], raw: str | None) -> E | None:
    """``enum(raw)``, or None for None (a nullable output field)."""
    return None if raw is None else enum(raw)
