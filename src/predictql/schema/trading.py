"""GraphQL types of LMSR trading, positions, the trades feed, referrals and the PnL chart.

Money is ``Long`` kopecks and share amounts ``Long`` units; prices are basis points (0..10000).
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from predictql.pricing.lmsr import Quote
from predictql.schema.enums import Outcome, PositionStatus
from predictql.schema.ids import Kind
from predictql.schema.node import Node, gid
from predictql.schema.pagination import PageInfo
from predictql.schema.scalars import Long
from predictql.services.cursors import Page, encode_cursor
from predictql.services.lmsr_trading import CloseResult, FeedTrade, TradeResult, shares_delta
from predictql.services.pnl import PnlPoint as PnlPointRow
from predictql.services.positions import SIDE_RU, PositionView
from predictql.services.referrals import ReferralChild as ReferralChildRow
from predictql.services.referrals import ReferralInfo as ReferralInfoRow


@strawberry.type(description="A quote from the LMSR market maker; nothing is executed.")
class LmsrQuote:
    cost_or_payout_cents: Long = strawberry.field(
        description="Kopecks a buyer pays (fee included) or a seller receives (fee deducted)."
    )
    shares_delta: Long = strawberry.field(description="Change of the holding: positive on a buy, negative on a sell.")
    fee: Long = strawberry.field(description="The fee inside costOrPayoutCents, kopecks.")

    @classmethod
    def from_quote(cls, quote: Quote) -> LmsrQuote:
        return cls(
            cost_or_payout_cents=Long(quote.total),
            shares_delta=Long(shares_delta(quote.side.is_buy, quote.shares)),
            fee=Long(quote.fee),
        )


@strawberry.type(description="An executed LMSR trade and the caller's holdings in that market after it.")
class LmsrTradeResult:
    trade_id: strawberry.ID = strawberry.field(description="The trade's global id (trd_...).")
    market_id: strawberry.ID = strawberry.field(description="The market's global id (mkt_...).")
    cost_or_payout_cents: Long = strawberry.field(
        description="Kopecks paid (fee included) on a buy, received (fee deducted) on a sell."
    )
    shares_delta: Long = strawberry.field(description="Change of the holding: positive on a buy, negative on a sell.")
    fee: Long = strawberry.field(description="The fee charged on this trade, kopecks.")
    new_position_yes: Long = strawberry.field(description="YES units held after the trade.")
    new_position_no: Long = strawberry.field(description="NO units held after the trade.")

    @classmethod
    def from_result(cls, result: TradeResult) -> LmsrTradeResult:
        return cls(
            trade_id=gid(Kind.TRADE, result.trade_id),
            market_id=gid(Kind.MARKET, result.market.id),
            cost_or_payout_cents=Long(result.cost_or_payout),
            shares_delta=Long(result.shares_delta),
            fee=Long(result.fee),
            new_position_yes=Long(result.new_position_yes),
            new_position_no=Long(result.new_position_no),
        )


@strawberry.type(description="A whole holding sold back to the market maker.")
class ClosePositionResult:
    market_id: strawberry.ID = strawberry.field(description="The market's global id (mkt_...).")
    proceeds: Long = strawberry.field(description="Kopecks credited in total, fees deducted.")
    trades: list[LmsrTradeResult] = strawberry.field(description="One sell per token that was held.")

    @classmethod
    def from_result(cls, result: CloseResult) -> ClosePositionResult:
        trades = [LmsrTradeResult.from_result(r) for r in result.trades]
        return cls(market_id=gid(Kind.MARKET, result.market_id), proceeds=Long(result.proceeds), trades=trades)


@strawberry.type(description="An open position: units of one token of one market.")
class Position(Node):
    id: strawberry.ID
    market_id: strawberry.ID = strawberry.field(description="The market's global id (mkt_...).")
    event_id: strawberry.ID = strawberry.field(description="The event's global id (evt_...).")
    pool_id: strawberry.ID = strawberry.field(description="The pool's global id (pool_...).")
    event_name: str
    pool_name: str
    market_name: str
    token_type: Outcome = strawberry.field(description="The token held.")
    side_ru: str = strawberry.field(description="ДА or НЕТ.")
    amount: Long = strawberry.field(description="Units held (one unit pays 1 kopeck if its side wins).")
    avg_price: int = strawberry.field(description="Volume-weighted buy price, basis points; unchanged by sells.")
    use_bonus: bool
    created_at: datetime
    unrealized_pnl: Long = strawberry.field(description="(current price - avgPrice) x amount / 10000, kopecks.")
    status: PositionStatus = strawberry.field(description="OPEN while units are held, then CLOSED.")

    @classmethod
    def from_view(cls, view: PositionView) -> Position:
        p = view.position
        return cls(
            id=gid(Kind.POSITION, p.id), market_id=gid(Kind.MARKET, p.market_id), event_id=gid(Kind.EVENT, p.event_id),
            pool_id=gid(Kind.POOL, view.pool.id),
            event_name=view.event.name, pool_name=view.pool.name, market_name=view.market.name,
            token_type=Outcome(p.token), side_ru=SIDE_RU[p.token], amount=Long(p.amount), avg_price=p.avg_price,
            use_bonus=p.use_bonus, created_at=p.created_at, unrealized_pnl=Long(view.unrealized_pnl),
            status=PositionStatus(p.status),
        )


@strawberry.type(description="A closed position with its realized PnL.")
class ClosedPosition(Node):
    id: strawberry.ID
    market_id: strawberry.ID = strawberry.field(description="The market's global id (mkt_...).")
    event_id: strawberry.ID = strawberry.field(description="The event's global id (evt_...).")
    pool_id: strawberry.ID = strawberry.field(description="The pool's global id (pool_...).")
    event_name: str
    pool_name: str
    market_name: str
    token_type: Outcome = strawberry.field(description="The token held.")
    side_ru: str = strawberry.field(description="ДА or НЕТ.")
    amount: Long = strawberry.field(description="Units the position closed with.")
    avg_price: int = strawberry.field(description="Volume-weighted buy price, basis points.")
    use_bonus: bool
    pnl: Long = strawberry.field(description="Realized PnL, kopecks (fees included).")
    won_side: Outcome | None = strawberry.field(description="The side that won; null when sold before resolution.")
    closed_at: datetime | None
    status: PositionStatus = strawberry.field(description="CLOSED once sold, settled or refunded.")

    @classmethod
    def from_view(cls, view: PositionView) -> ClosedPosition:
        p = view.position
        return cls(
            id=gid(Kind.POSITION, p.id), market_id=gid(Kind.MARKET, p.market_id), event_id=gid(Kind.EVENT, p.event_id),
            pool_id=gid(Kind.POOL, view.pool.id),
            event_name=view.event.name, pool_name=view.pool.name, market_name=view.market.name,
            token_type=Outcome(p.token), side_ru=SIDE_RU[p.token], amount=Long(p.amount), avg_price=p.avg_price,
            use_bonus=p.use_bonus, pnl=Long(p.realized_pnl),
            won_side=Outcome.of_index(p.won_side), closed_at=p.closed_at, status=PositionStatus(p.status),
        )


@strawberry.type
class ClosedPositionEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this position.")
    node: ClosedPosition


@strawberry.type(description="A page of closed positions, most recently closed first.")
class PositionConnection:
    edges: list[ClosedPositionEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: Page[PositionView]) -> PositionConnection:
        edges = [
            ClosedPositionEdge(cursor=encode_cursor(v.position.id or 0), node=ClosedPosition.from_view(v))
            for v in page.items
        ]
        return cls(edges=edges, page_info=PageInfo(has_next_page=page.has_more, end_cursor=page.next_cursor))


@strawberry.type(description="One trade of the platform-wide activity feed.")
class RecentTrade:
    amount: Long = strawberry.field(description="Trade value at the execution price, kopecks (fee excluded).")
    name: str = strawberry.field(description="Trader's nickname or name; 'Anonymous' for hidden profiles.")
    token: Outcome = strawberry.field(description="The token traded.")
    event: str = strawberry.field(description="Event name.")
    market: str = strawberry.field(description="Market name.")
    avatar: str | None
    created_at: datetime

    @classmethod
    def from_item(cls, item: FeedTrade) -> RecentTrade:
        return cls(
            amount=Long(item.amount), name=item.name, token=Outcome(item.token), event=item.event, market=item.market,
            avatar=item.avatar, created_at=item.created_at,
        )


@strawberry.type
class Referrer:
    name: str
    image_url: str | None


@strawberry.type(description="Referral statistics of one level of the caller's tree.")
class ReferralLevel:
    level: int
    count: int = strawberry.field(description="Users at this level.")
    total_volume: Long = strawberry.field(description="Their trading volume, kopecks.")
    earnings: Long = strawberry.field(description="Fee shares credited to the caller from this level, kopecks.")
    fee: float = strawberry.field(description="This level's share of each fee (0.15, 0.04, 0.01).")


@strawberry.type(description="The caller's referral code, referrer and earnings.")
class ReferralInfo:
    referral_code: str
    referrer: Referrer | None
    total_earnings: Long
    total_referrals: int
    total_volume: Long
    total_deposits: Long
    levels: list[ReferralLevel]

    @classmethod
    def from_info(cls, info: ReferralInfoRow) -> ReferralInfo:
        referrer = Referrer(name=info.referrer.name, image_url=info.referrer.image_url) if info.referrer else None
        levels = [
            ReferralLevel(
                level=n, count=s.count, total_volume=Long(s.total_volume), earnings=Long(s.earnings), fee=s.fee
            )
            for n, s in enumerate(info.levels, start=1)
        ]
        return cls(
            referral_code=info.referral_code, referrer=referrer, total_earnings=Long(info.total_earnings),
            total_referrals=info.total_referrals, total_volume=Long(info.total_volume),
            total_deposits=Long(info.total_deposits), levels=levels,
        )


@strawberry.type(description="A user in the caller's referral tree (levels 1-3).")
class ReferralChild:
    id: strawberry.ID = strawberry.field(description="The user's global id (usr_...).")
    username: str
    image: str | None
    level: int
    joined_date: datetime
    total_bets: int = strawberry.field(description="Buy trades made.")
    total_volume: Long = strawberry.field(description="Value of all their trades, kopecks.")

    @classmethod
    def from_row(cls, row: ReferralChildRow) -> ReferralChild:
        return cls(
            id=gid(Kind.USER, row.id), username=row.username, image=row.image, level=row.level,
            joined_date=row.joined_date,
            total_bets=row.total_bets, total_volume=Long(row.total_volume),
        )


@strawberry.type(description="Cumulative realized PnL at the end of one UTC day.")
class PnlPoint:
    timestamp: datetime
    pnl: float = strawberry.field(description="Currency units (kopecks / 100), as the REST chart shows it.")
    pnl_kopecks: Long

    @classmethod
    def from_point(cls, point: PnlPointRow) -> PnlPoint:
        return cls(timestamp=point.timestamp, pnl=point.pnl_units, pnl_kopecks=Long(point.pnl))
