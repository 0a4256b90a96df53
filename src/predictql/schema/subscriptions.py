"""GraphQL types of the live streams (``subscription { marketUpdated / eventChart / trades ... }``).

Every subscription yields ``StreamMessage``s (named per payload: ``MarketUpdateStreamMessage``...):
``kind`` says what it is, ``seq`` is the channel's sequence number, ``data`` the payload (null for
GAP and HEARTBEAT). Give ``fromSeq`` (the last seq you saw) to resume without a gap. A message's
object is built once per process and served to every subscriber; its nested links (a trade's
``market``) load per message through the DataLoaders, which are reset per message.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Generic, TypeVar

import strawberry

from predictql.models import Trade as TradeRow
from predictql.schema.enums import Outcome, opt
from predictql.schema.ids import Kind
from predictql.schema.node import gid
from predictql.schema.scalars import Long, Price
from predictql.schema.trading import Trade
from predictql.services.prices import probability_bps
from predictql.subscriptions.payloads import ChartTick, MarketState, TradeTick
from predictql.subscriptions.streams import Item

T = TypeVar("T")


@strawberry.enum(description="What a stream message carries.")
class StreamEventKind(Enum):
    SNAPSHOT = strawberry.enum_value(
        "SNAPSHOT",
        description="The state read from the database, including every change up to its seq: the first "
        "message of a state stream, and again when missed changes cannot be replayed.",
    )
    LIVE = strawberry.enum_value("LIVE", description="A change, published after its transaction committed.")
    GAP = strawberry.enum_value(
        "GAP",
        description="Events up to seq were missed and are no longer kept (fromSeq too old, or the client read "
        "too slowly for too long); the stream continues. Reload what you show (e.g. the latestTrades query).",
    )
    HEARTBEAT = strawberry.enum_value(
        "HEARTBEAT",
        description="Sent every PREDICTQL_STREAM_HEARTBEAT_SECONDS: seq is the channel's latest. A quiet feed "
        "keeps beating; a frozen one does not.",
    )


@strawberry.type(description="One message of a live stream.")
class StreamMessage(Generic[T]):
    kind: StreamEventKind = strawberry.field(description="What this message carries: SNAPSHOT, LIVE, HEARTBEAT or GAP.")
    seq: Long = strawberry.field(
        description="Per channel, growing by one in commit order. LIVE: this change's; SNAPSHOT: the last change "
        "it includes; GAP and HEARTBEAT: the latest. Pass the last one seen as fromSeq to resume."
    )
    data: T | None = strawberry.field(description="The payload; null for GAP and HEARTBEAT.")

    @classmethod
    def of(cls, item: Item[T]) -> StreamMessage[T]:
        return cls(kind=StreamEventKind[item.kind], seq=Long(item.seq), data=item.value)


@strawberry.type(description="A market's prices and state, after each change.")
class MarketUpdate:
    market_id: strawberry.ID = strawberry.field(description="The market's global id (mkt_...).")
    event_id: strawberry.ID = strawberry.field(description="The event's global id (evt_...).")
    pool_id: strawberry.ID = strawberry.field(description="The pool's global id (pool_...).")
    yes_probability: float = strawberry.field(
        description="YES price as a probability in (0, 1).",
        deprecation_reason="Use yesPrice (Price, basis points): the schema's one price type.",
    )
    no_probability: float = strawberry.field(
        description="1 - yesProbability.", deprecation_reason="Use noPrice (Price, basis points)."
    )
    yes_price: Price = strawberry.field(description="YES price (0..10000).")
    no_price: Price = strawberry.field(description="NO price; yesPrice + noPrice = 10000.")
    q_yes: Long = strawberry.field(description="YES share units the market maker has sold.")
    q_no: Long = strawberry.field(description="NO share units the market maker has sold.")
    volume: Long = strawberry.field(description="Traded volume in kopecks.")
    paused: bool = strawberry.field(description="Trading is suspended.")
    resolved: bool = strawberry.field(description="The market has been settled.")
    winning_outcome: Outcome | None = strawberry.field(description="The side that won once resolved; null before.")
    at: datetime = strawberry.field(description="When the change was made (for a snapshot: when it was read).")

    @classmethod
    def of(cls, state: MarketState) -> MarketUpdate:
        return cls(
            market_id=gid(Kind.MARKET, state.market_id),
            event_id=gid(Kind.EVENT, state.event_id),
            pool_id=gid(Kind.POOL, state.pool_id),
            yes_probability=state.yes_probability,
            no_probability=1.0 - state.yes_probability,
            yes_price=Price(state.yes_price),
            no_price=Price(state.no_price),
            q_yes=Long(state.q_yes),
            q_no=Long(state.q_no),
            volume=Long(state.volume),
            paused=state.paused,
            resolved=state.resolved,
            winning_outcome=opt(Outcome, state.winning_outcome),
            at=state.at,
        )

    @staticmethod
    def live(text: str) -> MarketUpdate:
        return MarketUpdate.of(MarketState.from_json(text))


@strawberry.type(description="A point of an event's probability chart.")
class ChartUpdate:
    event_id: strawberry.ID = strawberry.field(description="The event's global id (evt_...).")
    pool_id: strawberry.ID = strawberry.field(description="The global id (pool_...) of the pool the values belong to.")
    timestamp: datetime = strawberry.field(description="When the prices were taken (RFC 3339, UTC).")
    values: list[float] = strawberry.field(
        description="YES probability (0..1) of each market of the pool, in outcome order; 1 or 0 once resolved.",
        deprecation_reason="Use prices (Price, basis points): the schema's one price type.",
    )
    prices: list[Price] = strawberry.field(
        description="YES price of each market of the pool, in outcome order; 10000 or 0 once resolved."
    )

    @classmethod
    def of(cls, tick: ChartTick) -> ChartUpdate:
        return cls(
            event_id=gid(Kind.EVENT, tick.event_id),
            pool_id=gid(Kind.POOL, tick.pool_id),
            timestamp=tick.timestamp,
            values=list(tick.values),
            prices=[Price(probability_bps(value)) for value in tick.values],
        )

    @staticmethod
    def live(text: str) -> ChartUpdate:
        return ChartUpdate.of(ChartTick.from_json(text))


def trade_live(text: str) -> Trade:
    """A ``Trade`` from a ``trades`` / ``market:{id}:trades`` message (built once, served to every
    subscriber; its ``market`` and ``trader`` load per message through the reset DataLoaders)."""
    tick = TradeTick.from_json(text)
    return Trade.from_row(
        TradeRow(
            id=tick.id,
            market_id=tick.market_id,
            event_id=tick.event_id,
            user_id=tick.user_id,
            kind=tick.kind,
            side=tick.side,
            token=tick.token,
            shares=tick.shares,
            price=tick.price,
            amount=tick.amount,
            fee=tick.fee,
            created_at=tick.timestamp,
        )
    )
