"""GraphQL types of a user's history and of discovery: myTrades, leaderboard, portfolioHistory,
event suggestions. Money is ``Long`` kopecks; prices basis points."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from predictql.models import Event as EventRow
from predictql.models import EventSuggestion as SuggestionRow
from predictql.models import Market as MarketRow
from predictql.models import Trade as TradeRow
from predictql.schema.context import Info
from predictql.schema.ids import Kind, decode, encode
from predictql.schema.loaders import Loaders
from predictql.schema.markets import Event, EventConnection, EventEdge, Market
from predictql.schema.pagination import PageInfo
from predictql.schema.scalars import Long
from predictql.services import discovery, history
from predictql.services.cursors import encode_cursor
from predictql.services.leaderboard import Entry


@strawberry.enum(description="How far back a leaderboard or a portfolio chart looks.")
class Period(Enum):
    DAY = strawberry.enum_value("DAY", description="The last 24 hours (portfolio: one point per hour).")
    WEEK = strawberry.enum_value("WEEK", description="The last 7 days (portfolio: one point per 6 hours).")
    MONTH = strawberry.enum_value("MONTH", description="The last 30 days (portfolio: one point per day).")
    ALL = strawberry.enum_value("ALL", description="All time (portfolio: the last 365 days, one point per week).")


@strawberry.enum(description="What a leaderboard ranks by.")
class LeaderboardOrder(Enum):
    PNL = strawberry.enum_value("PNL", description="Realized PnL of positions closed in the period.")
    VOLUME = strawberry.enum_value("VOLUME", description="Kopecks traded in the period.")


@strawberry.type(description="One of the caller's executions: an LMSR trade or an order-book fill.")
class MyTrade:
    id: strawberry.ID = strawberry.field(description="The trade's global id (trd_...).")
    source: str = strawberry.field(description='"lmsr" (market maker) or "orderbook" (a fill).')
    side: str = strawberry.field(description='"buy" or "sell".')
    token: str = strawberry.field(description='"YES" or "NO".')
    shares: Long = strawberry.field(description="Units bought or sold.")
    price: int = strawberry.field(description="Execution price of the token, basis points.")
    amount: Long = strawberry.field(description="Value at the execution price, kopecks (fee excluded).")
    fee: Long = strawberry.field(description="Fee charged, kopecks.")
    created_at: datetime = strawberry.field(description="When it executed.")
    market_id: strawberry.Private[int]

    @strawberry.field(description="The market traded.")
    async def market(self, info: Info) -> Market | None:
        row = await info.context.loaders.market_by_id.load(self.market_id)
        return Market.from_row(row) if row is not None else None

    @classmethod
    def from_row(cls, row: TradeRow) -> MyTrade:
        return cls(
            id=strawberry.ID(encode(Kind.TRADE, row.id or 0)), source=row.kind, side=row.side, token=row.token,
            shares=Long(row.shares), price=row.price, amount=Long(row.amount), fee=Long(row.fee),
            created_at=row.created_at, market_id=row.market_id,
        )


@strawberry.type(description="A trade and the cursor that points at it.")
class MyTradeEdge:
    cursor: str = strawberry.field(description="Pass as `after` (older trades) or `before` (newer ones).")
    node: MyTrade = strawberry.field(description="The trade.")


@strawberry.type(description="Where a page starts and ends, and whether more rows follow either way.")
class TwoWayPageInfo(PageInfo):
    has_previous_page: bool = strawberry.field(
        description="Rows precede this page (newer trades; earlier ranks of a ranking)."
    )
    start_cursor: str | None = strawberry.field(description="The first row's cursor (myTrades: pass as `before`).")


@strawberry.type(description="A page of the caller's trades, newest first.")
class MyTradeConnection:
    edges: list[MyTradeEdge] = strawberry.field(description="The trades with their cursors.")
    page_info: TwoWayPageInfo = strawberry.field(description="Cursors and whether more follow.")
    market_id: strawberry.Private[int | None]

    @strawberry.field(description="The trades on this page.")
    def nodes(self) -> list[MyTrade]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many trades match, over all pages (one count query when asked).")
    async def total_count(self, info: Info) -> int:
        async with info.context.db.session() as session:
            return await history.count_trades(session, info.context.actor, market_id=self.market_id)

    @classmethod
    def from_page(cls, page: history.TradePage, market_id: int | None) -> MyTradeConnection:
        edges = [MyTradeEdge(cursor=encode_cursor(row.id or 0), node=MyTrade.from_row(row)) for row in page.items]
        info = TwoWayPageInfo(
            has_next_page=page.has_next, has_previous_page=page.has_previous,
            start_cursor=edges[0].cursor if edges else None, end_cursor=edges[-1].cursor if edges else None,
        )
        return cls(edges=edges, page_info=info, market_id=market_id)


@strawberry.type(description="A user's place on the leaderboard (users with a hidden profile are left out).")
class LeaderboardEntry:
    rank: int = strawberry.field(description="1 for the first place.")
    user_id: strawberry.ID = strawberry.field(description="The user's global id (usr_...).")
    name: str = strawberry.field(description="Nickname, or name.")
    avatar_url: str | None = strawberry.field(description="The user's avatar, when set.")
    value: Long = strawberry.field(description="Kopecks: realized PnL (by PNL) or traded volume (by VOLUME).")
    count: int = strawberry.field(description="Positions closed (by PNL) or trades made (by VOLUME) in the period.")

    @classmethod
    def from_entry(cls, entry: Entry) -> LeaderboardEntry:
        return cls(rank=entry.rank, user_id=strawberry.ID(encode(Kind.USER, entry.user_id)), name=entry.name,
                   avatar_url=entry.avatar_url, value=Long(entry.value), count=entry.count)


@strawberry.type(description="The caller's portfolio at one moment: balance plus holdings at their price then.")
class PortfolioPoint:
    timestamp: datetime = strawberry.field(description="The moment (the last point is now).")
    cash: Long = strawberry.field(description="Cash plus bonus balance, kopecks.")
    positions: Long = strawberry.field(description="Units held times the token's last price by then, kopecks.")
    value: Long = strawberry.field(description="cash + positions, kopecks.")

    @classmethod
    def from_point(cls, point: history.PortfolioPoint) -> PortfolioPoint:
        return cls(timestamp=point.timestamp, cash=Long(point.cash), positions=Long(point.positions),
                   value=Long(point.value))


@strawberry.type(description="An event idea sent to the creators.")
class EventSuggestion:
    id: strawberry.ID = strawberry.field(description="The suggestion's id.")
    name: str = strawberry.field(description="The proposed event.")
    description: str = strawberry.field(description="Details, as sent.")
    tags: list[str] = strawberry.field(description="Tags, as sent.")
    created_at: datetime = strawberry.field(description="When it was sent.")

    @classmethod
    def from_row(cls, row: SuggestionRow) -> EventSuggestion:
        tags = [tag for tag in row.tags.split(",") if tag]
        return cls(id=strawberry.ID(str(row.id)), name=row.name, description=row.description, tags=tags,
                   created_at=row.created_at)


@strawberry.input(description="An event idea: a name, and optionally details and tags.")
class SuggestEventInput:
    name: str = strawberry.field(description="The proposed event (1-300 characters).")
    description: str = strawberry.field(default="", description="Details (at most 5000 characters).")
    tags: list[str] = strawberry.field(default_factory=list, description="Tags.")



@strawberry.enum(description="How events are sorted.")
class EventOrder(Enum):
    NEWEST = strawberry.enum_value("NEWEST", description="Newest first (keyset cursors).")
    VOLUME = strawberry.enum_value("VOLUME", description="Most kopecks traded over all the event's markets first.")
    CLOSING_SOON = strawberry.enum_value(
        "CLOSING_SOON", description="Soonest pool finish first; only events with a pool still to finish."
    )
    TRENDING = strawberry.enum_value("TRENDING", description="Most kopecks traded in the last 24 hours first.")


@strawberry.enum(description="How markets are sorted.")
class MarketOrder(Enum):
    NEWEST = strawberry.enum_value("NEWEST", description="Newest first.")
    VOLUME = strawberry.enum_value("VOLUME", description="Most kopecks traded first.")
    CLOSING_SOON = strawberry.enum_value(
        "CLOSING_SOON", description="Soonest pool finish first; only markets whose pool is still to finish."
    )
    TRENDING = strawberry.enum_value("TRENDING", description="Most kopecks traded in the last 24 hours first.")


@strawberry.input(description="Which markets to list; every given condition must hold.")
class MarketFilter:
    event_id: strawberry.ID | None = strawberry.field(default=None, description="Only this event's (evt_...).")
    pool_id: strawberry.ID | None = strawberry.field(default=None, description="Only this pool's (pool_...).")
    market_type: str | None = strawberry.field(default=None, description='"lmsr" or "orderbook".')
    resolved: bool | None = strawberry.field(default=None, description="Only resolved (true) or open (false) ones.")
    search: str | None = strawberry.field(
        default=None, description="Text in the market's or its event's name (case-insensitive, at most 200)."
    )

    def to_filter(self) -> discovery.MarketFilter:
        event_id = decode(Kind.EVENT, self.event_id) if self.event_id is not None else None
        pool_id = decode(Kind.POOL, self.pool_id) if self.pool_id is not None else None
        return discovery.MarketFilter(event_id=event_id, pool_id=pool_id, market_type=self.market_type,
                                      resolved=self.resolved, search=self.search)


@strawberry.type(description="A market and the cursor that points at it.")
class MarketEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this market.")
    node: Market = strawberry.field(description="The market.")


@strawberry.type(description="A page of markets in the requested order.")
class MarketConnection:
    edges: list[MarketEdge] = strawberry.field(description="The markets with their cursors.")
    page_info: TwoWayPageInfo = strawberry.field(description="Cursors and whether more follow.")

    @strawberry.field(description="The markets on this page.")
    def nodes(self) -> list[Market]:
        return [edge.node for edge in self.edges]

    @classmethod
    def from_ranked(cls, page: discovery.Ranked[MarketRow]) -> MarketConnection:
        pairs = zip(page.items, page.cursors, strict=True)
        edges = [MarketEdge(cursor=cursor, node=Market.from_row(row)) for row, cursor in pairs]
        info = TwoWayPageInfo(
            has_next_page=page.has_more, has_previous_page=page.has_previous,
            start_cursor=edges[0].cursor if edges else None, end_cursor=edges[-1].cursor if edges else None,
        )
        return cls(edges=edges, page_info=info)


def event_connection(page: discovery.Ranked[EventRow], loaders: Loaders) -> EventConnection:
    """The events connection of a ranked page (its cursors are positions unless ordered NEWEST)."""
    loaders.prime_events(page.items)
    pairs = zip(page.items, page.cursors, strict=True)
    edges = [EventEdge(cursor=cursor, node=Event.from_row(row)) for row, cursor in pairs]
    end = edges[-1].cursor if edges else None
    return EventConnection(edges=edges, page_info=PageInfo(has_next_page=page.has_more, end_cursor=end))
