"""Every channel of the bus and the shape of its messages: the only place either is formed.

Channels:

- ``market:{id}``: the market's state after each change (``MarketState``).
- ``market:{id}:trades``: each trade in that market (``TradeTick``).
- ``trades``: each trade platform-wide (``TradeTick``), events hidden from the public left out.
- ``event:{id}:chart``: a probability point of one of the event's pools after each change
  (``ChartTick``; ``values`` per outcome, in outcome order, as the REST pool chart has them).
- ``user:{id}:notifications``: each notification created for that user (``NotificationTick``);
  private, followed only by that user.

Messages are JSON texts (``to_json``), serialized once by the publisher. Services call the
``*_changed``/``trade_executed`` helpers inside their transaction: the messages are queued on the
session (``db.emit``) and published only after the commit. Every payload is a full state or a full
event, never a delta, so a subscriber that missed one is whole again with the next; a per-channel
``seq`` can be added to each without changing the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.db import emit, utcnow
from predictql.jsonutil import dumps_str, loads
from predictql.models import Event, Market, Notification, Trade, User
from predictql.pricing import lmsr

TRADES = "trades"
ANONYMOUS_NAME = "Anonymous"  # as services.lmsr_trading.latest_trades shows a hidden profile


def market_channel(market_id: int) -> str:
    return f"market:{market_id}"


def market_trades_channel(market_id: int) -> str:
    return f"market:{market_id}:trades"


def event_chart_channel(event_id: int) -> str:
    return f"event:{event_id}:chart"


def user_notifications_channel(user_id: int) -> str:
    return f"user:{user_id}:notifications"


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _fields(cls: type[Any], text: str) -> dict[str, Any]:
    """The payload's known keys: a process of an older release reads a newer payload."""
    data: dict[str, Any] = loads(text)
    return {name: data[name] for name in cls.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class MarketState:
    """A market as it is after a change; prices from its LMSR state, basis points 0..10000."""

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
        state = lmsr.MarketState(market.q_yes, market.q_no, market.lmsr_b, market.p0)
        yes_bps, no_bps = lmsr.price_bps(state)
        return cls(
            market.id, market.event_id, market.pool_id, lmsr.price_yes(state), yes_bps, no_bps, market.q_yes,
            market.q_no, market.volume, market.paused, market.resolved, market.winning_outcome, at or utcnow(),
        )

    def to_json(self) -> str:
        return dumps_str(asdict(self))

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
        return cls(first.event_id, first.pool_id, at or utcnow(), tuple(_probability(m) for m in ordered))

    def to_json(self) -> str:
        return dumps_str(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ChartTick:
        data = _fields(cls, text)
        return cls(data["event_id"], data["pool_id"], _time(data["timestamp"]), tuple(data["values"]))


def _probability(market: Market) -> float:
    if market.resolved and market.winning_outcome is not None:
        return 1.0 if market.winning_outcome == "YES" else 0.0
    return lmsr.price_yes(lmsr.MarketState(market.q_yes, market.q_no, market.lmsr_b, market.p0))


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

    @classmethod
    def of(cls, trade: Trade, market: Market, event: Event, user: User) -> TradeTick:
        assert trade.id is not None
        hidden = user.profile_hidden
        return cls(
            trade.id, trade.market_id, trade.event_id, market.pool_id, trade.side, trade.token, trade.shares,
            trade.price, trade.amount, trade.created_at, ANONYMOUS_NAME if hidden else (user.nickname or user.name),
            None if hidden else user.avatar_url, event.name, market.name,
        )

    def simple(self) -> dict[str, Any]:
        """The REST/legacy ``SimpleTrade`` shape."""
        return {
            "amount": self.amount, "name": self.name, "token": self.token, "event": self.event,
            "market": self.market, "avatar": self.avatar,
        }

    def to_json(self) -> str:
        return dumps_str(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TradeTick:
        data = _fields(cls, text)
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
            row.id, row.user_id, row.type, row.title, row.message, row.read, row.read_at, row.created_at,
            row.related_id, row.related_type,
        )

    def to_json(self) -> str:
        return dumps_str(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> NotificationTick:
        data = _fields(cls, text)
        data["created_at"] = _time(data["created_at"])
        data["read_at"] = _time(data["read_at"]) if data["read_at"] is not None else None
        return cls(**data)


# -- emitted by the services, inside their transaction ---------------------------------------


async def trade_executed(session: AsyncSession, trade: Trade, market: Market) -> None:
    """After a trade is applied to ``market``: its trade, its new state and its pool's chart point."""
    event = await session.get(Event, trade.event_id)
    user = await session.get(User, trade.user_id)
    assert event is not None and user is not None
    tick = TradeTick.of(trade, market, event, user).to_json()
    emit(session, market_trades_channel(trade.market_id), tick)
    if event.is_active:
        emit(session, TRADES, tick)
    await markets_changed(session, [market], at=trade.created_at)


async def markets_changed(session: AsyncSession, markets: Iterable[Market], *, at: datetime | None = None) -> None:
    """After prices, q, volume or paused/resolved changed: each market's state, each pool's point."""
    at = at or utcnow()
    pools: dict[int, int] = {}
    for market in markets:
        emit(session, market_channel(market.id or 0), MarketState.of(market, at).to_json())
        pools[market.pool_id] = market.event_id
    for pool_id, event_id in pools.items():
        # Loaded rows keep their unflushed changes (the identity map wins over the SELECT).
        siblings = list(await session.scalars(select(Market).where(col(Market.pool_id) == pool_id)))
        emit(session, event_chart_channel(event_id), ChartTick.of(siblings, at).to_json())


def notifications_created(session: AsyncSession, rows: Iterable[Notification]) -> None:
    """After notifications were inserted (ids assigned): each on its owner's channel."""
    for row in rows:
        emit(session, user_notifications_channel(row.user_id), NotificationTick.of(row).to_json())
