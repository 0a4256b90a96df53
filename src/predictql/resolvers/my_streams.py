"""Root subscription fields of the order book and of the caller's own streams.

``orderbook`` is a state stream: the aggregated book (SNAPSHOT), then the changed levels after
each change of the market's resting orders. The private streams need a signed-in socket (the
token in the ``connection_init`` payload; ``UNAUTHORIZED`` otherwise, as for other private
fields) and follow the caller's own channel, so they carry only the caller's events. As in
``resolvers.subscriptions``: snapshots are read in short sessions, DataLoaders reset per message.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from predictql.resolvers.subscriptions import FROM_SEQ, messages, private
from predictql.schema.context import Context, Info
from predictql.schema.ids import Kind, decode
from predictql.schema.my_streams import BalanceUpdate, MyFill, OrderBookUpdate, order_live, position_live
from predictql.schema.orders import Order
from predictql.schema.scalars import Long
from predictql.schema.subscriptions import StreamMessage
from predictql.schema.trading import Position
from predictql.services import live, order_lifecycle
from predictql.subscriptions import streams, topics


async def _book(context: Context, market_id: int, depth: int) -> OrderBookUpdate:
    async with context.db.session() as session:
        book = await order_lifecycle.order_book(
            session, context.actor, market_id=market_id, depth=depth, fee_bps=context.settings.fee_bps
        )
    return OrderBookUpdate.of(book)


async def _balance(context: Context) -> BalanceUpdate:
    async with context.db.session() as session:
        return BalanceUpdate.of(await live.balance_state(session, context.actor))


@strawberry.type
class MyStreamsSubscription:
    @strawberry.subscription(
        description="An order-book market's book in YES prices: the best `depth` levels per side (SNAPSHOT, "
        "full: true), then after each change of its resting orders (an order rests, fills, is cancelled or "
        "expires) the changed levels with their totals now (LIVE, full: false; amount 0 = level gone)."
    )
    async def orderbook(
        self,
        info: Info,
        market_id: Annotated[strawberry.ID, strawberry.argument(description="An order-book market.")],
        depth: Annotated[int, strawberry.argument(description="Price levels per side in the snapshot, 1-1000.")] = 50,
        from_seq: Annotated[Long | None, FROM_SEQ] = None,
    ) -> AsyncGenerator[StreamMessage[OrderBookUpdate], None]:
        context, mid = info.context, decode(Kind.MARKET, market_id)
        stream = streams.follow(
            context.bus,
            topics.market_book_channel(mid),
            live=OrderBookUpdate.live,
            snapshot=lambda: _book(context, mid, depth),
            share=("book", mid, depth),
            from_seq=from_seq,
            reuse=True,  # the book is the same for everyone allowed to see it (``check``)
        )
        # market_not_found / a bad depth before anything is followed, also when resuming
        return messages(context, stream, check=lambda: _book(context, mid, depth))

    @strawberry.subscription(
        description="Each change of one of the caller's orders (placed, partially filled, filled, cancelled or "
        "expired) as the whole order. No snapshot: use the myOrders query (status: open), or fromSeq."
    )
    async def my_orders(
        self, info: Info, from_seq: Annotated[Long | None, FROM_SEQ] = None
    ) -> AsyncGenerator[StreamMessage[Order], None]:
        return private(info, topics.user_orders_channel, order_live, from_seq)

    @strawberry.subscription(
        description="Each execution of the caller's: LMSR trades and order-book fills (the caller's side). "
        "No snapshot: use fromSeq to resume."
    )
    async def my_fills(
        self, info: Info, from_seq: Annotated[Long | None, FROM_SEQ] = None
    ) -> AsyncGenerator[StreamMessage[MyFill], None]:
        return private(info, topics.user_fills_channel, MyFill.live, from_seq)

    @strawberry.subscription(
        description="Each of the caller's positions after each change (a trade, a fill, a close, settlement on "
        "resolution), whole. No snapshot: use the positions query, or fromSeq."
    )
    async def my_positions(
        self, info: Info, from_seq: Annotated[Long | None, FROM_SEQ] = None
    ) -> AsyncGenerator[StreamMessage[Position], None]:
        return private(info, topics.user_positions_channel, position_live, from_seq)

    @strawberry.subscription(
        description="The caller's balances now (SNAPSHOT), then after each transaction that moved them "
        "(once per transaction, as it ended)."
    )
    async def my_balance(
        self, info: Info, from_seq: Annotated[Long | None, FROM_SEQ] = None
    ) -> AsyncGenerator[StreamMessage[BalanceUpdate], None]:
        context = info.context
        stream = streams.follow(
            context.bus,
            topics.user_balance_channel(context.actor.user_id or 0),
            live=BalanceUpdate.live,
            snapshot=lambda: _balance(context),
            from_seq=from_seq,
        )
        return messages(context, stream, check=context.actor.require_user)
