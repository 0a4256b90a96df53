"""GraphQL types for events, pools and markets. Nested fields load through the request's DataLoaders."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from predictql.errors import InvalidInput
from predictql.models import Event as EventRow
from predictql.models import Market as MarketRow
from predictql.models import Pool as PoolRow
from predictql.schema import history
from predictql.schema.context import Info
from predictql.schema.loaders import Loaders
from predictql.schema.pagination import PageInfo
from predictql.schema.scalars import Long
from predictql.services.cursors import Page, encode_cursor
from predictql.services.events import EventFields, event_status
from predictql.services.pools import PoolFields
from predictql.services.prices import market_price


def _id(value: int | None) -> strawberry.ID:
    assert value is not None
    return strawberry.ID(str(value))


@strawberry.type(description="One outcome of a pool, traded as a binary YES/NO market.")
class Market:
    id: strawberry.ID
    pool_id: strawberry.ID
    event_id: strawberry.ID
    name: str
    name_ru: str
    outcome_index: int = strawberry.field(description="0-based position of this outcome in its pool.")
    market_type: str = strawberry.field(description='"lmsr" (automated market maker) or "orderbook".')
    yes_probability: float = strawberry.field(description="YES price as a probability (1 or 0 once resolved).")
    no_probability: float = strawberry.field(description="1 - yesProbability.")
    yes_price: int = strawberry.field(description="YES price in basis points (0..10000).")
    no_price: int = strawberry.field(description="NO price in basis points; yesPrice + noPrice = 10000.")
    b: Long = strawberry.field(description="LMSR liquidity as the pool page shows it: liquidityKopecks / 100.")
    liquidity_kopecks: Long = strawberry.field(description="LMSR liquidity parameter in kopecks (share units).")
    q_yes: Long = strawberry.field(description="YES share units the market maker has sold.")
    q_no: Long = strawberry.field(description="NO share units the market maker has sold.")
    volume: Long = strawberry.field(description="Traded volume in kopecks.")
    paused: bool = strawberry.field(description="Trading is suspended.")
    resolved: bool
    winning_outcome: str | None = strawberry.field(description='"YES" or "NO" once resolved; null before.')
    yes_name: str = strawberry.field(description='Label of the YES side (default "Yes").')
    no_name: str = strawberry.field(description='Label of the NO side (default "No").')
    resolved_at: datetime | None
    price_history: list[history.Candle] = strawberry.field(
        resolver=history.market_price_history, description=history.PRICE_HISTORY_DESCRIPTION
    )
    price_series: list[history.PricePoint] = strawberry.field(
        resolver=history.market_price_series, description=history.PRICE_SERIES_DESCRIPTION
    )

    @strawberry.field(description="The pool this market belongs to.")
    async def pool(self, info: Info) -> Pool:
        row = await info.context.loaders.pool_by_id.load(int(self.pool_id))
        assert row is not None
        return Pool.from_row(row)

    @classmethod
    def from_row(cls, row: MarketRow) -> Market:
        price = market_price(row)
        return cls(
            id=_id(row.id), pool_id=_id(row.pool_id), event_id=_id(row.event_id), name=row.name,
            name_ru=row.name_ru, outcome_index=row.outcome_index, market_type=row.market_type,
            yes_probability=price.yes_probability, no_probability=1.0 - price.yes_probability,
            yes_price=price.yes, no_price=price.no,
            b=Long(row.lmsr_b // 100), liquidity_kopecks=Long(row.lmsr_b), q_yes=Long(row.q_yes),
            q_no=Long(row.q_no), volume=Long(row.volume), paused=row.paused, resolved=row.resolved,
            winning_outcome=row.winning_outcome, yes_name=row.yes_name, no_name=row.no_name,
            resolved_at=row.resolved_at,
        )


@strawberry.type(description="A group of outcomes of one event; one market per outcome.")
class Pool:
    id: strawberry.ID
    event_id: strawberry.ID
    name: str
    name_ru: str
    rules: str = strawberry.field(description="How the pool is resolved.")
    rules_ru: str
    margin: float = strawberry.field(description="Creator margin as a fraction (0.02 = 2 %).")
    live_at: datetime = strawberry.field(description="Trading opens; the event counts as started from here.")
    finish_at: datetime = strawberry.field(description="Trading closes.")
    won_side: int | None = strawberry.field(
        description="Null until closed; the winning outcome index (0 = YES for a single-market pool, 1 = NO)."
    )
    created_at: datetime
    closed_at: datetime | None
    metadata: JSON = strawberry.field(
        description="market_names, market_probabilities (initial), lmsr_b_kopecks, market_type and extra keys."
    )
    chart: list[history.PoolChartPoint] = strawberry.field(
        resolver=history.pool_chart, description=history.POOL_CHART_DESCRIPTION
    )

    @strawberry.field(description="The pool's markets, by outcome index.")
    async def markets(self, info: Info) -> list[Market]:
        return [Market.from_row(row) for row in await info.context.loaders.markets_by_pool_id.load(int(self.id))]

    @strawberry.field(description="The event this pool belongs to.")
    async def event(self, info: Info) -> Event:
        row = await info.context.loaders.event_by_id.load(int(self.event_id))
        assert row is not None
        return Event.from_row(row)

    @classmethod
    def from_row(cls, row: PoolRow) -> Pool:
        return cls(
            id=_id(row.id), event_id=_id(row.event_id), name=row.name, name_ru=row.name_ru, rules=row.rules,
            rules_ru=row.rules_ru, margin=row.margin, live_at=row.live_at, finish_at=row.finish_at,
            won_side=row.won_side, created_at=row.created_at, closed_at=row.closed_at, metadata=JSON(row.meta),
        )


@strawberry.type(description="An event: a question or match with one or more pools of outcomes.")
class Event:
    id: strawberry.ID
    creator_id: strawberry.ID = strawberry.field(description="The user who created the event.")
    name: str
    name_ru: str
    tags: list[str] = strawberry.field(description="Lower-case tags, in display order.")
    image_url: str | None
    is_active: bool = strawberry.field(description="False hides the event from everyone but its creator and admins.")
    created_at: datetime
    closed_at: datetime | None = strawberry.field(description="When the last pool was resolved.")
    cancelled_at: datetime | None = strawberry.field(description="When the event was cancelled (positions refunded).")
    versus_names: list[str] = strawberry.field(description="Up to three sides, for matches.")
    versus_images: list[str]
    has_draw: bool
    main_pool_id: strawberry.ID | None = strawberry.field(description="The pool shown on the feed card.")
    is_loop_event: bool = strawberry.field(description="A self-recreating event (crypto timeframes).")
    loop_interval_minutes: int = strawberry.field(description="0 for a one-off event.")
    asset_symbol: str | None = strawberry.field(description="For loop events on a crypto asset, e.g. BTC.")
    row: strawberry.Private[EventRow]

    @strawberry.field(description="new (no pool live yet), started, paid (all pools closed) or cancelled.")
    async def status(self, info: Info) -> str:
        return event_status(self.row, await info.context.loaders.pools_by_event_id.load(int(self.id)))

    @strawberry.field(description="The event's pools, oldest first.")
    async def pools(self, info: Info) -> list[Pool]:
        return [Pool.from_row(row) for row in await info.context.loaders.pools_by_event_id.load(int(self.id))]

    @strawberry.field(description="The pool shown on the feed card (null before the first pool).")
    async def main_pool(self, info: Info) -> Pool | None:
        rows = await info.context.loaders.pools_by_event_id.load(int(self.id))
        return next((Pool.from_row(row) for row in rows if row.id == self.row.main_pool_id), None)

    @strawberry.field(description="Traded volume over all the event's markets, in kopecks.")
    async def total_volume(self, info: Info) -> Long:
        loaders: Loaders = info.context.loaders
        pools = await loaders.pools_by_event_id.load(int(self.id))
        markets = await loaders.markets_by_pool_id.load_many([pool.id for pool in pools if pool.id is not None])
        return Long(sum(market.volume for rows in markets for market in rows))

    @strawberry.field(description="Whether the signed-in user watches this event; null when anonymous.")
    async def is_watched(self, info: Info) -> bool | None:
        if info.context.actor.user_id is None:
            return None
        return await info.context.loaders.watched_event_ids.load(int(self.id))

    @classmethod
    def from_row(cls, row: EventRow) -> Event:
        return cls(
            id=_id(row.id), creator_id=_id(row.creator_id), name=row.name, name_ru=row.name_ru, tags=list(row.tags),
            image_url=row.image_url, is_active=row.is_active, created_at=row.created_at, closed_at=row.closed_at,
            cancelled_at=row.cancelled_at, versus_names=list(row.versus_names),
            versus_images=list(row.versus_images), has_draw=row.has_draw,
            main_pool_id=_id(row.main_pool_id) if row.main_pool_id is not None else None,
            is_loop_event=row.is_loop_event, loop_interval_minutes=row.loop_interval_minutes,
            asset_symbol=row.asset_symbol, row=row,
        )


@strawberry.type
class EventEdge:
    cursor: str
    node: Event


@strawberry.type(description="A page of events, newest first.")
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: Page[EventRow], loaders: Loaders) -> EventConnection:
        loaders.prime_events(page.items)
        edges = [EventEdge(cursor=encode_cursor(row.id or 0), node=Event.from_row(row)) for row in page.items]
        end = edges[-1].cursor if edges else None
        return cls(edges=edges, page_info=PageInfo(has_next_page=page.has_more, end_cursor=end))


@strawberry.enum(description="A resolved side of a binary market.")
class WonSide(Enum):
    YES = "YES"
    NO = "NO"


@strawberry.input(description="A new event (hidden until setEventActive).")
class CreateEventInput:
    name: str
    name_ru: str = ""
    tags: list[str] | None = None
    versus_names: list[str] | None = None
    versus_images: list[str] | None = None
    has_draw: bool = False
    image_url: str | None = None
    polymarket_event_url: str | None = strawberry.field(default=None, description="For odds syncing.")
    loop_interval_minutes: int = strawberry.field(default=0, description="0 = one-off event.")
    asset_symbol: str | None = None

    def to_fields(self) -> EventFields:
        names = ("name", "name_ru", "tags", "versus_names", "versus_images", "has_draw", "image_url",
                 "polymarket_event_url", "loop_interval_minutes", "asset_symbol")
        return EventFields(**{name: getattr(self, name) for name in names})


@strawberry.input(description="A new pool; one market is created per market name, priced at its probability.")
class CreatePoolInput:
    name: str
    finish_at: datetime
    market_names: list[str] = strawberry.field(description="One outcome per name.")
    market_probabilities: list[float] = strawberry.field(
        description="Initial YES probabilities, each in (0, 1); several must sum to 1."
    )
    name_ru: str = ""
    live_at: datetime | None = strawberry.field(default=None, description="Defaults to now.")
    rules: str = ""
    rules_ru: str = ""
    margin: float = strawberry.field(default=0.0, description="Fraction, 0.02 = 2 %.")
    lmsr_b_kopecks: Long | None = strawberry.field(default=None, description="LMSR liquidity; default 1000000.")
    market_type: str = "lmsr"
    metadata: JSON | None = strawberry.field(
        default=None, description="Extra metadata keys (volume_min_kopecks, asset_symbol, ...)."
    )

    def to_fields(self) -> PoolFields:
        if self.metadata is not None and not isinstance(self.metadata, dict):
            raise InvalidInput("metadata must be an object", code="invalid_body")
        extra: dict[str, Any] | None = self.metadata
        return PoolFields(
            name=self.name, finish_at=self.finish_at, market_names=self.market_names,
            market_probabilities=self.market_probabilities, name_ru=self.name_ru, live_at=self.live_at,
            rules=self.rules, rules_ru=self.rules_ru, margin=self.margin, lmsr_b_kopecks=self.lmsr_b_kopecks,
            market_type=self.market_type, extra_metadata=extra,
        )


@strawberry.input(description="An event with its pools, created in one transaction.")
class CreateEventFullInput(CreateEventInput):
    pools: list[CreatePoolInput]
    main_pool_index: int | None = strawberry.field(default=None, description="0-based index into pools.")


@strawberry.input(description="Event changes; omitted or null fields stay as they are (send [] to clear a list).")
class UpdateEventInput:
    name: str | None = strawberry.UNSET
    name_ru: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    versus_names: list[str] | None = strawberry.UNSET
    versus_images: list[str] | None = strawberry.UNSET
    has_draw: bool | None = strawberry.UNSET
    main_pool_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="A pool of this event.")


@strawberry.input(description="The verdict for one pool: wonSide (single-market pool) or outcome (0-based).")
class PoolVerdictInput:
    pool_id: strawberry.ID
    won_side: WonSide | None = None
    outcome: int | None = None


@strawberry.input(description="The side that won in one market.")
class MarketVerdictInput:
    market_id: strawberry.ID
    won_side: WonSide
