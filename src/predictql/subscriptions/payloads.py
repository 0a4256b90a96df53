"""The shape of every bus message (``subscriptions.topics`` forms channels and emits them).

Each payload is a frozen dataclass with ``to_json`` (serialized once by the publisher) and
``from_json`` (decoded once per message per process, ``bus.Message.view``). ``from_json`` keeps
only the keys it knows, so a process of an older release reads a newer payload. Every payload is a
full state or a full event, never a relative change: a subscriber that missed one is whole again
with the next, and one delivered twice (a snapshot that already included it) does no harm.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from predictql.db import utcnow
from predictql.jsonutil import dumps_str, loads
from predictql.models import Asset, Event, Market, Notification, Order, Position, Trade, User
from predictql.services.prices import market_price

ANONYMOUS_NAME = "Anonymous"  # as services.lmsr_trading.latest_trades shows a hidden profile


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _fields(cls: type[Any], text: str, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The payload's known keys: a process of an older release reads a newer payload (and a newer
    one an older payload without the ``optional`` keys, which keep their defaults)."""
    data: dict[str, Any] = loads(text)
    return {name: data[name] for name in cls.__dataclass_fields__ if name in data or name not in optional}


_PLANS: dict[type[Any], tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _encode(payload: Any) -> str:
    """``payload`` as JSON, the text ``dumps_str(dataclasses.asdict(payload))`` gives, without its
    recursive deep copy (a fifth of a batched trade's time): the fields in declaration order, each
    value as it is (nested tuples and dicts are encoded by orjson the same), read with one
    ``attrgetter`` per class built on first use. ``tests/subscriptions/test_payload_encoding.py``
    compares every payload class with the ``asdict`` text."""
    cls = type(payload)
    plan = _PLANS.get(cls)
    if plan is None:
        names = tuple(field.name for field in fields(cls))
        getter = attrgetter(*names)
        plan = _PLANS[cls] = (names, getter if len(names) > 1 else lambda value: (getter(value),))
    names, values = plan
    return dumps_str(dict(zip(names, values(payload), strict=True)))


def _times(data: dict[str, Any], *names: str) -> dict[str, Any]:
    """``data`` with each named field, an ISO time or null, as a datetime or None."""
    for name in names:
        data[name] = _time(data[name]) if data[name] is not None else None
    return data


@dataclass(frozen=True, slots=True)
class MarketState:
    """A market as it is after a change; prices in basis points 0..10000, by the one rule every
    face uses (``services.prices.market_price``)."""

    market_id: int
    event_id: int
    pool_id: int
    yes_probability: float
    yes_price: int
    no_price: int
    q_yes: int
    q_no: int
    volume: int
    paused: bool
    resolved: bool
    winning_outcome: str | None
    at: datetime

    @classmethod
    def of(cls, market: Market, at: datetime | None = None) -> MarketState:
        assert market.id is not None
        price = market_price(market)
        return cls(
            market.id,
            market.event_id,
            market.pool_id,
            price.yes_probability,
            price.yes,
            price.no,
            market.q_yes,
            market.q_no,
            market.volume,
            market.paused,
            market.resolved,
            market.winning_outcome,
            at or utcnow(),
        )

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> MarketState:
        data = _fields(cls, text)
        data["at"] = _time(data["at"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class ChartTick:
    """One pool's probabilities now: per market, in outcome order (a resolved market is 1 or 0)."""

    event_id: int
    pool_id: int
    timestamp: datetime
    values: tuple[float, ...]

    @classmethod
    def of(cls, markets: Sequence[Market], at: datetime | None = None) -> ChartTick:
        first = markets[0]
        ordered = sorted(markets, key=lambda market: market.outcome_index)
        values = tuple(market_price(market).yes_probability for market in ordered)
        return cls(first.event_id, first.pool_id, at or utcnow(), values)

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> ChartTick:
        data = _fields(cls, text)
        return cls(data["event_id"], data["pool_id"], _time(data["timestamp"]), tuple(data["values"]))


@dataclass(frozen=True, slots=True)
class TradeTick:
    """One execution: the REST ``SimpleTrade`` (amount, name, token, event, market, avatar) plus ids,
    side, shares, price (basis points) and time. ``amount`` is kopecks at the execution price."""

    id: int
    market_id: int
    event_id: int
    pool_id: int
    side: str
    token: str
    shares: int
    price: int
    amount: int
    timestamp: datetime
    name: str
    avatar: str | None
    event: str
    market: str
    # Added later (GraphQL streams a whole Trade): a payload of an older release lacks them.
    user_id: int = 0
    kind: str = "lmsr"
    fee: int = 0

    @classmethod
    def of(cls, trade: Trade, market: Market, event: Event, user: User) -> TradeTick:
        assert trade.id is not None
        hidden = user.profile_hidden
        return cls(
            trade.id,
            trade.market_id,
            trade.event_id,
            market.pool_id,
            trade.side,
            trade.token,
            trade.shares,
            trade.price,
            trade.amount,
            trade.created_at,
            ANONYMOUS_NAME if hidden else (user.nickname or user.name),
            None if hidden else user.avatar_url,
            event.name,
            market.name,
            trade.user_id,
            trade.kind,
            trade.fee,
        )

    def simple(self) -> dict[str, Any]:
        """The REST/legacy ``SimpleTrade`` shape."""
        return {
            "amount": self.amount,
            "name": self.name,
            "token": self.token,
            "event": self.event,
            "market": self.market,
            "avatar": self.avatar,
        }

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> TradeTick:
        data = _fields(cls, text, optional=("user_id", "kind", "fee"))
        data["timestamp"] = _time(data["timestamp"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class NotificationTick:
    """A notification as it was created (the REST ``Notification`` fields)."""

    id: int
    user_id: int
    type: str
    title: str
    message: str
    read: bool
    read_at: datetime | None
    created_at: datetime
    related_id: int | None
    related_type: str | None

    @classmethod
    def of(cls, row: Notification) -> NotificationTick:
        assert row.id is not None
        return cls(
            row.id,
            row.user_id,
            row.type,
            row.title,
            row.message,
            row.read,
            row.read_at,
            row.created_at,
            row.related_id,
            row.related_type,
        )

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> NotificationTick:
        data = _fields(cls, text)
        data["created_at"] = _time(data["created_at"])
        data["read_at"] = _time(data["read_at"]) if data["read_at"] is not None else None
        return cls(**data)


@dataclass(frozen=True, slots=True)
class BookLevels:
    """Changed levels of an order book in YES prices: ``(price, units)``, each level's total now
    (a buy counts the units its remaining budget buys, fee included); units 0 = the level is gone."""

    market_id: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> BookLevels:
        data = _fields(cls, text)
        return cls(data["market_id"], tuple(map(tuple, data["bids"])), tuple(map(tuple, data["asks"])))


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order-book order as it is after a change (the ``Order`` row's public fields)."""

    id: int
    user_id: int
    market_id: int
    event_id: int
    side: str
    token: str
    kind: str
    price: int
    amount: int
    remaining: int
    filled: int
    spent: int
    received: int
    fees: int
    tif: str
    expires_at: datetime | None
    client_order_id: str | None
    status: str
    cancel_reason: str | None
    use_bonus: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: Order) -> OrderState:
        assert order.id is not None
        return cls(**{name: getattr(order, name) for name in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> OrderState:
        data = _fields(cls, text)
        _times(data, "created_at", "updated_at", "expires_at")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class FillTick:
    """One execution as its party sees it: an LMSR trade, or one side of an order-book fill
    (``order_id`` set). ``price`` is basis points of ``token``; ``amount`` kopecks, fee excluded."""

    trade_id: int
    user_id: int
    market_id: int
    event_id: int
    kind: str
    side: str
    token: str
    units: int
    price: int
    amount: int
    fee: int
    order_id: int | None
    timestamp: datetime

    @classmethod
    def of(cls, trade: Trade, order_id: int | None) -> FillTick:
        assert trade.id is not None
        return cls(
            trade.id,
            trade.user_id,
            trade.market_id,
            trade.event_id,
            trade.kind,
            trade.side,
            trade.token,
            trade.shares,
            trade.price,
            trade.amount,
            trade.fee,
            order_id,
            trade.created_at,
        )

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> FillTick:
        data = _fields(cls, text)
        data["timestamp"] = _time(data["timestamp"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class PositionState:
    """One position row (a user's holding of one token of one market) after a change. A closed row
    keeps the units it closed (or was settled) with; ``won_side`` 0 = YES, 1 = NO once settled."""

    id: int
    user_id: int
    market_id: int
    event_id: int
    token: str
    amount: int
    avg_price: int
    cost: int
    realized_pnl: int
    status: str
    won_side: int | None
    created_at: datetime
    closed_at: datetime | None
    use_bonus: bool = False  # added later (GraphQL streams a whole Position): older payloads lack it

    @classmethod
    def of(cls, position: Position) -> PositionState:
        assert position.id is not None
        return cls(**{name: getattr(position, name) for name in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> PositionState:
        data = _fields(cls, text, optional=("use_bonus",))
        _times(data, "created_at", "closed_at")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class BalanceState:
    """A user's balances now, kopecks: cash, bonus, what open buy orders hold in escrow, and what open
    P2P orders hold of the user's as seller (``p2p_frozen``) and what pending card withdraws and crypto
    withdrawals hold (``payout_frozen``)."""

    user_id: int
    cash: int
    bonus: int
    escrow: int
    at: datetime
    p2p_frozen: int = 0  # the seller's amounts held by open P2P orders
    payout_frozen: int = 0  # money-out requested, not yet sent or returned (user:{id}:payout)

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> BalanceState:
        data = _fields(cls, text)
        data["at"] = _time(data["at"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class AccessChange:
    """Something that may end or narrow a user's signed-in sockets was committed: ``reason`` is
    ``logout``, ``refresh_reuse``, ``password_reset``, ``api_token_revoked`` or ``roles_changed``.
    A socket does not act on the reason: it re-resolves its own token (``schema.socket_watch``)."""

    user_id: int
    reason: str

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> AccessChange:
        return cls(**_fields(cls, text))


@dataclass(frozen=True, slots=True)
class BackOfficeItem:
    """A back-office work item appeared, changed state or left the queue: ``kind`` is
    ``card_order``, ``withdrawal``, ``p2p_dispute``, ``p2p_ad`` or ``chat_session``; ``state`` its
    state now (``pending``, ``paid_by_user``, ``dispute``, ``completed``...); ``open`` whether it
    still waits for an operator."""

    kind: str
    id: int
    state: str
    open: bool
    at: datetime

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> BackOfficeItem:
        data = _fields(cls, text)
        data["at"] = _time(data["at"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class CardOrderState:
    """A card order as it is after a change (``user:{id}:card_orders``, and the GraphQL type's source)."""

    id: int
    user_id: int
    type: str  # deposit | withdraw
    amount: int  # kopecks
    status: str  # pending | paid_by_user | completed | cancelled | rejected
    payment_details: dict[str, Any] | None
    note: str | None
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> CardOrderState:
        return cls(
            row.id,
            row.user_id,
            row.type,
            row.amount,
            row.status,
            row.payment_details,
            row.note,
            row.created_at,
            row.updated_at,
            row.paid_at,
            row.closed_at,
        )

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> CardOrderState:
        return cls(**_times(_fields(cls, text), "created_at", "updated_at", "paid_at", "closed_at"))


@dataclass(frozen=True, slots=True)
class WithdrawalState:
    """A crypto withdrawal as it is after a change (``user:{id}:withdrawals``)."""

    id: int
    user_id: int
    token: str
    network: str
    address: str
    amount: int  # debited, kopecks (= cents)
    fee: int
    amount_sent: int
    status: str  # pending | completed | cancelled | rejected
    tx_hash: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> WithdrawalState:
        return cls(
            row.id,
            row.user_id,
            row.token,
            row.network,
            row.address,
            row.amount,
            row.fee,
            row.amount_sent,
            row.status,
            row.tx_hash,
            row.note,
            row.created_at,
            row.updated_at,
            row.closed_at,
        )

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> WithdrawalState:
        return cls(**_times(_fields(cls, text), "created_at", "updated_at", "closed_at"))


@dataclass(frozen=True, slots=True)
class ChatTick:
    """A support-chat session changed: a message was posted (``message_id``... set; ``sender`` is
    ``user`` or ``support``), or its status changed (escalated, closed; message fields None)."""

    session_id: int
    status: str
    message_id: int | None
    sender: str | None
    text: str | None
    created_at: datetime  # the message's time, or the status change's

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> ChatTick:
        data = _fields(cls, text)
        data["created_at"] = _time(data["created_at"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class CommentTick:
    """A comment of an event was ``created``, ``edited``, ``deleted`` (by its author), ``hidden`` or
    ``unhidden`` (by an admin): the comment as it is after that. ``body`` is null unless the
    comment is visible; the author's name is ``Anonymous`` (and ``user_id`` null) when their
    profile is hidden."""

    action: str
    id: int
    event_id: int
    parent_id: int | None
    user_id: int | None
    author_name: str
    status: str
    body: str | None
    created_at: datetime
    edited_at: datetime | None

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> CommentTick:
        data = _fields(cls, text)
        _times(data, "created_at", "edited_at")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class P2POrderState:
    """A P2P order as it is after a change (the ``P2POrder`` row's public fields)."""

    id: int
    ad_id: int
    buyer_id: int
    seller_id: int
    usdt_amount: int
    fiat_amount: int
    fiat_currency: str
    exchange_rate: int
    payment_method: str
    status: str
    frozen_balance: int
    operator_called: bool
    cancel_reason: str | None
    resolution: str | None
    expires_at: datetime | None
    buyer_paid_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: Any) -> P2POrderState:
        assert order.id is not None
        return cls(**{name: getattr(order, name) for name in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> P2POrderState:
        data = _fields(cls, text)
        _times(data, "expires_at", "buyer_paid_at", "finished_at", "created_at", "updated_at")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class P2PMessageState:
    """One message of a P2P order's chat (``sender_type`` user, operator or system)."""

    id: int
    order_id: int
    user_id: int | None
    sender_type: str
    message: str
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> P2PMessageState:
        assert row.id is not None
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> P2PMessageState:
        data = _fields(cls, text)
        data["created_at"] = _time(data["created_at"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class AssetPriceTick:
    """An asset's price as recorded: exact decimal x 10^8, its source and its own time."""

    asset_id: int
    symbol: str
    name: str
    price_e8: int
    source: str
    as_of: datetime

    @classmethod
    def of(cls, asset: Asset) -> AssetPriceTick:
        assert asset.id is not None and asset.price_e8 is not None and asset.price_updated_at is not None
        return cls(asset.id, asset.symbol, asset.name, asset.price_e8, asset.source or "", asset.price_updated_at)

    def to_json(self) -> str:
        return _encode(self)

    @classmethod
    def from_json(cls, text: str) -> AssetPriceTick:
        data = _fields(cls, text)
        data["as_of"] = _time(data["as_of"])
        return cls(**data)
