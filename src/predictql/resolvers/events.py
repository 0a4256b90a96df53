"""GraphQL root fields for events, pools and markets: parse -> one service call -> wrap.

After a write the request's loaders are reset, so the answer (and any later mutation in the same
document) reads committed rows rather than a cache filled earlier in the request.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from predictql.resolvers.common import INPUT, user_errors
from predictql.schema.context import Info
from predictql.schema.discovery import EventOrder
from predictql.schema.enums import EventStatus, Outcome
from predictql.schema.ids import Kind, decode
from predictql.schema.markets import (
    CancelEventInput,
    CancelEventPayload,
    CloseEventInput,
    CloseEventPayload,
    CloseMarketInput,
    CloseMarketPayload,
    ClosePoolInput,
    ClosePoolPayload,
    CreateEventFullInput,
    CreateEventFullPayload,
    CreateEventInput,
    CreateEventPayload,
    CreatePoolInput,
    CreatePoolPayload,
    Event,
    Market,
    Pool,
    SetEventActiveInput,
    SetEventActivePayload,
    SetPoolProbabilitiesInput,
    SetPoolProbabilitiesPayload,
    UpdateEventInput,
    UpdateEventPayload,
    event_connection,
    prefetch_feed,
)
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, page_args, ranked_connection
from predictql.services import discovery, events, feed, pools, resolution
from predictql.services.feed import FeedQuery
from predictql.services.resolution import Verdict


def _verdict(won_side: Outcome | None, outcome: int | None) -> Verdict | None:
    if won_side is None and outcome is None:
        return None
    return Verdict(won_side=won_side.name if won_side else None, outcome=outcome)


@strawberry.type
class EventsQuery:
    @strawberry.field(
        description="The public feed: active events filtered by tags, status, text, newest first unless orderBy "
        f"says otherwise; pages of {BOUNDS} (other orders page by position with first/after, at most 10000 deep)."
    )
    async def events(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        tags: Annotated[list[str] | None, strawberry.argument(description="Events with any of these tags.")] = None,
        status: Annotated[EventStatus | None, strawberry.argument(description="Only events at this stage.")] = None,
        search: Annotated[
            str | None, strawberry.argument(description="Text in the English or Russian title (at most 200).")
        ] = None,
        order_by: Annotated[EventOrder, strawberry.argument(description="Sort order.")] = EventOrder.NEWEST,
    ) -> Connection[Event]:
        args = page_args(info, first, after, last, before)
        wanted = status.value if status else None
        if order_by is not EventOrder.NEWEST:
            ranked_request = FeedQuery(limit=args.size, cursor=after, tags=tags or (), status=wanted, search=search)
            async with info.context.db.session() as session:
                ranked = await discovery.events_page(
                    session, info.context.actor, ranked_request, order=order_by.name, with_total=args.with_total
                )
                info.context.loaders.prime_events(ranked.items)
                await prefetch_feed(info, session, ranked.items)
            return ranked_connection(
                ranked.items, ranked.cursors, ranked.has_more, ranked.has_previous, Event.from_row, ranked.total
            )
        request = FeedQuery(tags=tags or (), status=wanted, search=search, page=args)
        async with info.context.db.session() as session:
            page = await feed.page(session, info.context.actor, request, read_only=True)
            await prefetch_feed(info, session, page.items)
        return event_connection(page, info.context.loaders)

    @strawberry.field(
        description=f"The caller's own events, newest first, including hidden and cancelled ones; pages of {BOUNDS}."
    )
    async def my_events(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Event]:
        request = FeedQuery(mine=True, page=page_args(info, first, after, last, before))
        async with info.context.db.session() as session:
            page = await feed.page(session, info.context.actor, request, read_only=True)
            await prefetch_feed(info, session, page.items)
        return event_connection(page, info.context.loaders)


@strawberry.type
class EventsMutation:
    @strawberry.mutation(description="Create an event without pools (creators). It starts hidden.")
    @user_errors
    async def create_event(self, info: Info, input: Annotated[CreateEventInput, INPUT]) -> CreateEventPayload:
        async with info.context.db.transaction() as session:
            row = await events.create_event(session, info.context.actor, input.to_fields())
        info.context.reset_loaders()
        return CreateEventPayload(event=Event.from_row(row))

    @strawberry.mutation(description="Create an event with its pools and their markets in one transaction.")
    @user_errors
    async def create_event_full(
        self, info: Info, input: Annotated[CreateEventFullInput, INPUT]
    ) -> CreateEventFullPayload:
        async with info.context.db.transaction() as session:
            row = await pools.create_event_full(
                session,
                info.context.actor,
                input.to_fields(),
                [spec.to_fields() for spec in input.pools],
                main_pool_index=input.main_pool_index,
            )
        info.context.reset_loaders()
        return CreateEventFullPayload(event=Event.from_row(row))

    @strawberry.mutation(description="Change an event's details (its creator or an admin).")
    @user_errors
    async def update_event(self, info: Info, input: Annotated[UpdateEventInput, INPUT]) -> UpdateEventPayload:
        event_id = decode(Kind.EVENT, input.id, "id")
        changes = {k: v for k, v in vars(input).items() if k != "id" and v is not strawberry.UNSET and v is not None}
        if "main_pool_id" in changes:
            changes["main_pool_id"] = decode(Kind.POOL, changes["main_pool_id"])
        async with info.context.db.transaction() as session:
            row = await events.update_event(session, info.context.actor, event_id, changes)
        info.context.reset_loaders()
        return UpdateEventPayload(event=Event.from_row(row))

    @strawberry.mutation(description="Show (true) or hide (false) an event in the public feed.")
    @user_errors
    async def set_event_active(self, info: Info, input: Annotated[SetEventActiveInput, INPUT]) -> SetEventActivePayload:
        event_id = decode(Kind.EVENT, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await events.set_active(session, info.context.actor, event_id, is_active=input.is_active)
        info.context.reset_loaders()
        return SetEventActivePayload(event=Event.from_row(row))

    @strawberry.mutation(description="Add a pool to an event; one LMSR market per outcome, priced at its probability.")
    @user_errors
    async def create_pool(self, info: Info, input: Annotated[CreatePoolInput, INPUT]) -> CreatePoolPayload:
        event_id = decode(Kind.EVENT, input.event_id, "eventId")
        async with info.context.db.transaction() as session:
            row = await pools.create_pool(session, info.context.actor, event_id, input.to_fields())
        info.context.reset_loaders()
        return CreatePoolPayload(pool=Pool.from_row(row))

    @strawberry.mutation(description="Re-target a pool's market prices; positions and quantities are unchanged.")
    @user_errors
    async def set_pool_probabilities(
        self, info: Info, input: Annotated[SetPoolProbabilitiesInput, INPUT]
    ) -> SetPoolProbabilitiesPayload:
        event_id, pool_id = decode(Kind.EVENT, input.event_id, "eventId"), decode(Kind.POOL, input.pool_id, "poolId")
        async with info.context.db.transaction() as session:
            rows = await pools.set_probabilities(session, info.context.actor, event_id, pool_id, input.probabilities())
        info.context.reset_loaders()
        return SetPoolProbabilitiesPayload(markets=[Market.from_row(row) for row in rows])

    @strawberry.mutation(description="Resolve every open pool: wonSide or outcome (one pool), or pools[] (several).")
    @user_errors
    async def close_event(self, info: Info, input: Annotated[CloseEventInput, INPUT]) -> CloseEventPayload:
        event_id = decode(Kind.EVENT, input.id, "id")
        per_pool = [
            (decode(Kind.POOL, p.pool_id, "poolId"), _verdict(p.won_side, p.outcome) or Verdict())
            for p in input.pools or ()
        ]
        verdict = _verdict(input.won_side, input.outcome)
        async with info.context.db.transaction() as session:
            row = await resolution.close_event(session, info.context.actor, event_id, verdict, per_pool)
        info.context.reset_loaders()
        return CloseEventPayload(event=Event.from_row(row))

    @strawberry.mutation(
        description="Resolve one pool: wonSide (one or two outcomes: YES = first, NO = second), outcome, or markets[]."
    )
    @user_errors
    async def close_pool(self, info: Info, input: Annotated[ClosePoolInput, INPUT]) -> ClosePoolPayload:
        event_id, pool_id = decode(Kind.EVENT, input.event_id, "eventId"), decode(Kind.POOL, input.pool_id, "poolId")
        per_market = [(decode(Kind.MARKET, m.market_id, "marketId"), m.won_side.value) for m in input.markets or ()]
        verdict = _verdict(input.won_side, input.outcome)
        async with info.context.db.transaction() as session:
            row = await resolution.close_pool(session, info.context.actor, event_id, pool_id, verdict, per_market)
        info.context.reset_loaders()
        return ClosePoolPayload(pool=Pool.from_row(row))

    @strawberry.mutation(description="Resolve one market: wonSide, or outcome 0 (YES) / 1 (NO).")
    @user_errors
    async def close_market(self, info: Info, input: Annotated[CloseMarketInput, INPUT]) -> CloseMarketPayload:
        event_id, pool_id = decode(Kind.EVENT, input.event_id, "eventId"), decode(Kind.POOL, input.pool_id, "poolId")
        market_id = decode(Kind.MARKET, input.market_id, "marketId")
        verdict = _verdict(input.won_side, input.outcome) or Verdict()
        async with info.context.db.transaction() as session:
            row = await resolution.close_market(session, info.context.actor, event_id, pool_id, market_id, verdict)
        info.context.reset_loaders()
        return CloseMarketPayload(market=Market.from_row(row))

    @strawberry.mutation(description="Cancel an event: every open position is refunded at its purchase cost.")
    @user_errors
    async def cancel_event(self, info: Info, input: Annotated[CancelEventInput, INPUT]) -> CancelEventPayload:
        event_id = decode(Kind.EVENT, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await resolution.cancel_event(session, info.context.actor, event_id)
        info.context.reset_loaders()
        return CancelEventPayload(event=Event.from_row(row))
