"""GraphQL types of LMSR trading, positions, the trades feed, referrals and the PnL chart.

Money is ``Long`` kopecks and share amounts ``Long`` units; prices are basis points (0..10000).
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from predictql.pricing.lmsr import Quote
from predictql.schema.pagination import PageInfo
from predictql.schema.scalars import Long
from predictql.services.cursors import Page, encode_cursor
from predictql.services.lmsr_trading import CloseResult, FeedTrade, TradeResult, shares_delta
from predictql.services.pnl import PnlPoint as PnlPointRow
from predictql.services.positions import SIDE_RU, PositionView
from predictql.services.referrals import ReferralChild as ReferralChildRow
from predictql.services.referrals import ReferralInfo as ReferralInfoRow


def _id(value: int | None) -> strawberry.ID:
    return strawberry.ID(str(value))


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
    trade_id: strawberry.ID = strawberry.field(description="The trade's id.")
    market_id: strawberry.ID = strawberry.field(description="The market traded.")
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
            trade_id=_id(result.trade_id),
            market_id=_id(result.market.id),
            cost_or_payout_cents=Long(result.cost_or_payout),
            shares_delta=Long(result.shares_delta),
            fee=Long(result.fee),
            new_position_yes=Long(result.new_position_yes),
            new_position_no=Long(result.new_position_no),
        )


@strawberry.type(description="A whole holding sold back to the market maker.")
class ClosePositionResult:
    market_id: strawberry.ID = strawberry.field(description="The market whose holding was sold.")
    proceeds: Long = strawberry.field(description="Kopecks credited in total, fees deducted.")
    trades: list[LmsrTradeResult] = strawberry.field(description="One sell per token that was held.")

    @classmethod
    def from_result(cls, result: CloseResult) -> ClosePositionResult:
        trades = [LmsrTradeResult.from_result(r) for r in result.trades]
        return cls(market_id=_id(result.market_id), proceeds=Long(result.proceeds), trades=trades)


@strawberry.type(description="An open position: units of one token of one market.")
class Position:
    id: strawberry.ID = strawberry.field(description="The position's id.")
    market_id: strawberry.ID = strawberry.field(description="The market of the position.")
    event_id: strawberry.ID = strawberry.field(description="The market's event.")
    pool_id: strawberry.ID = strawberry.field(description="The market's pool.")
    event_name: str = strawberry.field(description="The event's title.")
    pool_name: str = strawberry.field(description="The pool's question.")
    market_name: str = strawberry.field(description="The market's outcome name.")
    token_type: str = strawberry.field(description="YES or NO.")
    side_ru: str = strawberry.field(description="ДА or НЕТ.")
    amount: Long = strawberry.field(description="Units held (one unit pays 1 kopeck if its side wins).")
    avg_price: int = strawberry.field(description="Volume-weighted buy price, basis points; unchanged by sells.")
    use_bonus: bool = strawberry.field(description="Bought (at least partly) with the bonus balance.")
    created_at: datetime = strawberry.field(description="When the position was opened (RFC 3339, UTC).")
    unrealized_pnl: Long = strawberry.field(description="(current price - avgPrice) x amount / 10000, kopecks.")

    @classmethod
    def from_view(cls, view: PositionView) -> Position:
        p = view.position
        return cls(
            id=_id(p.id), market_id=_id(p.market_id), event_id=_id(p.event_id), pool_id=_id(view.pool.id),
            event_name=view.event.name, pool_name=view.pool.name, market_name=view.market.name,
            token_type=p.token, side_ru=SIDE_RU[p.token], amount=Long(p.amount), avg_price=p.avg_price,
            use_bonus=p.use_bonus, created_at=p.created_at, unrealized_pnl=Long(view.unrealized_pnl),
        )


@strawberry.type(description="A closed position with its realized PnL.")
class ClosedPosition:
    id: strawberry.ID = strawberry.field(description="The position's id.")
    market_id: strawberry.ID = strawberry.field(description="The market of the position.")
    event_id: strawberry.ID = strawberry.field(description="The market's event.")
    pool_id: strawberry.ID = strawberry.field(description="The market's pool.")
    event_name: str = strawberry.field(description="The event's title.")
    pool_name: str = strawberry.field(description="The pool's question.")
    market_name: str = strawberry.field(description="The market's outcome name.")
    token_type: str = strawberry.field(description="YES or NO.")
    side_ru: str = strawberry.field(description="ДА or НЕТ.")
    amount: Long = strawberry.field(description="Units the position closed with.")
    avg_price: int = strawberry.field(description="Volume-weighted buy price, basis points.")
    use_bonus: bool = strawberry.field(description="Bought (at least partly) with the bonus balance.")
    pnl: Long = strawberry.field(description="Realized PnL, kopecks (fees included).")
    won_side: int | None = strawberry.field(description="0 YES won, 1 NO won; null when sold before resolution.")
    closed_at: datetime | None = strawberry.field(
        description="When it was sold or settled (RFC 3339, UTC)."
    )

    @classmethod
    def from_view(cls, view: PositionView) -> ClosedPosition:
        p = view.position
        return cls(
            id=_id(p.id), market_id=_id(p.market_id), event_id=_id(p.event_id), pool_id=_id(view.pool.id),
            event_name=view.event.name, pool_name=view.pool.name, market_name=view.market.name,
            token_type=p.token, side_ru=SIDE_RU[p.token], amount=Long(p.amount), avg_price=p.avg_price,
            use_bonus=p.use_bonus, pnl=Long(p.realized_pnl), won_side=p.won_side, closed_at=p.closed_at,
        )


@strawberry.type(description="One closed position of a page, with its cursor.")
class ClosedPositionEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this position.")
    node: ClosedPosition = strawberry.field(description="The closed position.")


@strawberry.type(description="A page of closed positions, most recently closed first.")
class PositionConnection:
    edges: list[ClosedPositionEdge] = strawberry.field(
        description="The page's closed positions, most recently closed first."
    )
    page_info: PageInfo = strawberry.field(description="Whether more follow, and the cursor to continue from.")

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
    token: str = strawberry.field(description="YES or NO.")
    event: str = strawberry.field(description="Event name.")
    market: str = strawberry.field(description="Market name.")
    avatar: str | None = strawberry.field(
        description="The trader's avatar URL; null when none or the profile is hidden."
    )
    created_at: datetime = strawberry.field(description="When the trade executed (RFC 3339, UTC).")

    @classmethod
    def from_item(cls, item: FeedTrade) -> RecentTrade:
        return cls(
            amount=Long(item.amount), name=item.name, token=item.token, event=item.event, market=item.market,
            avatar=item.avatar, created_at=item.created_at,
        )


@strawberry.type(description="The user who referred the caller.")
class Referrer:
    name: str = strawberry.field(description="Their nickname or name.")
    image_url: str | None = strawberry.field(description="Their avatar URL; null when none.")


@strawberry.type(description="Referral statistics of one level of the caller's tree.")
class ReferralLevel:
    level: int = strawberry.field(description="1 (invited by the caller), 2 or 3.")
    count: int = strawberry.field(description="Users at this level.")
    total_volume: Long = strawberry.field(description="Their trading volume, kopecks.")
    earnings: Long = strawberry.field(description="Fee shares credited to the caller from this level, kopecks.")
    fee: float = strawberry.field(description="This level's share of each fee (0.15, 0.04, 0.01).")


@strawberry.type(description="The caller's referral code, referrer and earnings.")
class ReferralInfo:
    referral_code: str = strawberry.field(description="The caller's code, to share for signUp(referralCode:).")
    referrer: Referrer | None = strawberry.field(description="Who referred the caller; null when nobody did.")
    total_earnings: Long = strawberry.field(description="Fee shares credited to the caller from all levels, kopecks.")
    total_referrals: int = strawberry.field(description="Users in the caller's tree, levels 1-3.")
    total_volume: Long = strawberry.field(description="Trading volume of the whole tree, kopecks.")
    total_deposits: Long = strawberry.field(description="Deposits of the whole tree, kopecks.")
    levels: list[ReferralLevel] = strawberry.field(description="One entry per level, 1 to 3.")

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
    id: strawberry.ID = strawberry.field(description="The user's id.")
    username: str = strawberry.field(description="Their nickname or name.")
    image: str | None = strawberry.field(description="Their avatar URL; null when none.")
    level: int = strawberry.field(description="1 (invited by the caller), 2 or 3.")
    joined_date: datetime = strawberry.field(description="When they signed up (RFC 3339, UTC).")
    total_bets: int = strawberry.field(description="Buy trades made.")
    total_volume: Long = strawberry.field(description="Value of all their trades, kopecks.")

    @classmethod
    def from_row(cls, row: ReferralChildRow) -> ReferralChild:
        return cls(
            id=_id(row.id), username=row.username, image=row.image, level=row.level, joined_date=row.joined_date,
            total_bets=row.total_bets, total_volume=Long(row.total_volume),
        )


@strawberry.type(description="Cumulative realized PnL at the end of one UTC day.")
class PnlPoint:
    timestamp: datetime = strawberry.field(description="The end of the UTC day (RFC 3339).")
    pnl: float = strawberry.field(description="Currency units (kopecks / 100), as the REST chart shows it.")
    pnl_kopecks: Long = strawberry.field(description="Cumulative realized PnL at that point, kopecks.")

    @classmethod
    def from_point(cls, point: PnlPointRow) -> PnlPoint:
        return cls(timestamp=point.timestamp, pnl=point.pnl_units, pnl_kopecks=Long(point.pnl))
