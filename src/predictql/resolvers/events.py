"""GraphQL root fields for events, pools and markets: parse -> one service call -> wrap.

After a write the request's loaders are reset, so the answer (and any later mutation in the same
document) reads committed rows rather than a cache filled earlier in the request.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from predictql.resolvers.common import parse_id
from predictql.schema.context import Info
from predictql.schema.discovery import EventOrder, event_connection
from predictql.schema.markets import (
    CreateEventFullInput,
    CreateEventInput,
    CreatePoolInput,
    Event,
    EventConnection,
    Market,
    MarketVerdictInput,
    Pool,
    PoolVerdictInput,
    UpdateEventInput,
    WonSide,
)
from predictql.services import discovery, events, feed, pools, resolution
from predictql.services.feed import FeedQuery
from predictql.services.resolution import Verdict


def _verdict(won_side: WonSide | None, outcome: int | None) -> Verdict | None:
    if won_side is None and outcome is None:
        return None
    return Verdict(won_side=won_side.value if won_side else None, outcome=outcome)


@strawberry.type
class EventsQuery:
    @strawberry.field(
        description="The public feed: active events filtered by tags, status, text, newest first unless orderBy "
        "says otherwise (other orders page by position, at most 10000 deep)."
    )
    async def events(
        self, info: Info, first: int = 20, after: str | None = None, tags: list[str] | None = None,
        status: str | None = None, search: str | None = None,
        order_by: Annotated[EventOrder, strawberry.argument(description="Sort order.")] = EventOrder.NEWEST,
    ) -> EventConnection:
        request = FeedQuery(limit=first, cursor=after, tags=tags or (), status=status, search=search)
        async with info.context.db.session() as session:
            page = await discovery.events_page(session, info.context.actor, request, order=order_by.name)
        return event_connection(page, info.context.loaders)

    @strawberry.field(description="The caller's own events, newest first, including hidden and cancelled ones.")
    async def my_events(self, info: Info, first: int = 20, after: str | None = None) -> EventConnection:
        async with info.context.db.session() as session:
            page = await feed.page(session, info.context.actor, FeedQuery(limit=first, cursor=after, mine=True))
        return EventConnection.from_page(page, info.context.loaders)

    @strawberry.field(description="One event; NOT_FOUND when missing or hidden from the caller.")
    async def event(self, info: Info, id: strawberry.ID) -> Event | None:
        async with info.context.db.session() as session:
            row = await events.get_visible(session, info.context.actor, parse_id(id))
        info.context.loaders.prime_events([row])
        return Event.from_row(row)

    @strawberry.field(description="One pool; pool_not_found when missing or its event is hidden.")
    async def pool(self, info: Info, id: strawberry.ID) -> Pool | None:
        async with info.context.db.session() as session:
            row = await pools.get_pool(session, parse_id(id), actor=info.context.actor)
        return Pool.from_row(row)

    @strawberry.field(description="One market; market_not_found when missing or its event is hidden.")
    async def market(self, info: Info, id: strawberry.ID) -> Market | None:
        async with info.context.db.session() as session:
            row = await pools.get_market(session, parse_id(id), actor=info.context.actor)
        return Market.from_row(row)


@strawberry.type
class EventsMutation:
    @strawberry.mutation(description="Create an event without pools (creators). It starts hidden.")
    async def create_event(self, info: Info, input: CreateEventInput) -> Event:
        async with info.context.db.transaction() as session:
            row = await events.create_event(session, info.context.actor, input.to_fields())
        info.context.reset_loaders()
        return Event.from_row(row)

    @strawberry.mutation(description="Create an event with its pools and their markets in one transaction.")
    async def create_event_full(self, info: Info, input: CreateEventFullInput) -> Event:
        async with info.context.db.transaction() as session:
            row = await pools.create_event_full(
                session,
                info.context.actor,
                input.to_fields(),
                [spec.to_fields() for spec in input.pools],
                main_pool_index=input.main_pool_index,
            )
        info.context.reset_loaders()
        return Event.from_row(row)

    @strawberry.mutation(description="Change an event's details (its creator or an admin).")
    async def update_event(self, info: Info, id: strawberry.ID, input: UpdateEventInput) -> Event:
        changes = {k: v for k, v in vars(input).items() if v is not strawberry.UNSET and v is not None}
        if "main_pool_id" in changes:
            changes["main_pool_id"] = parse_id(changes["main_pool_id"], "mainPoolId")
        async with info.context.db.transaction() as session:
            row = await events.update_event(session, info.context.actor, parse_id(id), changes)
        info.context.reset_loaders()
        return Event.from_row(row)

    @strawberry.mutation(description="Show (true) or hide (false) an event in the public feed.")
    async def set_event_active(self, info: Info, id: strawberry.ID, is_active: bool) -> Event:
        async with info.context.db.transaction() as session:
            row = await events.set_active(session, info.context.actor, parse_id(id), is_active=is_active)
        info.context.reset_loaders()
        return Event.from_row(row)

    @strawberry.mutation(description="Add a pool to an event; one LMSR market per outcome, priced at its probability.")
    async def create_pool(self, info: Info, event_id: strawberry.ID, input: CreatePoolInput) -> Pool:
        async with info.context.db.transaction() as session:
            row = await pools.create_pool(session, info.context.actor, parse_id(event_id, "eventId"), input.to_fields())
        info.context.reset_loaders()
        return Pool.from_row(row)

    @strawberry.mutation(description="Re-target a pool's market prices; positions and quantities are unchanged.")
    async def set_pool_probabilities(
        self, info: Info, event_id: strawberry.ID, pool_id: strawberry.ID, probabilities: list[float]
    ) -> list[Market]:
        async with info.context.db.transaction() as session:
            rows = await pools.set_probabilities(
                session, info.context.actor, parse_id(event_id, "eventId"), parse_id(pool_id, "poolId"), probabilities
            )
        info.context.reset_loaders()
        return [Market.from_row(row) for row in rows]

    @strawberry.mutation(description="Resolve every open pool: wonSide or outcome (one pool), or pools[] (several).")
    async def close_event(
        self, info: Info, id: strawberry.ID, won_side: WonSide | None = None, outcome: int | None = None,
        pools: list[PoolVerdictInput] | None = None,
    ) -> Event:
        per_pool = [(parse_id(p.pool_id, "poolId"), _verdict(p.won_side, p.outcome) or Verdict()) for p in pools or ()]
        verdict = _verdict(won_side, outcome)
        async with info.context.db.transaction() as session:
            row = await resolution.close_event(session, info.context.actor, parse_id(id), verdict, per_pool)
        info.context.reset_loaders()
        return Event.from_row(row)

    @strawberry.mutation(
        description="Resolve one pool: wonSide (one or two outcomes: YES = first, NO = second), outcome, or markets[]."
    )
    async def close_pool(
        self, info: Info, event_id: strawberry.ID, pool_id: strawberry.ID, won_side: WonSide | None = None,
        outcome: int | None = None, markets: list[MarketVerdictInput] | None = None,
    ) -> Pool:
        per_market = [(parse_id(m.market_id, "marketId"), m.won_side.value) for m in markets or ()]
        verdict = _verdict(won_side, outcome)
        async with info.context.db.transaction() as session:
            row = await resolution.close_pool(
                session, info.context.actor, parse_id(event_id, "eventId"), parse_id(pool_id, "poolId"),
                verdict, per_market,
            )
        info.context.reset_loaders()
        return Pool.from_row(row)

    @strawberry.mutation(description="Resolve one market: wonSide, or outcome 0 (YES) / 1 (NO).")
    async def close_market(
        self, info: Info, event_id: strawberry.ID, pool_id: strawberry.ID, market_id: strawberry.ID,
        won_side: WonSide | None = None, outcome: int | None = None,
    ) -> Market:
        verdict = _verdict(won_side, outcome) or Verdict()
        async with info.context.db.transaction() as session:
            row = await resolution.close_market(
                session, info.context.actor, parse_id(event_id, "eventId"), parse_id(pool_id, "poolId"),
                parse_id(market_id, "marketId"), verdict,
            )
        info.context.reset_loaders()
        return Market.from_row(row)

    @strawberry.mutation(description="Cancel an event: every open position is refunded at its purchase cost.")
    async def cancel_event(self, info: Info, id: strawberry.ID) -> Event:
        async with info.context.db.transaction() as session:
            row = await resolution.cancel_event(session, info.context.actor, parse_id(id))
        info.context.reset_loaders()
        return Event.from_row(row)
