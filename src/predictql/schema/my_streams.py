"""GraphQL payloads of the order-book stream and the caller's own streams (``orderbook``,
``myOrders``, ``myFills``, ``myPositions``, ``myBalance``).

Each is built once per message from its ``subscriptions.topics`` payload (``live``) and shared by
every subscriber of the channel; a private channel has one user's subscribers only.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from predictql.models import Position as PositionRow
from predictql.models import Trade as TradeRow
from predictql.pricing.orderbook import BookSnapshot
from predictql.schema.context import Info
from predictql.schema.ids import Kind
from predictql.schema.node import gid
from predictql.schema.orders import Order, PriceLevel
from predictql.schema.scalars import Long, Price
from predictql.schema.trading import Position, Trade
from predictql.subscriptions.payloads import BalanceState, BookLevels, FillTick, OrderState, PositionState


def _levels(levels: tuple[tuple[int, int], ...]) -> list[PriceLevel]:
    return [PriceLevel(price=Price(price), amount=Long(units)) for price, units in levels]


@strawberry.type(
    description="An order book in YES prices: the whole book (full: true, a SNAPSHOT) or the levels that "
    "changed (full: false, LIVE). A changed level carries its total now, not a difference; amount 0 means the "
    "level is gone. Apply a LIVE message by setting each of its levels (removing those at 0)."
)
class OrderBookUpdate:
    market_id: strawberry.ID = strawberry.field(description="The market's global id (mkt_...).")
    full: bool = strawberry.field(
        description="True: bids and asks are the whole book (best `depth` levels per side); false: only the "
        "changed levels, which may lie beyond `depth`."
    )
    bids: list[PriceLevel] = strawberry.field(description="YES buy interest (YES buys and NO sells), best first.")
    asks: list[PriceLevel] = strawberry.field(description="YES sell interest (YES sells and NO buys), best first.")

    @classmethod
    def of(cls, book: BookSnapshot) -> OrderBookUpdate:
        return cls(
            market_id=gid(Kind.MARKET, book.market_id), full=True, bids=_levels(book.bids), asks=_levels(book.asks)
        )

    @staticmethod
    def live(text: str) -> OrderBookUpdate:
        levels = BookLevels.from_json(text)
        return OrderBookUpdate(
            market_id=gid(Kind.MARKET, levels.market_id),
            full=False,
            bids=_levels(levels.bids),
            asks=_levels(levels.asks),
        )


def order_live(text: str) -> Order:
    """An ``Order`` from a ``user:{id}:orders`` message."""
    return Order.from_row(OrderState.from_json(text))


@strawberry.type(
    description="One execution of the caller's: an LMSR trade, or their side of an order-book fill, with the "
    "order filled."
)
class MyFill:
    trade: Trade = strawberry.field(description="The trade (the caller's side; fee included).")
    order_id: strawberry.Private[int | None]

    @strawberry.field(description="The caller's order that filled, as it is now; null for an LMSR trade.")
    async def order(self, info: Info) -> Order | None:
        if self.order_id is None:
            return None
        row = await info.context.loaders.order_by_id.load(self.order_id)
        return Order.from_row(row) if row is not None else None

    @staticmethod
    def live(text: str) -> MyFill:
        tick = FillTick.from_json(text)
        row = TradeRow(
            id=tick.trade_id,
            market_id=tick.market_id,
            event_id=tick.event_id,
            user_id=tick.user_id,
            kind=tick.kind,
            side=tick.side,
            token=tick.token,
            shares=tick.units,
            price=tick.price,
            amount=tick.amount,
            fee=tick.fee,
            created_at=tick.timestamp,
        )
        return MyFill(trade=Trade.from_row(row), order_id=tick.order_id)


def position_live(text: str) -> Position:
    """A ``Position`` from a ``user:{id}:positions`` message: the one Position type, whole."""
    state = PositionState.from_json(text)
    return Position.from_row(
        PositionRow(
            id=state.id,
            user_id=state.user_id,
            market_id=state.market_id,
            event_id=state.event_id,
            token=state.token,
            amount=state.amount,
            avg_price=state.avg_price,
            cost=state.cost,
            realized_pnl=state.realized_pnl,
            use_bonus=state.use_bonus,
            status=state.status,
            won_side=state.won_side,
            created_at=state.created_at,
            closed_at=state.closed_at,
        )
    )


@strawberry.type(description="The caller's balances, kopecks.")
class BalanceUpdate:
    cash: Long = strawberry.field(description="Cash balance, kopecks.")
    bonus: Long = strawberry.field(description="Bonus balance, kopecks.")
    escrow: Long = strawberry.field(
        description="Held by the caller's open buy orders.", deprecation_reason="Use frozen, as Balances names it."
    )
    frozen: Long = strawberry.field(description="Reserved by open order-book buys; not part of total (as Balances).")
    total: Long = strawberry.field(description="Cash plus bonus (escrow excluded).")
    at: datetime = strawberry.field(description="When the change was made (for a snapshot: when it was read).")
    p2p_frozen: Long = strawberry.field(
        description="Held in escrow by open P2P orders the caller sells in (not part of total).", default=Long(0)
    )
    payout_frozen: Long = strawberry.field(
        description="Held for the caller's pending card withdraws and crypto withdrawals (not part of total).",
        default=Long(0),
    )

    @classmethod
    def of(cls, state: BalanceState) -> BalanceUpdate:
        return cls(
            cash=Long(state.cash),
            bonus=Long(state.bonus),
            escrow=Long(state.escrow),
            frozen=Long(state.escrow),
            total=Long(state.cash + state.bonus),
            at=state.at,
            p2p_frozen=Long(state.p2p_frozen),
            payout_frozen=Long(state.payout_frozen),
        )

    @staticmethod
    def live(text: str) -> BalanceUpdate:
        return BalanceUpdate.of(BalanceState.from_json(text))
