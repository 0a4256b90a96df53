"""GraphQL root fields of order-book trading: parse -> one service call -> wrap."""

from __future__ import annotations

from typing import Annotated

import strawberry

from predictql.models import Order as OrderRow
from predictql.resolvers.common import INPUT, user_errors
from predictql.schema import ids
from predictql.schema.context import Info
from predictql.schema.enums import OrderStatusFilter, Outcome
from predictql.schema.ids import Kind, decode
from predictql.schema.markets import Market
from predictql.schema.orders import (
    CancelAllOrdersPayload,
    CancelOrderPayload,
    Order,
    OrderBook,
    PlaceOrderInput,
    PlaceOrderPayload,
    SetMarketPausedPayload,
)
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.schema.payloads import Balances
from predictql.services import ledger, order_lifecycle, order_writes, positions


@strawberry.type
class OrdersQuery:
    @strawberry.field(description="An order-book market's resting orders by price level, best first (YES prices).")
    async def orderbook(
        self,
        info: Info,
        market_id: Annotated[strawberry.ID, strawberry.argument(description="An order-book market (mkt_...).")],
        depth: Annotated[int, strawberry.argument(description="Price levels per side, 1-1000.")] = 50,
        token_type: Annotated[
            Outcome, strawberry.argument(description="YES (default), or NO for NO prices.")
        ] = Outcome.YES,
    ) -> OrderBook:
        async with info.context.db.session() as session:
            book = await order_lifecycle.order_book(
                session,
                info.context.actor,
                market_id=decode(Kind.MARKET, market_id),
                depth=depth,
                fee_bps=info.context.settings.fee_bps,
            )
        return OrderBook.from_snapshot(book.flipped() if token_type is Outcome.NO else book)

    @strawberry.field(
        description=f"The caller's orders, newest first, optionally only those of one status; pages of {BOUNDS}."
    )
    async def my_orders(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[
            OrderStatusFilter | None, strawberry.argument(description="Only orders in this state; all when omitted.")
        ] = None,
    ) -> Connection[Order]:
        args = page_args(info, first, after, last, before)
        wanted = status.value if status else None
        async with info.context.db.session() as session:
            page = await order_lifecycle.my_orders(session, info.context.actor, status=wanted, page=args)
        return connection(page, Order.from_row, lambda row: row.id)


@strawberry.input(description="The order to cancel.")
class CancelOrderInput:
    id: strawberry.ID = strawberry.field(description="One of the caller's open orders.")


@strawberry.input(description="The market whose open orders of the caller's are cancelled.")
class CancelAllOrdersInput:
    market_id: strawberry.ID = strawberry.field(description="The market.")


@strawberry.input(description="Pause or resume one market of an event's pool.")
class SetMarketPausedInput:
    event_id: strawberry.ID = strawberry.field(description="The market's event.")
    pool_id: strawberry.ID = strawberry.field(description="The market's pool.")
    market_id: strawberry.ID = strawberry.field(description="The market.")
    paused: bool = strawberry.field(description="true pauses (resting orders are cancelled), false resumes.")


def _order_ids(rows: list[OrderRow]) -> list[strawberry.ID]:
    return [strawberry.ID(ids.encode(ids.Kind.ORDER, row.id)) for row in rows if row.id is not None]


@strawberry.type
class OrdersMutation:
    @strawberry.mutation(description="Place a limit or market order; it matches at resting prices, then rests or ends.")
    @user_errors
    async def place_order(self, info: Info, input: Annotated[PlaceOrderInput, INPUT]) -> PlaceOrderPayload:
        request = input.to_request(decode(Kind.MARKET, input.market_id, "marketId"))
        actor = info.context.actor
        placed = await order_writes.place(
            info.context.market_writer, actor, request, fee_bps=info.context.settings.fee_bps
        )
        async with info.context.db.session() as session:
            after = await positions.after_trade(session, actor.require_user(), request.market_id)
        info.context.reset_loaders()
        return PlaceOrderPayload.of(placed, after)

    @strawberry.mutation(description="Cancel one of the caller's open orders; its unspent escrow is released.")
    @user_errors
    async def cancel_order(self, info: Info, input: Annotated[CancelOrderInput, INPUT]) -> CancelOrderPayload:
        order_id = decode(Kind.ORDER, input.id, "id")
        actor = info.context.actor
        row = await order_writes.cancel(
            info.context.market_writer, actor, order_id=order_id, fee_bps=info.context.settings.fee_bps
        )
        async with info.context.db.session() as session:
            money = await ledger.balances(session, actor.require_user())
        return CancelOrderPayload(
            cancelled_order_id=_order_ids([row])[0], order=Order.from_row(row), balances=Balances.from_row(money)
        )

    @strawberry.mutation(description="Cancel every open order of the caller in one market; the cancelled orders.")
    @user_errors
    async def cancel_all_orders(
        self, info: Info, input: Annotated[CancelAllOrdersInput, INPUT]
    ) -> CancelAllOrdersPayload:
        market_id = decode(Kind.MARKET, input.market_id, "marketId")
        actor = info.context.actor
        rows = await order_writes.cancel_all(
            info.context.market_writer, actor, market_id=market_id, fee_bps=info.context.settings.fee_bps
        )
        async with info.context.db.session() as session:
            money = await ledger.balances(session, actor.require_user())
        return CancelAllOrdersPayload(
            cancelled_order_ids=_order_ids(rows),
            orders=[Order.from_row(row) for row in rows],
            balances=Balances.from_row(money),
        )

    @strawberry.mutation(description="Pause (resting orders are cancelled) or resume a market: event creator or admin.")
    @user_errors
    async def set_market_paused(
        self, info: Info, input: Annotated[SetMarketPausedInput, INPUT]
    ) -> SetMarketPausedPayload:
        event_id, pool_id = decode(Kind.EVENT, input.event_id, "eventId"), decode(Kind.POOL, input.pool_id, "poolId")
        market_id = decode(Kind.MARKET, input.market_id, "marketId")
        async with info.context.db.transaction() as session:
            row = await order_lifecycle.set_paused(
                session,
                info.context.actor,
                event_id=event_id,
                pool_id=pool_id,
                market_id=market_id,
                paused=input.paused,
            )
        info.context.reset_loaders()
        return SetMarketPausedPayload(market=Market.from_row(row))
