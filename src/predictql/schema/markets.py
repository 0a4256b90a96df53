"""GraphQL types for events, pools and markets. Nested fields load through the request's DataLoaders."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types.nodes import SelectedField, Selection

from predictql.errors import InvalidInput
from predictql.models import Event as EventRow
from predictql.models import Market as MarketRow
from predictql.models import Pool as PoolRow
from predictql.schema import history
from predictql.schema.context import Info
from predictql.schema.enums import CommentOrder, EventStatus, MarketType, Outcome, opt
from predictql.schema.ids import Kind
from predictql.schema.loaders import Loaders, then
from predictql.schema.node import Node, gid, opt_gid
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.schema.payloads import MutationPayload
from predictql.schema.row_fields import Fields, RowFields
from predictql.schema.scalars import Long, Price
from predictql.services.cursors import Page
from predictql.services.events import EventFields, event_status
from predictql.services.order_lifecycle import MAX_DEPTH
from predictql.services.pools import PoolFields
from predictql.services.prices import market_price

if TYPE_CHECKING:
    from predictql.schema.comments import Comment
    from predictql.schema.orders import OrderBook
    from predictql.schema.trading import Trade
    from predictql.schema.users import User


@strawberry.type(description="One outcome of a pool, traded as a binary YES/NO market.")
class Market(Node, RowFields):
    id: strawberry.ID = strawberry.field(description="The market's global id (mkt_...).")
    pool_id: strawberry.ID = strawberry.field(description="The global id (pool_...) of the pool it belongs to.")
    event_id: strawberry.ID = strawberry.field(description="The global id (evt_...) of the event it belongs to.")
    name: str = strawberry.field(description="The outcome's name (English).")
    name_ru: str = strawberry.field(description="The outcome's name in Russian (empty when not given).")
    outcome_index: int = strawberry.field(description="0-based position of this outcome in its pool.")
    market_type: MarketType = strawberry.field(description="LMSR (automated market maker) or ORDERBOOK.")
    yes_probability: float = strawberry.field(
        description="YES price as a probability (1 or 0 once resolved).",
        deprecation_reason="Use yesPrice (Price, basis points): the schema's one price type.",
    )
    no_probability: float = strawberry.field(
        description="1 - yesProbability.", deprecation_reason="Use noPrice (Price, basis points)."
    )
    yes_price: Price = strawberry.field(description="YES price (0..10000; 10000 or 0 once resolved).")
    no_price: Price = strawberry.field(description="NO price; yesPrice + noPrice = 10000.")
    b: Long = strawberry.field(description="LMSR liquidity as the pool page shows it: liquidityKopecks / 100.")
    liquidity_kopecks: Long = strawberry.field(description="LMSR liquidity parameter in kopecks (share units).")
    q_yes: Long = strawberry.field(description="YES share units the market maker has sold.")
    q_no: Long = strawberry.field(description="NO share units the market maker has sold.")
    volume: Long = strawberry.field(description="Traded volume in kopecks.")
    paused: bool = strawberry.field(description="Trading is suspended.")
    resolved: bool = strawberry.field(description="The market has been settled; winningOutcome says which side won.")
    winning_outcome: Outcome | None = strawberry.field(description="The side that won once resolved; null before.")
    yes_name: str = strawberry.field(description='Label of the YES side (default "Yes").')
    no_name: str = strawberry.field(description='Label of the NO side (default "No").')
    resolved_at: datetime | None = strawberry.field(
        description="When the market was settled (RFC 3339, UTC); null before."
    )
    row: strawberry.Private[MarketRow]
    price_history: list[history.Candle] = strawberry.field(
        resolver=history.market_price_history, description=history.PRICE_HISTORY_DESCRIPTION
    )
    price_series: list[history.PricePoint] = strawberry.field(
        resolver=history.market_price_series, description=history.PRICE_SERIES_DESCRIPTION
    )

    @strawberry.field(description="The pool this market belongs to.")
    def pool(self, info: Info) -> Pool:
        return then(info.context.loaders.pool_by_id.load(self.row.pool_id), _pool)

    @strawberry.field(description="The event this market belongs to.")
    async def event(self, info: Info) -> Event:
        row = await info.context.loaders.event_by_id.load(self.row.event_id)
        assert row is not None
        return Event.from_row(row)

    @strawberry.field(
        description=f"The market's trades (LMSR trades and order-book fills), newest first; pages of {BOUNDS}."
    )
    async def trades(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Annotated[Trade, strawberry.lazy("predictql.schema.trading")]]:
        from predictql.schema.trading import Trade

        args = page_args(info, first, after, last, before)
        page = await info.context.loaders.trades_by_market_id.load((self.row.id or 0, args))
        return connection(page, Trade.from_row, lambda row: row.id)

    @strawberry.field(
        description="Resting orders by price level, best first (empty for an LMSR market); "
        "the same book as the orderbook query."
    )
    async def orderbook(
        self,
        info: Info,
        depth: Annotated[int, strawberry.argument(description=f"Levels per side, 1-{MAX_DEPTH}.")] = 50,
        token_type: Annotated[
            Outcome, strawberry.argument(description="YES (default), or NO for NO prices.")
        ] = Outcome.YES,
    ) -> Annotated[OrderBook, strawberry.lazy("predictql.schema.orders")]:
        from predictql.schema.orders import OrderBook

        book = await info.context.loaders.book_by_market_id.load((self.row.id or 0, depth))
        return OrderBook.from_snapshot(book.flipped() if token_type is Outcome.NO else book)

    FIELDS: ClassVar[Fields] = {
        "id": lambda row: gid(Kind.MARKET, row.id),
        "pool_id": lambda row: gid(Kind.POOL, row.pool_id),
        "event_id": lambda row: gid(Kind.EVENT, row.event_id),
        "name": lambda row: row.name,
        "name_ru": lambda row: row.name_ru,
        "outcome_index": lambda row: row.outcome_index,
        "market_type": lambda row: MarketType(row.market_type),
        "yes_probability": lambda row: market_price(row).yes_probability,
        "no_probability": lambda row: 1.0 - market_price(row).yes_probability,
        "yes_price": lambda row: Price(market_price(row).yes),
        "no_price": lambda row: Price(market_price(row).no),
        "b": lambda row: Long(row.lmsr_b // 100),
        "liquidity_kopecks": lambda row: Long(row.lmsr_b),
        "q_yes": lambda row: Long(row.q_yes),
        "q_no": lambda row: Long(row.q_no),
        "volume": lambda row: Long(row.volume),
        "paused": lambda row: row.paused,
        "resolved": lambda row: row.resolved,
        "winning_outcome": lambda row: opt(Outcome, row.winning_outcome),
        "yes_name": lambda row: row.yes_name,
        "no_name": lambda row: row.no_name,
        "resolved_at": lambda row: row.resolved_at,
    }


@strawberry.type(description="A group of outcomes of one event; one market per outcome.")
class Pool(Node, RowFields):
    id: strawberry.ID = strawberry.field(description="The pool's global id (pool_...).")
    event_id: strawberry.ID = strawberry.field(description="The global id (evt_...) of the event this pool belongs to.")
    name: str = strawberry.field(description="The pool's question (English).")
    name_ru: str = strawberry.field(description="The pool's question in Russian (empty when not given).")
    rules: str = strawberry.field(description="How the pool is resolved.")
    rules_ru: str = strawberry.field(description="How the pool is resolved, in Russian.")
    margin: float = strawberry.field(description="Creator margin as a fraction (0.02 = 2 %).")
    live_at: datetime = strawberry.field(description="Trading opens; the event counts as started from here.")
    finish_at: datetime = strawberry.field(description="Trading closes.")
    won_side: int | None = strawberry.field(
        description="Null until closed; the winning outcome index (0 = YES for a single-market pool, 1 = NO)."
    )
    created_at: datetime = strawberry.field(description="When the pool was created (RFC 3339, UTC).")
    closed_at: datetime | None = strawberry.field(
        description="When the pool was resolved (RFC 3339, UTC); null while open."
    )
    metadata: JSON = strawberry.field(
        description="Settings: market_names, market_probabilities (initial), lmsr_b_kopecks, market_type, extra keys."
    )
    row: strawberry.Private[PoolRow]
    chart: list[history.PoolChartPoint] = strawberry.field(
        resolver=history.pool_chart, description=history.POOL_CHART_DESCRIPTION
    )

    @strawberry.field(description="The pool's markets, by outcome index.")
    def markets(self, info: Info) -> list[Market]:
        return then(info.context.loaders.markets_by_pool_id.load(self.row.id or 0), _markets)

    @strawberry.field(description="The event this pool belongs to.")
    async def event(self, info: Info) -> Event:
        row = await info.context.loaders.event_by_id.load(self.row.event_id)
        assert row is not None
        return Event.from_row(row)

    FIELDS: ClassVar[Fields] = {
        "id": lambda row: gid(Kind.POOL, row.id),
        "event_id": lambda row: gid(Kind.EVENT, row.event_id),
        "name": lambda row: row.name,
        "name_ru": lambda row: row.name_ru,
        "rules": lambda row: row.rules,
        "rules_ru": lambda row: row.rules_ru,
        "margin": lambda row: row.margin,
        "live_at": lambda row: row.live_at,
        "finish_at": lambda row: row.finish_at,
        "won_side": lambda row: row.won_side,
        "created_at": lambda row: row.created_at,
        "closed_at": lambda row: row.closed_at,
        "metadata": lambda row: JSON(row.meta),
    }


@strawberry.type(description="An event: a question or match with one or more pools of outcomes.")
class Event(Node, RowFields):
    id: strawberry.ID = strawberry.field(description="The event's global id (evt_...).")
    creator_id: strawberry.ID = strawberry.field(
        description="The global id (usr_...) of the user who created it.", deprecation_reason="Use creator { id }."
    )
    name: str = strawberry.field(description="The event's title (English).")
    name_ru: str = strawberry.field(description="The event's title in Russian (empty when not given).")
    tags: list[str] = strawberry.field(description="Lower-case tags, in display order.")
    image_url: str | None = strawberry.field(description="Cover image URL; null when none.")
    is_active: bool = strawberry.field(description="False hides the event from everyone but its creator and admins.")
    created_at: datetime = strawberry.field(description="When the event was created (RFC 3339, UTC).")
    closed_at: datetime | None = strawberry.field(description="When the last pool was resolved.")
    cancelled_at: datetime | None = strawberry.field(description="When the event was cancelled (positions refunded).")
    versus_names: list[str] = strawberry.field(description="Up to three sides, for matches.")
    versus_images: list[str] = strawberry.field(description="Image URLs of the versusNames sides, in the same order.")
    has_draw: bool = strawberry.field(description="A match that can end in a draw (a third outcome).")
    main_pool_id: strawberry.ID | None = strawberry.field(
        description="The global id of the pool on the feed card.", deprecation_reason="Use mainPool { id }."
    )
    is_loop_event: bool = strawberry.field(description="A self-recreating event (crypto timeframes).")
    loop_interval_minutes: int = strawberry.field(description="0 for a one-off event.")
    asset_symbol: str | None = strawberry.field(description="For loop events on a crypto asset, e.g. BTC.")
    row: strawberry.Private[EventRow]

    @strawberry.field(description="The stage: NEW (no pool live yet), STARTED, PAID (all pools closed) or CANCELLED.")
    def status(self, info: Info) -> EventStatus:
        row = self.row
        return then(info.context.loaders.pools_by_event_id.load(self._row_id), lambda pools: _status(row, pools))

    @property
    def _row_id(self) -> int:
        assert self.row.id is not None
        return self.row.id

    @strawberry.field(description="The event's pools, oldest first.")
    def pools(self, info: Info) -> list[Pool]:
        return then(info.context.loaders.pools_by_event_id.load(self._row_id), _pools)

    @strawberry.field(description="The pool shown on the feed card (null before the first pool).")
    async def main_pool(self, info: Info) -> Pool | None:
        rows = await info.context.loaders.pools_by_event_id.load(self._row_id)
        return next((Pool.from_row(row) for row in rows if row.id == self.row.main_pool_id), None)

    @strawberry.field(description="Who created it (public profile); null when their profile is hidden from the caller.")
    async def creator(self, info: Info) -> Annotated[User, strawberry.lazy("predictql.schema.users")] | None:
        from predictql.schema.trading import public_user

        return await public_user(info, self.row.creator_id)

    @strawberry.field(description="Traded volume over all the event's markets, in kopecks.")
    async def total_volume(self, info: Info) -> Long:
        loaders: Loaders = info.context.loaders
        pools = await loaders.pools_by_event_id.load(self._row_id)
        markets = await loaders.markets_by_pool_id.load_many([pool.id for pool in pools if pool.id is not None])
        return Long(sum(market.volume for rows in markets for market in rows))

    @strawberry.field(description="Whether the signed-in user watches this event; null when anonymous.")
    async def is_watched(self, info: Info) -> bool | None:
        if info.context.actor.user_id is None:
            return None
        return await info.context.loaders.watched_event_ids.load(self._row_id)

    @strawberry.field(
        description=f"Comments on the event (top-level; each has its replies), newest or oldest first; {BOUNDS}."
    )
    async def comments(
        self,
        info: Info,
        order_by: Annotated[CommentOrder, strawberry.argument(description="NEWEST (default) or OLDEST first.")] = (
            CommentOrder.NEWEST
        ),
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Annotated[Comment, strawberry.lazy("predictql.schema.comments")]]:
        from predictql.schema.comments import event_comments

        return await event_comments(info, self._row_id, order_by, first, after, last, before)

    FIELDS: ClassVar[Fields] = {
        "id": lambda row: gid(Kind.EVENT, row.id),
        "creator_id": lambda row: gid(Kind.USER, row.creator_id),
        "name": lambda row: row.name,
        "name_ru": lambda row: row.name_ru,
        "tags": lambda row: list(row.tags),
        "image_url": lambda row: row.image_url,
        "is_active": lambda row: row.is_active,
        "created_at": lambda row: row.created_at,
        "closed_at": lambda row: row.closed_at,
        "cancelled_at": lambda row: row.cancelled_at,
        "versus_names": lambda row: list(row.versus_names),
        "versus_images": lambda row: list(row.versus_images),
        "has_draw": lambda row: row.has_draw,
        "main_pool_id": lambda row: opt_gid(Kind.POOL, row.main_pool_id),
        "is_loop_event": lambda row: row.is_loop_event,
        "loop_interval_minutes": lambda row: row.loop_interval_minutes,
        "asset_symbol": lambda row: row.asset_symbol,
    }


# Rows from the request's loaders: read, never changed afterwards (``RowFields.lazy``).
def _pool(row: PoolRow | None) -> Pool:
    assert row is not None
    return Pool.lazy(row)


def _pools(rows: list[PoolRow]) -> list[Pool]:
    return [Pool.lazy(row) for row in rows]


def _markets(rows: list[MarketRow]) -> list[Market]:
    return [Market.lazy(row) for row in rows]


def _status(row: EventRow, pools: list[PoolRow]) -> EventStatus:
    return EventStatus(event_status(row, pools))


def event_connection(page: Page[EventRow], loaders: Loaders) -> Connection[Event]:
    """A page of events; nested ``event`` fields of the page's rows need no query."""
    loaders.prime_events(page.items)
    return connection(page, Event.lazy, lambda row: row.id)


# What an event's fields read from its pools, and from its pools' markets (``prefetch_feed``).
_NEEDS_POOLS = (("status",), ("pools",), ("mainPool",), ("totalVolume",))
_NEEDS_MARKETS = (("pools", "markets"), ("mainPool", "markets"), ("totalVolume",))


async def prefetch_feed(info: Info, session: AsyncSession, rows: Sequence[EventRow]) -> None:
    """Load the pools and markets a page of events will ask for, before its fields run.

    The same two statements the nested fields' loaders would have batched, only earlier and in
    ``session``, the read session of the page itself (``Loaders.load_feed``): each event's
    ``status`` and ``pools`` and each pool's ``markets`` then find their rows in the loaders and
    complete synchronously (``then``), without a coroutine or a task per object. Only what the
    selection asks for (through fragments) is loaded.
    """
    connection = [child for field in _fields(info.selected_fields) for child in field.selections]  # this field's
    nodes = [child for field in _fields_at(connection, ("edges", "node")) for child in field.selections]
    if not rows or not any(_fields_at(nodes, path) for path in _NEEDS_POOLS):
        return
    loaders: Loaders = info.context.loaders
    markets = any(_fields_at(nodes, path) for path in _NEEDS_MARKETS)
    await loaders.load_feed(session, [row.id for row in rows if row.id is not None], markets=markets)


def _fields_at(selections: Sequence[Selection], path: Sequence[str]) -> list[SelectedField]:
    """The fields selected at ``path`` (GraphQL names) below ``selections``, through fragments."""
    found: list[SelectedField] = []
    level = list(selections)
    for name in path:
        found = [field for field in _fields(level) if field.name == name]
        level = [child for field in found for child in field.selections]
    return found


def _fields(selections: Sequence[Selection]) -> Iterator[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:  # a fragment spread or an inline fragment
            yield from _fields(selection.selections)


@strawberry.input(description="A new event (hidden until setEventActive).")
class CreateEventInput:
    name: str = strawberry.field(description="The title (English), 1-300 characters.")
    name_ru: str = strawberry.field(default="", description="The title in Russian; empty when not given.")
    tags: list[str] | None = strawberry.field(
        default=None, description="Tags for the feed filter (at most 20, each 1-100 characters); null for none."
    )
    versus_names: list[str] | None = strawberry.field(
        default=None, description="Up to three sides, for matches; null for none."
    )
    versus_images: list[str] | None = strawberry.field(
        default=None, description="Image URLs of the versusNames sides, same order; null for none."
    )
    has_draw: bool = strawberry.field(default=False, description="A match that can end in a draw.")
    image_url: str | None = strawberry.field(default=None, description="Cover image URL; null for none.")
    polymarket_event_url: str | None = strawberry.field(default=None, description="For odds syncing.")
    loop_interval_minutes: int = strawberry.field(default=0, description="0 = one-off event.")
    asset_symbol: str | None = strawberry.field(
        default=None, description="For loop events on a crypto asset, e.g. BTC; null otherwise."
    )

    def to_fields(self) -> EventFields:
        names = (
            "name",
            "name_ru",
            "tags",
            "versus_names",
            "versus_images",
            "has_draw",
            "image_url",
            "polymarket_event_url",
            "loop_interval_minutes",
            "asset_symbol",
        )
        return EventFields(**{name: getattr(self, name) for name in names})


@strawberry.input(description="A new pool; one market is created per market name, priced at its probability.")
class PoolSpecInput:
    name: str = strawberry.field(description="The pool's question (English), 1-300 characters.")
    finish_at: datetime = strawberry.field(description="When trading closes (RFC 3339, in the future).")
    market_names: list[str] = strawberry.field(description="One outcome per name.")
    market_prices: list[Price] = strawberry.field(
        description="Initial YES prices, one per market name, each 1..9999; several must sum to 10000 "
        "(INVALID_PROBABILITIES otherwise)."
    )
    name_ru: str = strawberry.field(default="", description="The question in Russian; empty when not given.")
    live_at: datetime | None = strawberry.field(default=None, description="Defaults to now.")
    rules: str = strawberry.field(default="", description="How the pool is resolved (English).")
    rules_ru: str = strawberry.field(default="", description="How the pool is resolved, in Russian.")
    margin: float = strawberry.field(default=0.0, description="Fraction, 0.02 = 2 %.")
    lmsr_b_kopecks: Long | None = strawberry.field(default=None, description="LMSR liquidity; default 1000000.")
    market_type: MarketType = strawberry.field(
        default=MarketType.LMSR, description="The mechanism: LMSR (automated market maker, the default) or ORDERBOOK."
    )
    metadata: JSON | None = strawberry.field(
        default=None, description="Extra metadata keys (volume_min_kopecks, asset_symbol, ...)."
    )

    def to_fields(self) -> PoolFields:
        if self.metadata is not None and not isinstance(self.metadata, dict):
            raise InvalidInput("metadata must be an object", code="invalid_body")
        extra: dict[str, Any] | None = self.metadata
        return PoolFields(
            name=self.name,
            finish_at=self.finish_at,
            market_names=self.market_names,
            market_probabilities=[price / 10000 for price in self.market_prices],
            name_ru=self.name_ru,
            live_at=self.live_at,
            rules=self.rules,
            rules_ru=self.rules_ru,
            margin=self.margin,
            lmsr_b_kopecks=self.lmsr_b_kopecks,
            market_type=self.market_type.value,
            extra_metadata=extra,
        )


@strawberry.input(description="An event with its pools, created in one transaction.")
class CreateEventFullInput(CreateEventInput):
    pools: list[PoolSpecInput] = strawberry.field(description="The event's pools, at least one, in display order.")
    main_pool_index: int | None = strawberry.field(default=None, description="0-based index into pools.")


@strawberry.input(description="A new pool of an existing event.")
class CreatePoolInput(PoolSpecInput):
    event_id: strawberry.ID = strawberry.field(description="The event the pool is added to.")


@strawberry.input(description="Event changes; omitted or null fields stay as they are (send [] to clear a list).")
class UpdateEventInput:
    id: strawberry.ID = strawberry.field(description="The event to change.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="The new title (English).")
    name_ru: str | None = strawberry.field(default=strawberry.UNSET, description="The new title in Russian.")
    tags: list[str] | None = strawberry.field(default=strawberry.UNSET, description="The new tags ([] clears them).")
    versus_names: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="The new sides, for matches ([] clears them)."
    )
    versus_images: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Image URLs of the sides, same order ([] clears them)."
    )
    has_draw: bool | None = strawberry.field(default=strawberry.UNSET, description="A match that can end in a draw.")
    main_pool_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="A pool of this event.")


@strawberry.input(description="The verdict for one pool: wonSide (single-market pool) or outcome (0-based).")
class PoolVerdictInput:
    pool_id: strawberry.ID = strawberry.field(description="The pool to resolve (pool_...).")
    won_side: Outcome | None = strawberry.field(
        default=None, description="For a pool of one or two markets: YES (first outcome) or NO (second)."
    )
    outcome: int | None = strawberry.field(
        default=None, description="The winning outcome's 0-based index (instead of wonSide)."
    )


@strawberry.input(description="The side that won in one market.")
class MarketVerdictInput:
    market_id: strawberry.ID = strawberry.field(description="A market of the pool (mkt_...).")
    won_side: Outcome = strawberry.field(description="The side that won.")


@strawberry.input(description="Show or hide an event in the public feed.")
class SetEventActiveInput:
    id: strawberry.ID = strawberry.field(description="The event.")
    is_active: bool = strawberry.field(description="true shows it, false hides it.")


@strawberry.input(description="New target prices for a pool's markets.")
class SetPoolProbabilitiesInput:
    event_id: strawberry.ID = strawberry.field(description="The pool's event.")
    pool_id: strawberry.ID = strawberry.field(description="The pool.")
    prices: list[Price] = strawberry.field(
        description="One YES price per market, in market order, each 1..9999, summing to 10000 (INVALID_PROBABILITIES "
        "otherwise)."
    )

    def probabilities(self) -> list[float]:
        """As the service (and REST) take them: fractions of 1."""
        return [price / 10000 for price in self.prices]


@strawberry.input(description="How an event resolves: wonSide or outcome (one pool), or pools[] (several).")
class CloseEventInput:
    id: strawberry.ID = strawberry.field(description="The event.")
    won_side: Outcome | None = strawberry.field(default=None, description="The winning side (one binary pool).")
    outcome: int | None = strawberry.field(default=None, description="The winning outcome, 0-based (one pool).")
    pools: list[PoolVerdictInput] | None = strawberry.field(default=None, description="One verdict per pool.")


@strawberry.input(description="How a pool resolves: wonSide, outcome, or markets[].")
class ClosePoolInput:
    event_id: strawberry.ID = strawberry.field(description="The pool's event.")
    pool_id: strawberry.ID = strawberry.field(description="The pool.")
    won_side: Outcome | None = strawberry.field(
        default=None, description="One or two outcomes: YES = first, NO = second."
    )
    outcome: int | None = strawberry.field(default=None, description="The winning outcome, 0-based.")
    markets: list[MarketVerdictInput] | None = strawberry.field(default=None, description="One verdict per market.")


@strawberry.input(description="How a market resolves: wonSide, or outcome 0 (YES) / 1 (NO).")
class CloseMarketInput:
    event_id: strawberry.ID = strawberry.field(description="The market's event.")
    pool_id: strawberry.ID = strawberry.field(description="The market's pool.")
    market_id: strawberry.ID = strawberry.field(description="The market.")
    won_side: Outcome | None = strawberry.field(default=None, description="The winning side.")
    outcome: int | None = strawberry.field(default=None, description="0 (YES) or 1 (NO).")


@strawberry.input(description="The event to cancel.")
class CancelEventInput:
    id: strawberry.ID = strawberry.field(description="The event; its open positions are refunded.")


@strawberry.type(description="A mutation's changed event.")
class EventPayload(MutationPayload):
    event: Event | None = strawberry.field(default=None, description="The event as it now is.")


@strawberry.type(description="What createEvent changed.")
class CreateEventPayload(EventPayload):
    pass


@strawberry.type(description="What createEventFull changed.")
class CreateEventFullPayload(EventPayload):
    pass


@strawberry.type(description="What updateEvent changed.")
class UpdateEventPayload(EventPayload):
    pass


@strawberry.type(description="What setEventActive changed.")
class SetEventActivePayload(EventPayload):
    pass


@strawberry.type(description="What closeEvent changed.")
class CloseEventPayload(EventPayload):
    pass


@strawberry.type(description="What cancelEvent changed.")
class CancelEventPayload(EventPayload):
    pass


@strawberry.type(description="What createPool changed.")
class CreatePoolPayload(MutationPayload):
    pool: Pool | None = strawberry.field(default=None, description="The new pool.")


@strawberry.type(description="What closePool changed.")
class ClosePoolPayload(MutationPayload):
    pool: Pool | None = strawberry.field(default=None, description="The pool as it now is.")


@strawberry.type(description="What setPoolProbabilities changed.")
class SetPoolProbabilitiesPayload(MutationPayload):
    markets: list[Market] | None = strawberry.field(default=None, description="The pool's markets at their new prices.")


@strawberry.type(description="What closeMarket changed.")
class CloseMarketPayload(MutationPayload):
    market: Market | None = strawberry.field(default=None, description="The market as it now is.")
