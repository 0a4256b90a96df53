"""GraphQL root fields of order-book trading: parse -> one service call -> wrap."""

from __future__ import annotations

from typing import Annotated

import strawberry

from predictql.resolvers.common import AFTER, parse_id
from predictql.schema.context import Info
from predictql.schema.markets import Market
from predictql.schema.orders import Order, OrderBook, OrderConnection, PlaceOrderInput, PlaceOrderResult
from predictql.services import order_lifecycle, orderbook_trading


@strawberry.type
class OrdersQuery:
    @strawberry.field(description="An order-book market's resting orders by price level, best first (YES prices).")
    async def orderbook(
        self,
        info: Info,
        market_id: Annotated[strawberry.ID, strawberry.argument(description="An order-book market.")],
        depth: Annotated[int, strawberry.argument(description="Price levels per side, 1-1000.")] = 50,
        token_type: Annotated[str, strawberry.argument(description="YES (default), or NO for NO prices.")] = "YES",
    ) -> OrderBook:
        async with info.context.db.session() as session:
            book = await order_lifecycle.order_book(
                session, info.context.actor, market_id=parse_id(market_id, "marketId"), depth=depth,
                fee_bps=info.context.settings.fee_bps,
            )
        return OrderBook.from_snapshot(book.flipped() if token_type.upper() == "NO" else book)

    @strawberry.field(description="The caller's orders, newest first (status: pending|partial|filled|cancelled|open).")
    async def my_orders(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1-1000.")] = 20,
        after: Annotated[str | None, AFTER] = None,
        status: Annotated[
            str | None,
            strawberry.argument(
                description="Only this state: pending, partial, filled, cancelled, or open (pending or partial); "
                "null for all."
            ),
        ] = None,
    ) -> OrderConnection:
        async with info.context.db.session() as session:
            page = await order_lifecycle.my_orders(session, info.context.actor, status=status, limit=first, after=after)
        return OrderConnection.from_page(page)


@strawberry.type
class OrdersMutation:
    @strawberry.mutation(description="Place a limit or market order; it matches at resting prices, then rests or ends.")
    async def place_order(
        self,
        info: Info,
        input: Annotated[PlaceOrderInput, strawberry.argument(description="The order.")],
    ) -> PlaceOrderResult:
        request = input.to_request(parse_id(input.market_id, "marketId"))
        async with info.context.db.transaction() as session:
            placed = await orderbook_trading.place_order(
                session, info.context.actor, request, fee_bps=info.context.settings.fee_bps
            )
        return PlaceOrderResult.from_placed(placed)

    @strawberry.mutation(description="Cancel one of the caller's open orders; its unspent escrow is released.")
    async def cancel_order(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The order's id.")],
    ) -> Order:
        async with info.context.db.transaction() as session:
            row = await order_lifecycle.cancel_order(session, info.context.actor, order_id=parse_id(id))
        return Order.from_row(row)

    @strawberry.mutation(description="Cancel every open order of the caller in one market; the cancelled orders.")
    async def cancel_all_orders(
        self,
        info: Info,
        market_id: Annotated[strawberry.ID, strawberry.argument(description="The market whose open orders to cancel.")],
    ) -> list[Order]:
        async with info.context.db.transaction() as session:
            rows = await order_lifecycle.cancel_all(
                session, info.context.actor, market_id=parse_id(market_id, "marketId")
            )
        return [Order.from_row(row) for row in rows]

    @strawberry.mutation(description="Pause (resting orders are cancelled) or resume a market: event creator or admin.")
    async def set_market_paused(
        self,
        info: Info,
        event_id: Annotated[strawberry.ID, strawberry.argument(description="The market's event.")],
        pool_id: Annotated[strawberry.ID, strawberry.argument(description="The market's pool.")],
        market_id: Annotated[strawberry.ID, strawberry.argument(description="The market to pause or resume.")],
        paused: Annotated[bool, strawberry.argument(description="True pauses, false resumes.")],
    ) -> Market:
        async with info.context.db.transaction() as session:
            row = await order_lifecycle.set_paused(
                session, info.context.actor, event_id=parse_id(event_id, "eventId"),
                pool_id=parse_id(pool_id, "poolId"), market_id=parse_id(market_id, "marketId"), paused=paused,
            )
        info.context.reset_loaders()
        return Market.from_row(row)
