"""GraphQL types of a user's history and of discovery: leaderboard, portfolioHistory, event
suggestions (``myTrades`` pages the one ``Trade`` type of ``schema/trading.py``). Money is ``Long``
kopecks; prices ``Price`` (basis points)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from predictql.models import EventSuggestion as SuggestionRow
from predictql.schema.context import Info
from predictql.schema.enums import MarketType
from predictql.schema.ids import Kind, decode, encode
from predictql.schema.markets import EventPayload
from predictql.schema.node import Node, gid
from predictql.schema.payloads import MutationPayload
from predictql.schema.scalars import Long
from predictql.schema.trading import public_user
from predictql.services import discovery, history
from predictql.services.leaderboard import Entry

if TYPE_CHECKING:
    from predictql.schema.users import User


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


@strawberry.type(description="A user's place on the leaderboard (users with a hidden profile are left out).")
class LeaderboardEntry:
    rank: int = strawberry.field(description="1 for the first place.")
    user_id: strawberry.ID = strawberry.field(
        description="The user's global id (usr_...).", deprecation_reason="Use user { id }."
    )
    name: str = strawberry.field(description="Nickname, or name.")
    avatar_url: str | None = strawberry.field(description="The user's avatar, when set.")
    value: Long = strawberry.field(description="Kopecks: realized PnL (by PNL) or traded volume (by VOLUME).")
    count: int = strawberry.field(description="Positions closed (by PNL) or trades made (by VOLUME) in the period.")

    @strawberry.field(description="The user (public profile; hidden profiles are not ranked).")
    async def user(self, info: Info) -> Annotated[User, strawberry.lazy("predictql.schema.users")] | None:
        return await public_user(info, decode(Kind.USER, self.user_id))

    @classmethod
    def from_entry(cls, entry: Entry) -> LeaderboardEntry:
        return cls(
            rank=entry.rank,
            user_id=strawberry.ID(encode(Kind.USER, entry.user_id)),
            name=entry.name,
            avatar_url=entry.avatar_url,
            value=Long(entry.value),
            count=entry.count,
        )


@strawberry.type(description="The caller's portfolio at one moment: balance plus holdings at their price then.")
class PortfolioPoint:
    timestamp: datetime = strawberry.field(description="The moment (the last point is now).")
    cash: Long = strawberry.field(description="Cash plus bonus balance, kopecks.")
    positions: Long = strawberry.field(description="Units held times the token's last price by then, kopecks.")
    value: Long = strawberry.field(description="Cash plus positions, kopecks.")

    @classmethod
    def from_point(cls, point: history.PortfolioPoint) -> PortfolioPoint:
        return cls(
            timestamp=point.timestamp, cash=Long(point.cash), positions=Long(point.positions), value=Long(point.value)
        )


@strawberry.type(description="An event idea sent to the creators; node(id) shows it to its author only.")
class EventSuggestion(Node):
    name: str = strawberry.field(description="The proposed event.")
    description: str = strawberry.field(description="Details, as sent.")
    tags: list[str] = strawberry.field(description="Tags, as sent.")
    created_at: datetime = strawberry.field(description="When it was sent.")

    @classmethod
    def from_row(cls, row: SuggestionRow) -> EventSuggestion:
        tags = [tag for tag in row.tags.split(",") if tag]
        return cls(
            id=gid(Kind.SUGGESTION, row.id),
            name=row.name,
            description=row.description,
            tags=tags,
            created_at=row.created_at,
        )


@strawberry.input(description="An event idea: a name, and optionally details and tags.")
class SuggestEventInput:
    name: str = strawberry.field(description="The proposed event (1-300 characters).")
    description: str = strawberry.field(default="", description="Details (at most 5000 characters).")
    tags: list[str] = strawberry.field(default_factory=list, description="Tags.")


@strawberry.type(description="What suggestEvent changed.")
class SuggestEventPayload(MutationPayload):
    suggestion: EventSuggestion | None = strawberry.field(default=None, description="The idea as stored.")


@strawberry.input(description="The event to watch.")
class WatchEventInput:
    event_id: strawberry.ID = strawberry.field(description="The event (evt_...).")


@strawberry.input(description="The event to stop watching.")
class UnwatchEventInput:
    event_id: strawberry.ID = strawberry.field(description="The event (evt_...).")


@strawberry.input(description="An event's new image.")
class SetEventImageInput:
    event_id: strawberry.ID = strawberry.field(description="The event (evt_...).")
    content_base64: str = strawberry.field(
        description="A JPEG, PNG or WebP file, base64 (standard alphabet, no whitespace)."
    )


@strawberry.input(description="The event whose image to remove.")
class RemoveEventImageInput:
    event_id: strawberry.ID = strawberry.field(description="The event (evt_...).")


@strawberry.type(description="What watchEvent changed.")
class WatchEventPayload(EventPayload):
    pass


@strawberry.type(description="What unwatchEvent changed.")
class UnwatchEventPayload(EventPayload):
    unwatched_event_id: strawberry.ID | None = strawberry.field(
        default=None, description="The event no longer watched (also when it was not watched)."
    )


@strawberry.type(description="What setEventImage changed.")
class SetEventImagePayload(EventPayload):
    pass


@strawberry.type(description="What removeEventImage changed.")
class RemoveEventImagePayload(EventPayload):
    pass


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
    market_type: MarketType | None = strawberry.field(default=None, description="LMSR or ORDERBOOK.")
    resolved: bool | None = strawberry.field(default=None, description="Only resolved (true) or open (false) ones.")
    search: str | None = strawberry.field(
        default=None, description="Text in the market's or its event's name (case-insensitive, at most 200)."
    )

    def to_filter(self) -> discovery.MarketFilter:
        event_id = decode(Kind.EVENT, self.event_id) if self.event_id is not None else None
        pool_id = decode(Kind.POOL, self.pool_id) if self.pool_id is not None else None
        market_type = self.market_type.value if self.market_type else None
        return discovery.MarketFilter(
            event_id=event_id, pool_id=pool_id, market_type=market_type, resolved=self.resolved, search=self.search
        )
