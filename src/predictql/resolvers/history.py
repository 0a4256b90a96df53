"""GraphQL root fields of history and discovery: parse -> one service call -> wrap.

``Market.priceHistory``, ``Market.priceSeries`` and ``Pool.chart`` are fields of those types
(``schema/history.py``); the REST twins added here call the same services as ``rest_compat``.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from predictql.resolvers.common import INPUT, decode_base64, user_errors
from predictql.schema.context import Info
from predictql.schema.discovery import (
    EventSuggestion,
    LeaderboardEntry,
    LeaderboardOrder,
    MarketFilter,
    MarketOrder,
    Period,
    PortfolioPoint,
    RemoveEventImageInput,
    RemoveEventImagePayload,
    SetEventImageInput,
    SetEventImagePayload,
    SuggestEventInput,
    SuggestEventPayload,
    UnwatchEventInput,
    UnwatchEventPayload,
    WatchEventInput,
    WatchEventPayload,
)
from predictql.schema.ids import Kind, decode, encode
from predictql.schema.markets import Event, Market
from predictql.schema.notifications import Notification
from predictql.schema.pagination import (
    BOUNDS,
    After,
    Before,
    Connection,
    First,
    Last,
    connection,
    page_args,
    ranked_connection,
    wants_total,
)
from predictql.schema.trading import Trade
from predictql.services import discovery, event_images, events, history, leaderboard, notifications, watchlist
from predictql.services.cursors import encode_cursor

PAGE = f"1-{history.MAX_PAGE}"


@strawberry.type
class HistoryQuery:
    @strawberry.field(
        description=f"The caller's trades, newest first: `first`/`after` page to older ones, `last`/`before` to "
        f"newer ones ({PAGE}, default first 20)."
    )
    async def my_trades(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=f"Page size from the newest ({PAGE}).")] = None,
        after: Annotated[str | None, strawberry.argument(description="Trades older than this cursor.")] = None,
        last: Annotated[int | None, strawberry.argument(description=f"Page size from the oldest end ({PAGE}).")] = None,
        before: Annotated[str | None, strawberry.argument(description="Trades newer than this cursor.")] = None,
        market_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this market's trades (mkt_...).")
        ] = None,
    ) -> Connection[Trade]:
        market = decode(Kind.MARKET, market_id, "marketId") if market_id is not None else None
        async with info.context.db.session() as session:
            page = await history.my_trades(
                session, info.context.actor, first=first, after=after, last=last, before=before, market_id=market
            )
            total = (
                await history.count_trades(session, info.context.actor, market_id=market) if wants_total(info) else None
            )
        cursors = [encode_cursor(row.id or 0) for row in page.items]
        return ranked_connection(page.items, cursors, page.has_next, page.has_previous, Trade.from_row, total)

    @strawberry.field(description="The caller's cash plus positions at their price over the period, oldest first.")
    async def portfolio_history(
        self,
        info: Info,
        period: Annotated[Period, strawberry.argument(description="Window and sampling step.")] = Period.MONTH,
    ) -> list[PortfolioPoint]:
        async with info.context.db.session() as session:
            points = await history.portfolio_history(session, info.context.actor, period=period.name)
        return [PortfolioPoint.from_point(point) for point in points]

    @strawberry.field(description=f"Top users of the period (first: 1-{leaderboard.MAX_ENTRIES}), best first.")
    async def leaderboard(
        self,
        info: Info,
        period: Annotated[Period, strawberry.argument(description="How far back to count.")] = Period.WEEK,
        by: Annotated[LeaderboardOrder, strawberry.argument(description="What to rank by.")] = LeaderboardOrder.PNL,
        first: Annotated[int, strawberry.argument(description="How many places.")] = 20,
    ) -> list[LeaderboardEntry]:
        async with info.context.db.session() as session:
            entries = await leaderboard.leaderboard(session, period=period.name, by=by.name, first=first)
        return [LeaderboardEntry.from_entry(entry) for entry in entries]

    @strawberry.field(
        description=f"Markets of the public feed's events, filtered and sorted (first: 1-{discovery.MAX_PAGE}; "
        f"cursors are positions, at most {discovery.MAX_OFFSET} deep)."
    )
    async def markets(
        self,
        info: Info,
        filter: Annotated[MarketFilter | None, strawberry.argument(description="Conditions to meet.")] = None,
        order_by: Annotated[MarketOrder, strawberry.argument(description="Sort order.")] = MarketOrder.NEWEST,
        first: Annotated[int, strawberry.argument(description="Page size.")] = 20,
        after: Annotated[str | None, strawberry.argument(description="Continue after this cursor.")] = None,
    ) -> Connection[Market]:
        wanted = filter.to_filter() if filter is not None else discovery.MarketFilter()
        async with info.context.db.session() as session:
            page = await discovery.markets_page(
                session,
                info.context.actor,
                filter=wanted,
                order=order_by.name,
                first=first,
                after=after,
                with_total=wants_total(info),
            )
        return ranked_connection(
            page.items, page.cursors, page.has_more, page.has_previous, Market.from_row, page.total
        )

    @strawberry.field(
        description="The events the caller watches, most recently watched first (REST /users/me/watchlist); "
        f"pages of {BOUNDS}, totalCount included."
    )
    async def my_watchlist(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Event]:
        args = page_args(info, first, after, last, before)
        async with info.context.db.session() as session:
            page = await watchlist.watched_page(session, info.context.actor, args)
        info.context.loaders.prime_events(page.items)
        return connection(page, Event.from_row, lambda row: row.id)

    @strawberry.field(
        description="Running loop events on a crypto asset (BTC, ETHUSDT, ...), shortest interval first "
        "(REST /events/asset-timeframes/{symbol})."
    )
    async def asset_timeframes(
        self, info: Info, symbol: Annotated[str, strawberry.argument(description="BTC, BTCUSDT, ETH, ...")]
    ) -> list[Event]:
        async with info.context.db.session() as session:
            rows = await events.asset_timeframes(session, symbol=symbol)
        info.context.loaders.prime_events(rows)
        return [Event.from_row(row) for row in rows]

    @strawberry.field(
        description="The caller's unread notifications, newest first, at most 1000 (REST /notifications/unread).",
        deprecation_reason="Use notifications(unread: true): the same list as a connection.",
    )
    async def unread_notifications(self, info: Info) -> list[Notification]:
        async with info.context.db.session() as session:
            rows = await notifications.unread(session, info.context.actor)
        return [Notification.from_row(row) for row in rows]


@strawberry.type
class HistoryMutation:
    @strawberry.mutation(description="Add an event to the caller's watchlist (already there: no change).")
    @user_errors
    async def watch_event(self, info: Info, input: Annotated[WatchEventInput, INPUT]) -> WatchEventPayload:
        event_id = decode(Kind.EVENT, input.event_id, "eventId")
        async with info.context.db.transaction() as session:
            row = await watchlist.add(session, info.context.actor, event_id=event_id)
        info.context.reset_loaders()
        return WatchEventPayload(event=Event.from_row(row))

    @strawberry.mutation(description="Remove an event from the caller's watchlist (not watched: no change).")
    @user_errors
    async def unwatch_event(self, info: Info, input: Annotated[UnwatchEventInput, INPUT]) -> UnwatchEventPayload:
        event_id = decode(Kind.EVENT, input.event_id, "eventId")
        async with info.context.db.transaction() as session:
            row = await watchlist.remove(session, info.context.actor, event_id=event_id)
        info.context.reset_loaders()
        return UnwatchEventPayload(
            unwatched_event_id=strawberry.ID(encode(Kind.EVENT, event_id)),
            event=Event.from_row(row) if row is not None else None,
        )

    @strawberry.mutation(
        description="Set an event's image (its creator or an admin): a JPEG, PNG or WebP file, base64-encoded "
        "(REST POST /events/{id}/image); the event with its new imageUrl."
    )
    @user_errors
    async def set_event_image(self, info: Info, input: Annotated[SetEventImageInput, INPUT]) -> SetEventImagePayload:
        event_id = decode(Kind.EVENT, input.event_id, "eventId")
        content, settings = decode_base64(input.content_base64), info.context.settings
        async with info.context.db.transaction() as session:
            row = await event_images.set_image(
                session,
                info.context.actor,
                event_id,
                content=content,
                directory=settings.avatar_dir,
                base_url=settings.public_url,
                max_bytes=settings.avatar_max_bytes,
            )
        info.context.reset_loaders()
        return SetEventImagePayload(event=Event.from_row(row))

    @strawberry.mutation(
        description="Remove an event's image (REST DELETE /events/{id}/image); the event, imageUrl null."
    )
    @user_errors
    async def remove_event_image(
        self, info: Info, input: Annotated[RemoveEventImageInput, INPUT]
    ) -> RemoveEventImagePayload:
        event_id = decode(Kind.EVENT, input.event_id, "eventId")
        settings = info.context.settings
        async with info.context.db.transaction() as session:
            row = await event_images.remove_image(
                session,
                info.context.actor,
                event_id,
                directory=settings.avatar_dir,
                base_url=settings.public_url,
            )
        info.context.reset_loaders()
        return RemoveEventImagePayload(event=Event.from_row(row))

    @strawberry.mutation(description="Send an event idea to the creators (REST POST /events/suggest).")
    @user_errors
    async def suggest_event(self, info: Info, input: Annotated[SuggestEventInput, INPUT]) -> SuggestEventPayload:
        async with info.context.db.transaction() as session:
            row = await events.suggest(
                session, info.context.actor, name=input.name, description=input.description, tags=input.tags
            )
        return SuggestEventPayload(suggestion=EventSuggestion.from_row(row))
