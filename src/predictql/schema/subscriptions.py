"""GraphQL types of the live streams (``subscription { marketUpdated / eventChart / trades }``).

Every message says what it is (``kind``): the first one of a state stream is a ``SNAPSHOT``
read from the database, each change after it is ``LIVE``. Payloads are flat (no nested fields to
load), so an event's object is built once per process (``live``) and served to every subscriber.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from predictql.schema.scalars import Long
from predictql.subscriptions.topics import ChartTick, MarketState, TradeTick


@strawberry.enum(description="What a stream message carries.")
class StreamEventKind(Enum):
    SNAPSHOT = strawberry.enum_value(
        "SNAPSHOT",
        description="The state read from the database: the first message, and again after events were missed.",
    )
    LIVE = strawberry.enum_value("LIVE", description="A change, published after its transaction committed.")
    GAP = strawberry.enum_value(
        "GAP",
        description="Events may have been missed (the client read too slowly, or the server lost its bus "
        "connection); the stream continues. Reload what you show (e.g. the latestTrades query).",
    )


def _id(value: int) -> strawberry.ID:
    return strawberry.ID(str(value))


@strawberry.type(description="A market's prices and state, after each change.")
class MarketUpdate:
    kind: StreamEventKind
    market_id: strawberry.ID
    event_id: strawberry.ID
    pool_id: strawberry.ID
    yes_probability: float = strawberry.field(description="YES price as a probability in (0, 1).")
    no_probability: float = strawberry.field(description="1 - yesProbability.")
    yes_price: int = strawberry.field(description="YES price in basis points (0..10000).")
    no_price: int = strawberry.field(description="NO price in basis points; yesPrice + noPrice = 10000.")
    q_yes: Long = strawberry.field(description="YES share units the market maker has sold.")
    q_no: Long = strawberry.field(description="NO share units the market maker has sold.")
    volume: Long = strawberry.field(description="Traded volume in kopecks.")
    paused: bool
    resolved: bool
    winning_outcome: str | None = strawberry.field(description='"YES" or "NO" once resolved; null before.')
    at: datetime = strawberry.field(description="When the change was made (for a snapshot: when it was read).")

    @classmethod
    def of(cls, state: MarketState, kind: StreamEventKind) -> MarketUpdate:
        return cls(
            kind=kind, market_id=_id(state.market_id), event_id=_id(state.event_id), pool_id=_id(state.pool_id),
            yes_probability=state.yes_probability, no_probability=1.0 - state.yes_probability,
            yes_price=state.yes_price, no_price=state.no_price, q_yes=Long(state.q_yes), q_no=Long(state.q_no),
            volume=Long(state.volume), paused=state.paused, resolved=state.resolved,
            winning_outcome=state.winning_outcome, at=state.at,
        )

    @staticmethod
    def live(text: str) -> MarketUpdate:
        return MarketUpdate.of(MarketState.from_json(text), StreamEventKind.LIVE)


@strawberry.type(description="A point of an event's probability chart.")
class ChartUpdate:
    kind: StreamEventKind
    event_id: strawberry.ID
    pool_id: strawberry.ID
    timestamp: datetime
    values: list[float] = strawberry.field(
        description="YES probability (0..1) of each market of the pool, in outcome order; 1 or 0 once resolved."
    )

    @classmethod
    def of(cls, tick: ChartTick, kind: StreamEventKind) -> ChartUpdate:
        return cls(
            kind=kind, event_id=_id(tick.event_id), pool_id=_id(tick.pool_id), timestamp=tick.timestamp,
            values=list(tick.values),
        )

    @staticmethod
    def live(text: str) -> ChartUpdate:
        return ChartUpdate.of(ChartTick.from_json(text), StreamEventKind.LIVE)


@strawberry.type(description="One executed trade, as the activity feed shows it, with its ids.")
class LiveTrade:
    id: strawberry.ID
    market_id: strawberry.ID
    event_id: strawberry.ID
    pool_id: strawberry.ID
    side: str = strawberry.field(description="buy or sell.")
    token: str = strawberry.field(description="YES or NO.")
    shares: Long = strawberry.field(description="Share units traded.")
    price: int = strawberry.field(description="Execution price in basis points.")
    amount: Long = strawberry.field(description="Trade value at the execution price, kopecks (fee excluded).")
    timestamp: datetime
    name: str = strawberry.field(description="Trader's nickname or name; 'Anonymous' for hidden profiles.")
    avatar: str | None
    event_name: str
    market_name: str


@strawberry.type(description="A trades stream message: a trade, or a gap marker (trade null).")
class TradeUpdate:
    kind: StreamEventKind
    trade: LiveTrade | None

    @staticmethod
    def live(text: str) -> TradeUpdate:
        tick = TradeTick.from_json(text)
        trade = LiveTrade(
            id=_id(tick.id), market_id=_id(tick.market_id), event_id=_id(tick.event_id), pool_id=_id(tick.pool_id),
            side=tick.side, token=tick.token, shares=Long(tick.shares), price=tick.price, amount=Long(tick.amount),
            timestamp=tick.timestamp, name=tick.name, avatar=tick.avatar, event_name=tick.event,
            market_name=tick.market,
        )
        return TradeUpdate(kind=StreamEventKind.LIVE, trade=trade)


TRADES_GAP = TradeUpdate(kind=StreamEventKind.GAP, trade=None)
