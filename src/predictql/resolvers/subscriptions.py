"""Root subscription fields: each follows one bus channel (``subscriptions.topics``).

``myNotifications`` is private: it follows the channel of the user who signed in on the socket
(``connection_init``), and an anonymous socket is refused with ``UNAUTHORIZED``.

A state stream (``marketUpdated``, ``eventChart``) starts with a snapshot read in a short session
of its own (or, given ``fromSeq``, with the changes since), then yields each change
(``subscriptions.streams.follow``: sequenced, repaired from the stream log, heartbeats). The
socket's context outlives every event, so no session is kept and the DataLoaders are reset per
message. Visibility (a hidden event is as missing as an unknown one) is checked on subscribe.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from contextlib import aclosing
from typing import Annotated, TypeVar, cast

import strawberry
from strawberry.utils.await_maybe import await_maybe

from predictql.auth import ANONYMOUS
from predictql.schema.context import Context, Info
from predictql.schema.ids import Kind, decode
from predictql.schema.notifications import Notification
from predictql.schema.scalars import Long
from predictql.schema.subscriptions import ChartUpdate, MarketUpdate, StreamMessage, trade_live
from predictql.schema.trading import Trade
from predictql.services import live
from predictql.subscriptions import streams, topics

T = TypeVar("T")

FROM_SEQ = strawberry.argument(
    description="Resume after this seq (the last one you saw): what was missed is replayed first, then live "
    "messages follow. Omitted: a state stream starts with a SNAPSHOT."
)


async def _market(context: Context, market_id: int) -> MarketUpdate:
    async with context.db.session() as session:
        return MarketUpdate.of(await live.market_state(session, context.actor, market_id))


async def _chart(context: Context, event_id: int, pool_id: int | None) -> ChartUpdate:
    async with context.db.session() as session:
        return ChartUpdate.of(await live.chart_state(session, context.actor, event_id, pool_id))


_checking: dict[Hashable, asyncio.Future[object]] = {}


def _checked(context: Context, key: Hashable, read: Callable[[], Awaitable[T]]) -> Awaitable[T]:
    """``read()``, the subscribe-time visibility check of a stream; anonymous sockets checking the
    same ``key`` while its read is in flight share that read (what an anonymous caller may see
    depends on nothing else). A burst of anonymous connects to one market costs one session instead
    of one each, and each socket's setup leaves no session's short-lived objects between the
    long-lived ones of the sockets set up beside it (~7 KB of fragmented heap per subscriber in a
    burst of 256: bench/RESULTS.md, branch wsmem). A signed-in caller reads alone."""
    if context.actor is not ANONYMOUS:
        return read()
    pending = _checking.get(key)
    if pending is None:
        pending = _checking[key] = asyncio.ensure_future(read())

        def done(future: asyncio.Future[object]) -> None:
            if _checking.get(key) is future:
                del _checking[key]
            if not future.cancelled():
                future.exception()  # retrieved, also when every caller left

        pending.add_done_callback(done)
    return cast(Awaitable[T], asyncio.shield(pending))


def messages(
    context: Context,
    items: AsyncGenerator[streams.Item[T], None],
    check: Callable[[], object] | None = None,
    *,
    direct: bool = False,
) -> AsyncGenerator[StreamMessage[T], None]:
    """``_messages``; ``direct``: each item becomes one message, nothing is filtered or added, so
    the socket's fast path may take the stream over once it is live (``graphql_server.sinks``)."""
    if direct:
        followed = streams.tracked()
        if followed is not None:
            followed.direct = True
            if followed.resumed:  # handed back by the fast path: checked when it started
                check = None
    return _messages(context, items, check)


async def _messages(
    context: Context, items: AsyncGenerator[streams.Item[T], None], check: Callable[[], object] | None = None
) -> AsyncGenerator[StreamMessage[T], None]:
    """The stream's items as GraphQL messages; no DataLoader cache outlives one of them.

    Resolvers return this generator rather than ``yield`` from it (one async generator less per
    message). ``check`` (visibility, sign-in) runs when the client starts reading, so a refusal is
    a ``next`` with the error and then ``complete``, as from any subscription resolver."""
    if check is not None:
        await await_maybe(check())
    async with aclosing(items):
        async for item in items:
            context.reset_loaders()
            yield StreamMessage.of(item)


def private(
    info: Info, channel_of: Callable[[int], str], live: Callable[[str], T | None], from_seq: int | None
) -> AsyncGenerator[StreamMessage[T], None]:
    """The signed-in caller's own channel (``UNAUTHORIZED`` when the socket is anonymous, before
    anything is followed): it carries only the caller's events."""
    actor = info.context.actor
    stream = streams.follow(info.context.bus, channel_of(actor.user_id or 0), live=live, from_seq=from_seq)
    return messages(info.context, stream, check=actor.require_user)


async def _of_pool(
    context: Context,
    stream: AsyncGenerator[streams.Item[ChartUpdate], None],
    chart: Callable[[], Awaitable[ChartUpdate]],
) -> AsyncGenerator[StreamMessage[ChartUpdate], None]:
    """The followed pool's points (``chart`` names it; pool_not_found / event_not_found before
    anything is followed): those of the event's other pools are left out."""
    pool_id = (await chart()).pool_id
    async for message in messages(context, stream):
        if message.data is None or message.data.pool_id == pool_id:
            yield message


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description="The market now (SNAPSHOT), then its prices, q, volume and paused/resolved after each change."
    )
    async def market_updated(
        self,
        info: Info,
        market_id: Annotated[strawberry.ID, strawberry.argument(description="The market to watch.")],
        from_seq: Annotated[Long | None, FROM_SEQ] = None,
    ) -> AsyncGenerator[StreamMessage[MarketUpdate], None]:
        context, mid = info.context, decode(Kind.MARKET, market_id)
        stream = streams.follow(
            context.bus,
            topics.market_channel(mid),
            live=MarketUpdate.live,
            snapshot=lambda: _market(context, mid),
            share=("market", mid),
            from_seq=from_seq,
            reuse=True,  # the state is the same for everyone allowed to see it (``check``)
        )
        # market_not_found when missing or hidden, also when resuming (no snapshot read then)
        check = lambda: _checked(context, ("market", mid), lambda: _market(context, mid))  # noqa: E731
        return messages(context, stream, check=check, direct=True)

    @strawberry.subscription(
        description="The latest point of the event's pool (default: its main pool), then a point after each change."
    )
    async def event_chart(
        self,
        info: Info,
        event_id: Annotated[strawberry.ID, strawberry.argument(description="The event to watch.")],
        pool_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="One of its pools; null for the main pool.")
        ] = None,
        from_seq: Annotated[Long | None, FROM_SEQ] = None,
    ) -> AsyncGenerator[StreamMessage[ChartUpdate], None]:
        context, eid = info.context, decode(Kind.EVENT, event_id)
        pid = decode(Kind.POOL, pool_id) if pool_id is not None else None
        stream = streams.follow(
            context.bus,
            topics.event_chart_channel(eid),
            live=ChartUpdate.live,
            snapshot=lambda: _chart(context, eid, pid),
            share=("chart", eid, pid),
            from_seq=from_seq,
            reuse=True,
        )
        return _of_pool(context, stream, lambda: _chart(context, eid, pid))

    @strawberry.subscription(
        description="Each trade as it executes: in one market, or platform-wide when marketId is omitted "
        "(events hidden from the public left out). No snapshot: use the latestTrades query, or fromSeq."
    )
    async def trades(
        self,
        info: Info,
        market_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="One market; null for every public trade.")
        ] = None,
        from_seq: Annotated[Long | None, FROM_SEQ] = None,
    ) -> AsyncGenerator[StreamMessage[Trade], None]:
        context = info.context
        channel = topics.TRADES
        check = None
        if market_id is not None:
            mid = decode(Kind.MARKET, market_id)
            check = lambda: _market(context, mid)  # noqa: E731  (market_not_found when missing or hidden)
            channel = topics.market_trades_channel(mid)
        stream = streams.follow(context.bus, channel, live=trade_live, from_seq=from_seq)
        return messages(context, stream, check)

    @strawberry.subscription(
        description="The caller's notifications as they are created (sign in with the connection_init payload). "
        "No snapshot: use the notifications query for history, or fromSeq."
    )
    async def my_notifications(
        self, info: Info, from_seq: Annotated[Long | None, FROM_SEQ] = None
    ) -> AsyncGenerator[StreamMessage[Notification], None]:
        return private(info, topics.user_notifications_channel, Notification.live, from_seq)
