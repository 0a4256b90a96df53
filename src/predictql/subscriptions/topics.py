"""Every channel of the bus and the shape of its messages: the only place either is formed.

Channels:

- ``market:{id}``: the market's state after each change (``MarketState``).
- ``market:{id}:trades``: each trade in that market (``TradeTick``).
- ``trades``: each trade platform-wide (``TradeTick``), events hidden from the public left out.
- ``event:{id}:chart``: a probability point of one of the event's pools after each change
  (``ChartTick``; ``values`` per outcome, in outcome order, as the REST pool chart has them).
- ``user:{id}:notifications``: each notification created for that user (``NotificationTick``);
  private, followed only by that user.
- ``market:{id}:book``: an order-book market's changed price levels after each change of its
  resting orders (``BookLevels``: each level's total now, amount 0 = the level is gone).
- ``user:{id}:orders`` / ``:fills`` / ``:positions`` / ``:balance``: one user's own changes
  (``OrderState``, ``FillTick``, ``PositionState``, ``BalanceState``); only that user follows them.

Executions (trades, fills) are emitted where they happen. State that may change several times in
one transaction (orders, positions, balances, book levels) is only *marked* changed there
(``orders_changed``...); ``services.live.publish_final_states``, a commit hook, emits each marked
item once, as it is at the end of the transaction.

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
from predictql.models import Event, Market, Notification, Order, Position, PricePoint, Trade, User
from predictql.pricing import lmsr
from predictql.pricing.orderbook_types import SCALE

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


def market_book_channel(market_id: int) -> str:
    return f"market:{market_id}:book"


def user_orders_channel(user_id: int) -> str:
    return f"user:{user_id}:orders"


def user_fills_channel(user_id: int) -> str:
    return f"user:{user_id}:fills"


def user_positions_channel(user_id: int) -> str:
    return f"user:{user_id}:positions"


def user_balance_channel(user_id: int) -> str:
    return f"user:{user_id}:balance"


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _fields(cls: type[Any], text: str) -> dict[str, Any]:
    """The payload's known keys: a process of an older release reads a newer payload."""
    data: dict[str, Any] = loads(text)
    return {name: data[name] for name in cls.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class MarketState:
    """A market as it is after a change; prices in basis points 0..10000.

    An LMSR market's prices come from its LMSR state (q's and prior). An order-book market has no
    market maker (its q's stay 0): its YES price is the last execution price (its latest price
    point; the prior ``p0`` before the first fill, 1 or 0 once resolved), given as ``last``.
    """

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
    def of(cls, market: Market, at: datetime | None = None, last: float | None = None) -> MarketState:
        assert market.id is not None
        if market.market_type == "orderbook" and last is not None:
            probability, yes_bps = last, round(last * SCALE)
            no_bps = SCALE - yes_bps
        else:
            state = lmsr.MarketState(market.q_yes, market.q_no, market.lmsr_b, market.p0)
            probability = lmsr.price_yes(state)
            yes_bps, no_bps = lmsr.price_bps(state)
        return cls(
            market.id, market.event_id, market.pool_id, probability, yes_bps, no_bps, market.q_yes,
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
    def of(
        cls, markets: Sequence[Market], at: datetime | None = None, last: dict[int, float] | None = None
    ) -> ChartTick:
        """``last``: order-book markets' last execution prices (``last_prices``)."""
        first = markets[0]
        ordered = sorted(markets, key=lambda market: market.outcome_index)
        prices = last or {}
        return cls(first.event_id, first.pool_id, at or utcnow(), tuple(_probability(m, prices) for m in ordered))

    def to_json(self) -> str:
        return dumps_str(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ChartTick:
        data = _fields(cls, text)
        return cls(data["event_id"], data["pool_id"], _time(data["timestamp"]), tuple(data["values"]))


def _probability(market: Market, last: dict[int, float]) -> float:
    if market.resolved and market.winning_outcome is not None:
        return 1.0 if market.winning_outcome == "YES" else 0.0
    if market.market_type == "orderbook" and market.id in last:
        return last[market.id or 0]
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


@dataclass(frozen=True, slots=True)
class BookLevels:
    """Changed levels of an order book in YES prices: ``(price, units)``, each level's total now
    (a buy counts the units its remaining budget buys, fee included); units 0 = the level is gone."""

    market_id: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]

    def to_json(self) -> str:
        return dumps_str(asdict(self))

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
        return dumps_str(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> OrderState:
        data = _fields(cls, text)
        for name in ("created_at", "updated_at", "expires_at"):
            data[name] = _time(data[name]) if data[name] is not None else None
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
            trade.id, trade.user_id, trade.market_id, trade.event_id, trade.kind, trade.side, trade.token,
            trade.shares, trade.price, trade.amount, trade.fee, order_id, trade.created_at,
        )

    def to_json(self) -> str:
        return dumps_str(asdict(self))

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

    @classmethod
    def of(cls, position: Position) -> PositionState:
        assert position.id is not None
        return cls(**{name: getattr(position, name) for name in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return dumps_str(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PositionState:
        data = _fields(cls, text)
        data["created_at"] = _time(data["created_at"])
        data["closed_at"] = _time(data["closed_at"]) if data["closed_at"] is not None else None
        return cls(**data)


@dataclass(frozen=True, slots=True)
class BalanceState:
    """A user's balances now, kopecks: cash, bonus, and what open buy orders hold in escrow."""

    user_id: int
    cash: int
    bonus: int
    escrow: int
    at: datetime

    def to_json(self) -> str:
        return dumps_str(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> BalanceState:
        data = _fields(cls, text)
        data["at"] = _time(data["at"])
        return cls(**data)


# -- emitted by the services, inside their transaction ---------------------------------------


async def trade_executed(session: AsyncSession, trade: Trade, market: Market) -> None:
    """After an LMSR trade is applied to ``market``: its trade and fill, the market's new state and
    its pool's chart point."""
    await trades_executed(session, market, [trade], [(trade, None)])


async def trades_executed(
    session: AsyncSession, market: Market, ticks: Sequence[Trade], fills: Sequence[tuple[Trade, int | None]]
) -> None:
    """One submission's executions in ``market``: a public tick per execution (``ticks``), a
    private fill per party (``fills``: trade row, order id), then the market's state and chart
    point once. Trade rows must be flushed (they have ids)."""
    if not ticks:
        return
    event = await session.get(Event, market.event_id)
    assert event is not None
    for trade in ticks:
        user = await session.get(User, trade.user_id)
        assert user is not None
        tick = TradeTick.of(trade, market, event, user).to_json()
        emit(session, market_trades_channel(trade.market_id), tick)
        if event.is_active:
            emit(session, TRADES, tick)
    for trade, order_id in fills:
        emit(session, user_fills_channel(trade.user_id), FillTick.of(trade, order_id).to_json())
    await markets_changed(session, [market], at=ticks[-1].created_at)


async def last_prices(session: AsyncSession, markets: Iterable[Market]) -> dict[int, float]:
    """Order-book markets' last execution prices (their latest price point; unflushed ones count)."""
    ids = [market.id or 0 for market in markets if market.market_type == "orderbook"]
    if not ids:
        return {}
    await session.flush()
    prices: dict[int, float] = {}
    for market_id in ids:
        found = await session.scalar(
            select(col(PricePoint.probability)).where(col(PricePoint.market_id) == market_id)
            .order_by(col(PricePoint.id).desc()).limit(1)
        )
        if found is not None:
            prices[market_id] = float(found)
    return prices


async def markets_changed(session: AsyncSession, markets: Iterable[Market], *, at: datetime | None = None) -> None:
    """After prices, q, volume or paused/resolved changed: each market's state, each pool's point."""
    at = at or utcnow()
    markets = list(markets)
    last = await last_prices(session, markets)
    pools: dict[int, int] = {}
    for market in markets:
        emit(session, market_channel(market.id or 0), MarketState.of(market, at, last.get(market.id or 0)).to_json())
        pools[market.pool_id] = market.event_id
    for pool_id, event_id in pools.items():
        # Loaded rows keep their unflushed changes (the identity map wins over the SELECT).
        siblings = list(await session.scalars(select(Market).where(col(Market.pool_id) == pool_id)))
        prices = {**await last_prices(session, siblings), **last}
        emit(session, event_chart_channel(event_id), ChartTick.of(siblings, at, prices).to_json())


def notifications_created(session: AsyncSession, rows: Iterable[Notification]) -> None:
    """After notifications were inserted (ids assigned): each on its owner's channel."""
    for row in rows:
        emit(session, user_notifications_channel(row.user_id), NotificationTick.of(row).to_json())


# -- marked by the services, emitted once at the end of the transaction ----------------------

ORDERS_KEY, POSITIONS_KEY, BALANCES_KEY, BOOK_KEY = "pq_orders", "pq_positions", "pq_balances", "pq_book"


def orders_changed(session: AsyncSession, orders: Iterable[Order]) -> None:
    """Orders whose state changed: each one's state at commit goes to its owner."""
    marked: dict[int, Order] = session.info.setdefault(ORDERS_KEY, {})
    marked.update((id(order), order) for order in orders)


def book_changed(session: AsyncSession, orders: Iterable[Order]) -> None:
    """Resting orders that entered, changed or left their market's book: their levels are sent."""
    levels: dict[int, set[tuple[bool, int]]] = session.info.setdefault(BOOK_KEY, {})
    for order in orders:
        if order.kind == "limit":
            yes = order.token == "YES"
            touched = levels.setdefault(order.market_id, set())
            touched.add(((order.side == "buy") == yes, order.price if yes else SCALE - order.price))


def positions_changed(session: AsyncSession, positions: Iterable[Position]) -> None:
    marked: dict[int, Position] = session.info.setdefault(POSITIONS_KEY, {})
    marked.update((id(position), position) for position in positions)


def balances_changed(session: AsyncSession, user_ids: Iterable[int]) -> None:
    session.info.setdefault(BALANCES_KEY, set()).update(user_ids)


@dataclass(frozen=True, slots=True)
class Marked:
    """What a transaction marked changed (taken off the session by ``take_marked``)."""

    orders: list[Order]
    positions: list[Position]
    balances: set[int]
    book: dict[int, set[tuple[bool, int]]]  # market id -> (is bid, YES price)

    def __bool__(self) -> bool:
        return bool(self.orders or self.positions or self.balances or self.book)


def take_marked(session: AsyncSession) -> Marked:
    info = session.info
    return Marked(
        list(info.pop(ORDERS_KEY, {}).values()), list(info.pop(POSITIONS_KEY, {}).values()),
        info.pop(BALANCES_KEY, set()), info.pop(BOOK_KEY, {}),
    )


def publish_final(
    session: AsyncSession, marked: Marked, balances: Sequence[BalanceState], books: Sequence[BookLevels]
) -> None:
    """Emit what ``marked`` names as it is now, with the balances and levels read for it."""
    for order in sorted(marked.orders, key=lambda o: o.id or 0):
        emit(session, user_orders_channel(order.user_id), OrderState.of(order).to_json())
    for position in sorted(marked.positions, key=lambda p: p.id or 0):
        emit(session, user_positions_channel(position.user_id), PositionState.of(position).to_json())
    for balance in balances:
        emit(session, user_balance_channel(balance.user_id), balance.to_json())
    for book in books:
        emit(session, market_book_channel(book.market_id), book.to_json())
