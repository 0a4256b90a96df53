"""Root subscription fields: each follows one bus channel (``subscriptions.topics``).

``myNotifications`` is private: it follows the channel of the user who signed in on the socket
(``connection_init``), and an anonymous socket is refused with ``UNAUTHORIZED``.

A state stream (``marketUpdated``, ``eventChart``) starts with a snapshot read in a short session
of its own, then yields each change; after missed events it yields a fresh snapshot. The socket's
context outlives every event, so no session is kept and the DataLoaders are reset per message.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from predictql.resolvers.common import parse_id
from predictql.schema.context import Context, Info
from predictql.schema.notifications import Notification
from predictql.schema.subscriptions import TRADES_GAP, ChartUpdate, MarketUpdate, StreamEventKind, TradeUpdate
from predictql.services import live
from predictql.subscriptions import streams, topics

SNAPSHOT = StreamEventKind.SNAPSHOT


async def _market(context: Context, market_id: int) -> MarketUpdate:
    async with context.db.session() as session:
        return MarketUpdate.of(await live.market_state(session, context.actor, market_id), SNAPSHOT)


async def _chart(context: Context, event_id: int, pool_id: int | None) -> ChartUpdate:
    async with context.db.session() as session:
        return ChartUpdate.of(await live.chart_state(session, context.actor, event_id, pool_id), SNAPSHOT)


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description="The market now (SNAPSHOT), then its prices, q, volume and paused/resolved after each change."
    )
    async def market_updated(self, info: Info, market_id: strawberry.ID) -> AsyncGenerator[MarketUpdate, None]:
        context, mid = info.context, parse_id(market_id, "marketId")
        stream = streams.follow(
            context.bus, topics.market_channel(mid), live=MarketUpdate.live,
            snapshot=lambda: _market(context, mid), share=("market", mid),
        )
        async for update in stream:
            context.reset_loaders()
            yield update

    @strawberry.subscription(
        description="The latest point of the event's pool (default: its main pool), then a point after each change."
    )
    async def event_chart(
        self, info: Info, event_id: strawberry.ID, pool_id: strawberry.ID | None = None
    ) -> AsyncGenerator[ChartUpdate, None]:
        context, eid = info.context, parse_id(event_id, "eventId")
        pid = parse_id(pool_id, "poolId") if pool_id is not None else None
        stream = streams.follow(
            context.bus, topics.event_chart_channel(eid), live=ChartUpdate.live,
            snapshot=lambda: _chart(context, eid, pid), share=("chart", eid, pid),
        )
        wanted: strawberry.ID | None = None
        async for update in stream:
            wanted = wanted or update.pool_id  # the snapshot names the pool followed
            if update.pool_id == wanted:
                context.reset_loaders()
                yield update

    @strawberry.subscription(
        description="Each trade as it executes: in one market, or platform-wide when marketId is omitted "
        "(events hidden from the public left out). No snapshot: use the latestTrades query."
    )
    async def trades(
        self, info: Info, market_id: strawberry.ID | None = None
    ) -> AsyncGenerator[TradeUpdate, None]:
        context = info.context
        channel = topics.TRADES
        if market_id is not None:
            mid = parse_id(market_id, "marketId")
            await _market(context, mid)  # market_not_found when missing or hidden
            channel = topics.market_trades_channel(mid)
        async for update in streams.follow(context.bus, channel, live=TradeUpdate.live, gap=TRADES_GAP):
            context.reset_loaders()
            yield update

    @strawberry.subscription(
        description="The caller's notifications as they are created (sign in with the connection_init payload). "
        "No snapshot: use the notifications query for history."
    )
    async def my_notifications(self, info: Info) -> AsyncGenerator[Notification, None]:
        context = info.context
        channel = topics.user_notifications_channel(context.actor.require_user())
        async for notification in streams.follow(context.bus, channel, live=Notification.live):
            yield notification
