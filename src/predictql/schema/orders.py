"""GraphQL types of order-book trading: orders, fills, the aggregated book, the orders connection.

Money is ``Long`` kopecks, share amounts ``Long`` units, prices basis points (1..9999). ``side``,
``tokenType``, ``kind``, ``timeInForce``, ``status`` and ``cancelReason`` are enums (schema/enums.py):
a bad value is refused at validation; the services keep their strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from predictql.models import Order as OrderRow
from predictql.pricing.orderbook import BookSnapshot
from predictql.schema.context import Info
from predictql.schema.enums import CancelReason, OrderKind, OrderSide, OrderStatus, Outcome, TimeInForce, opt
from predictql.schema.ids import Kind, decode
from predictql.schema.markets import Market
from predictql.schema.node import Node, gid
from predictql.schema.payloads import Balances, MutationPayload
from predictql.schema.scalars import Long, Price
from predictql.schema.trading import Trade, market_of
from predictql.services.orderbook_trading import OrderRequest, Placed
from predictql.services.positions import AfterTrade
from predictql.subscriptions.payloads import OrderState

if TYPE_CHECKING:
    from predictql.schema.markets import Market


@strawberry.type(description="An order-book order and how far it got.")
class Order(Node):
    id: strawberry.ID = strawberry.field(description="The order's global id (ord_...).")
    user_id: strawberry.ID = strawberry.field(
        description="The owner's global id (usr_...; always the caller).",
        deprecation_reason="The caller's own: use me { id }.",
    )
    market_id: strawberry.ID = strawberry.field(
        description="The market's global id (mkt_...).", deprecation_reason="Use market { id }."
    )
    event_id: strawberry.ID = strawberry.field(
        description="The market's event's global id (evt_...).", deprecation_reason="Use market { event { id } }."
    )
    side: OrderSide = strawberry.field(description="BUY or SELL.")
    token_type: Outcome = strawberry.field(description="The token bought or sold.")
    kind: OrderKind = strawberry.field(description="LIMIT or MARKET.")
    price: Price = strawberry.field(description="Limit price in the order's own token; 0 for market.")
    amount: Long = strawberry.field(description="Buy: budget in kopecks, fees included. Sell: units.")
    remaining: Long = strawberry.field(description="Budget (buy) or units (sell) not yet used.")
    filled: Long = strawberry.field(description="Units executed.")
    spent: Long = strawberry.field(description="Buy: kopecks paid, fees included.")
    received: Long = strawberry.field(description="Sell: kopecks received, fees deducted.")
    fees: Long = strawberry.field(description="Fees paid on this order's fills, kopecks.")
    time_in_force: TimeInForce = strawberry.field(description="How long the order stays on the book.")
    expires_at: datetime | None = strawberry.field(description="When a GTD order is cancelled.")
    client_order_id: str | None = strawberry.field(description="The caller's own id, unique per user.")
    status: OrderStatus = strawberry.field(description="PENDING, PARTIAL, FILLED or CANCELLED.")
    cancel_reason: CancelReason | None = strawberry.field(description="Why it was cancelled; null unless CANCELLED.")
    use_bonus: bool = strawberry.field(description="A buy funded from the bonus balance first.")
    created_at: datetime = strawberry.field(description="When the order was placed (RFC 3339, UTC).")
    updated_at: datetime = strawberry.field(description="When the order last changed (RFC 3339, UTC).")

    @strawberry.field(description="The market the order is in.")
    async def market(self, info: Info) -> Annotated[Market, strawberry.lazy("predictql.schema.markets")]:
        return await market_of(info, decode(Kind.MARKET, self.market_id))

    @classmethod
    def from_row(cls, row: OrderRow | OrderState) -> Order:
        return cls(
            id=gid(Kind.ORDER, row.id),
            user_id=gid(Kind.USER, row.user_id),
            market_id=gid(Kind.MARKET, row.market_id),
            event_id=gid(Kind.EVENT, row.event_id),
            side=OrderSide(row.side),
            token_type=Outcome(row.token),
            kind=OrderKind(row.kind),
            price=Price(row.price),
            amount=Long(row.amount),
            remaining=Long(row.remaining),
            filled=Long(row.filled),
            spent=Long(row.spent),
            received=Long(row.received),
            fees=Long(row.fees),
            time_in_force=TimeInForce(row.tif),
            expires_at=row.expires_at,
            client_order_id=row.client_order_id,
            status=OrderStatus(row.status),
            cancel_reason=opt(CancelReason, row.cancel_reason),
            use_bonus=row.use_bonus,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input(description="An order, as POST /market/orders takes it.")
class PlaceOrderInput:
    market_id: strawberry.ID = strawberry.field(description="An order-book market (mkt_...).")
    side: OrderSide = strawberry.field(description="BUY or SELL.")
    token_type: Outcome = strawberry.field(description="The token to buy or sell.")
    amount: Long = strawberry.field(description="Buy: budget in kopecks, fees included. Sell: units.")
    kind: OrderKind = strawberry.field(default=OrderKind.LIMIT, description="LIMIT (default) or MARKET.")
    price: Price | None = strawberry.field(
        default=None, description="Limit price 1..9999 (INVALID_PRICE otherwise); ignored for market."
    )
    use_bonus: bool = strawberry.field(default=False, description="Fund a buy from the bonus balance first.")
    time_in_force: TimeInForce | None = strawberry.field(
        default=None, description="GTC (default), GTD (needs expiresAt), IOC, FOK or POST_ONLY."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="Required for GTD (RFC 3339, in the future); null otherwise."
    )
    client_order_id: str | None = strawberry.field(default=None, description="1-64 of letters, digits, -_.:/")

    def to_request(self, market_id: int) -> OrderRequest:
        return OrderRequest(
            market_id=market_id,
            side=self.side.value,
            token=self.token_type.value,
            kind=self.kind.value,
            amount=self.amount,
            price=self.price if self.kind is OrderKind.LIMIT else None,
            use_bonus=self.use_bonus,
            tif=self.time_in_force.value if self.time_in_force else None,
            expires_at=self.expires_at,
            client_order_id=self.client_order_id,
        )


@strawberry.type(description="Resting interest at one price.")
class PriceLevel:
    price: Price = strawberry.field(description="The price, in the book's token.")
    amount: Long = strawberry.field(description="Units (a buy counts what its remaining budget buys).")


@strawberry.type(description="The order book aggregated per price level, best first.")
class OrderBook:
    market_id: strawberry.ID = strawberry.field(description="The order-book market's global id (mkt_...).")
    token_type: Outcome = strawberry.field(description="The token whose prices the levels show (YES by default).")
    bids: list[PriceLevel] = strawberry.field(description="Buy interest in tokenType, best (highest) price first.")
    asks: list[PriceLevel] = strawberry.field(description="Sell interest in tokenType, best (lowest) price first.")

    @classmethod
    def from_snapshot(cls, book: BookSnapshot) -> OrderBook:
        return cls(
            market_id=gid(Kind.MARKET, book.market_id),
            token_type=Outcome(book.space),
            bids=[PriceLevel(price=Price(p), amount=Long(u)) for p, u in book.bids],
            asks=[PriceLevel(price=Price(p), amount=Long(u)) for p, u in book.asks],
        )


@strawberry.type(description="What placeOrder changed: the order and its fills, the market, the money.")
class PlaceOrderPayload(MutationPayload):
    order: Order | None = strawberry.field(default=None, description="The order after matching.")
    fills: list[Trade] | None = strawberry.field(
        default=None, description="The caller's side of each fill, oldest first (at the resting orders' prices)."
    )
    market: Market | None = strawberry.field(default=None, description="The market after matching (last price).")
    balances: Balances | None = strawberry.field(default=None, description="The caller's money after placing.")

    @classmethod
    def of(cls, placed: Placed, after: AfterTrade) -> PlaceOrderPayload:
        return cls(
            order=Order.from_row(placed.order),
            fills=[Trade.from_row(t) for t in placed.trades],
            market=Market.from_row(after.market),
            balances=Balances.from_row(after.balances),
        )


@strawberry.type(description="What cancelOrder changed: the cancelled order and the money it released.")
class CancelOrderPayload(MutationPayload):
    cancelled_order_id: strawberry.ID | None = strawberry.field(default=None, description="The cancelled order's id.")
    order: Order | None = strawberry.field(default=None, description="The order as it now is (cancelled).")
    balances: Balances | None = strawberry.field(default=None, description="The caller's money after the release.")


@strawberry.type(description="What cancelAllOrders changed: the cancelled orders and the money they released.")
class CancelAllOrdersPayload(MutationPayload):
    cancelled_order_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The ids of the orders cancelled (empty when none was open)."
    )
    orders: list[Order] | None = strawberry.field(default=None, description="The cancelled orders as they now are.")
    balances: Balances | None = strawberry.field(default=None, description="The caller's money after the release.")


@strawberry.type(description="What setMarketPaused changed: the market (pausing also cancels its resting orders).")
class SetMarketPausedPayload(MutationPayload):
    market: Market | None = strawberry.field(default=None, description="The market as it now is.")
