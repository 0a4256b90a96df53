"""GraphQL root fields of order-book trading: parse -> one service call -> wrap."""

from __future__ import annotations

from typing import Annotated

import strawberry

from predictql.schema.context import Info
from predictql.schema.enums import OrderStatusFilter, Outcome
from predictql.schema.ids import Kind, decode
from predictql.schema.markets import Market
from predictql.schema.orders import Order, OrderBook, OrderConnection, PlaceOrderInput, PlaceOrderResult
from predictql.services import order_lifecycle, orderbook_trading


@strawberry.type
class OrdersQuery:
    @strawberry.field(description="An order-book market's resting orders by price level, best first (YES prices).")
    async def orderbook(
        self, info: Info, market_id: strawberry.ID, depth: int = 50,
        token_type: Annotated[
            Outcome, strawberry.argument(description="YES (default), or NO for NO prices.")
        ] = Outcome.YES,
    ) -> OrderBook:
        async with info.context.db.session() as session:
            book = await order_lifecycle.order_book(
                session, info.context.actor, market_id=decode(Kind.MARKET, market_id), depth=depth,
                fee_bps=info.context.settings.fee_bps,
            )
        return OrderBook.from_snapshot(book.flipped() if token_type is Outcome.NO else book)

    @strawberry.field(description="The caller's orders, newest first, optionally only those of one status.")
    async def my_orders(
        self, info: Info, first: int = 20, after: str | None = None, status: OrderStatusFilter | None = None
    ) -> OrderConnection:
        wanted = status.value if status else None
        async with info.context.db.session() as session:
            page = await order_lifecycle.my_orders(session, info.context.actor, status=wanted, limit=first, after=after)
        return OrderConnection.from_page(page)


@strawberry.type
class OrdersMutation:
    @strawberry.mutation(description="Place a limit or market order; it matches at resting prices, then rests or ends.")
    async def place_order(self, info: Info, input: PlaceOrderInput) -> PlaceOrderResult:
        request = input.to_request(decode(Kind.MARKET, input.market_id))
        async with info.context.db.transaction() as session:
            placed = await orderbook_trading.place_order(
                session, info.context.actor, request, fee_bps=info.context.settings.fee_bps
            )
        return PlaceOrderResult.from_placed(placed)

    @strawberry.mutation(description="Cancel one of the caller's open orders; its unspent escrow is released.")
    async def cancel_order(self, info: Info, id: strawberry.ID) -> Order:
        async with info.context.db.transaction() as session:
            row = await order_lifecycle.cancel_order(session, info.context.actor, order_id=decode(Kind.ORDER, id))
        return Order.from_row(row)

    @strawberry.mutation(description="Cancel every open order of the caller in one market; the cancelled orders.")
    async def cancel_all_orders(self, info: Info, market_id: strawberry.ID) -> list[Order]:
        async with info.context.db.transaction() as session:
            rows = await order_lifecycle.cancel_all(
                session, info.context.actor, market_id=decode(Kind.MARKET, market_id)
            )
        return [Order.from_row(row) for row in rows]

    @strawberry.mutation(description="Pause (resting orders are cancelled) or resume a market: event creator or admin.")
    async def set_market_paused(
        self, info: Info, event_id: strawberry.ID, pool_id: strawberry.ID, market_id: strawberry.ID, paused: bool
    ) -> Market:
        async with info.context.db.transaction() as session:
            row = await order_lifecycle.set_paused(
                session, info.context.actor, event_id=decode(Kind.EVENT, event_id),
                pool_id=decode(Kind.POOL, pool_id), market_id=decode(Kind.MARKET, market_id), paused=paused,
            )
        info.context.reset_loaders()
        return Market.from_row(row)
