"""GraphQL types of LMSR trading, positions, the trades feed, referrals and the PnL chart.

Money is ``Long`` kopecks and share amounts ``Long`` units; prices are basis points (0..10000).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from predictql.models import Position as PositionRow
from predictql.models import Trade as TradeRow
from predictql.pricing.lmsr import Quote, Side
from predictql.schema.context import Info
from predictql.schema.enums import OrderSide, Outcome, PositionStatus, TradeSource
from predictql.schema.ids import Kind, decode
from predictql.schema.markets import Market
from predictql.schema.node import Node, gid
from predictql.schema.pagination import Connection, connection
from predictql.schema.payloads import Balances, MutationPayload
from predictql.schema.scalars import Long, Price
from predictql.services.cursors import PageArgs
from predictql.services.lmsr_trading import CloseResult, TradeResult, shares_delta
from predictql.services.pnl import PnlPoint as PnlPointRow
from predictql.services.positions import SIDE_RU, AfterTrade, PositionView
from predictql.services.prices import market_price
from predictql.services.referrals import ReferralChild as ReferralChildRow
from predictql.services.referrals import ReferralInfo as ReferralInfoRow
from predictql.services.users import Profile

if TYPE_CHECKING:
    from predictql.schema.markets import Market
    from predictql.schema.users import User


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


@strawberry.type(
    description="One execution as one party made it, the schema's one trade type: an LMSR trade with the market "
    "maker, or one party's side of an order-book fill (a fill between two users is two trades, one per party; "
    "the live trades stream carries the taker's)."
)
class Trade(Node):
    id: strawberry.ID = strawberry.field(description="The trade's global id (trd_...).")
    source: TradeSource = strawberry.field(description="LMSR (market maker) or ORDERBOOK (a fill).")
    side: OrderSide = strawberry.field(description="BUY or SELL.")
    token_type: Outcome = strawberry.field(description="The token traded.")
    shares: Long = strawberry.field(description="Share units traded.")
    price: Price = strawberry.field(description="Execution price of the token traded.")
    amount: Long = strawberry.field(description="Trade value at the execution price, kopecks (fee excluded).")
    created_at: datetime = strawberry.field(description="When it executed.")
    row: strawberry.Private[TradeRow]

    @strawberry.field(description="The fee paid, kopecks; null unless the caller made the trade.")
    def fee(self, info: Info) -> Long | None:
        return Long(self.row.fee) if info.context.actor.user_id == self.row.user_id else None

    @strawberry.field(description="The market traded in.")
    async def market(self, info: Info) -> Annotated[Market, strawberry.lazy("predictql.schema.markets")]:
        return await market_of(info, self.row.market_id)

    @strawberry.field(description="Who traded (public profile); null when their profile is hidden from the caller.")
    async def trader(self, info: Info) -> Annotated[User, strawberry.lazy("predictql.schema.users")] | None:
        return await public_user(info, self.row.user_id)

    @classmethod
    def from_row(cls, row: TradeRow) -> Trade:
        return cls(
            id=gid(Kind.TRADE, row.id),
            source=TradeSource(row.kind),
            side=OrderSide(row.side),
            token_type=Outcome(row.token),
            shares=Long(row.shares),
            price=Price(row.price),
            amount=Long(row.amount),
            created_at=row.created_at,
            row=row,
        )


@strawberry.type(
    description="Units of one token of one market held by one user: open, or closed (sold out or settled) "
    "with its realized PnL. A later buy after closing opens a new position."
)
class Position(Node):
    id: strawberry.ID = strawberry.field(description="The position's global id (pos_...).")
    status: PositionStatus = strawberry.field(description="OPEN while units are held, then CLOSED.")
    token_type: Outcome = strawberry.field(description="The token held.")
    side_ru: str = strawberry.field(description="ДА or НЕТ.")
    amount: Long = strawberry.field(
        description="Units held (one unit pays 1 kopeck if its side wins); for a closed position, the units "
        "it closed with."
    )
    avg_price: Price = strawberry.field(description="Volume-weighted buy price; unchanged by sells.")
    cost: Long = strawberry.field(description="What the units held cost, fees included, kopecks.")
    realized_pnl: Long = strawberry.field(description="Kopecks received minus the cost of the units sold or settled.")
    use_bonus: bool = strawberry.field(description="Bought with the bonus balance first.")
    won_side: Outcome | None = strawberry.field(
        description="The side that won; null when open or sold before resolution."
    )
    created_at: datetime = strawberry.field(description="When the first units were bought.")
    closed_at: datetime | None = strawberry.field(description="When it closed; null while open.")
    row: strawberry.Private[PositionRow]

    @strawberry.field(description="The market the units are of.")
    async def market(self, info: Info) -> Annotated[Market, strawberry.lazy("predictql.schema.markets")]:
        return await market_of(info, self.row.market_id)

    @strawberry.field(description="(current price - avgPrice) x amount / 10000, kopecks; null once closed.")
    async def unrealized_pnl(self, info: Info) -> Long | None:
        if self.row.status != "open":
            return None
        market = await info.context.loaders.market_by_id.load(self.row.market_id)
        assert market is not None
        return Long((market_price(market).of(self.row.token) - self.row.avg_price) * self.row.amount // 10000)

    @classmethod
    def from_row(cls, p: PositionRow) -> Position:
        return cls(
            id=gid(Kind.POSITION, p.id),
            status=PositionStatus(p.status),
            token_type=Outcome(p.token),
            side_ru=SIDE_RU[p.token],
            amount=Long(p.amount),
            avg_price=Price(p.avg_price),
            cost=Long(p.cost),
            realized_pnl=Long(p.realized_pnl),
            use_bonus=p.use_bonus,
            won_side=Outcome.of_index(p.won_side),
            created_at=p.created_at,
            closed_at=p.closed_at,
            row=p,
        )

    @classmethod
    def from_view(cls, view: PositionView) -> Position:
        return cls.from_row(view.position)


async def positions_of(info: Info, user_id: int, status: PositionStatus | None, args: PageArgs) -> Connection[Position]:
    """A page of the user's positions (``status`` OPEN, CLOSED or None for both), through the loader."""
    raw = None if status is None else status.value
    page = await info.context.loaders.positions_by_user_id.load((user_id, raw, args))
    return connection(page, Position.from_row, lambda row: row.id)


async def market_of(info: Info, market_id: int) -> Market:
    from predictql.schema.markets import Market

    row = await info.context.loaders.market_by_id.load(market_id)
    assert row is not None
    return Market.from_row(row)


async def public_user(info: Info, user_id: int) -> User | None:
    """The user's public profile; null when hidden from the caller (anyone but themself)."""
    from predictql.schema.users import User

    row = await info.context.loaders.user_by_id.load(user_id)
    if row is None or (row.profile_hidden and info.context.actor.user_id != user_id):
        return None
    return User.from_profile(Profile(row, None))


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
            referral_code=info.referral_code,
            referrer=referrer,
            total_earnings=Long(info.total_earnings),
            total_referrals=info.total_referrals,
            total_volume=Long(info.total_volume),
            total_deposits=Long(info.total_deposits),
            levels=levels,
        )


@strawberry.type(description="A user in the caller's referral tree (levels 1-3), with their activity.")
class ReferralChild:
    id: strawberry.ID = strawberry.field(
        description="The user's global id (usr_...).", deprecation_reason="Use user { id }."
    )
    username: str = strawberry.field(
        description="Nickname, else name.", deprecation_reason="Use user { nickname name }."
    )
    image: str | None = strawberry.field(description="Avatar URL.", deprecation_reason="Use user { avatarUrl }.")
    level: int = strawberry.field(description="1: invited by the caller; 2 and 3: further down.")
    joined_date: datetime = strawberry.field(description="When they signed up.")
    total_bets: int = strawberry.field(description="Buy trades made.")
    total_volume: Long = strawberry.field(description="Value of all their trades, kopecks.")

    @strawberry.field(description="The user (public profile fields; private ones are null).")
    async def user(self, info: Info) -> Annotated[User, strawberry.lazy("predictql.schema.users")]:
        from predictql.schema.users import User

        row = await info.context.loaders.user_by_id.load(decode(Kind.USER, self.id))
        assert row is not None
        return User.from_profile(Profile(row, None))

    @classmethod
    def from_row(cls, row: ReferralChildRow) -> ReferralChild:
        return cls(
            id=gid(Kind.USER, row.id),
            username=row.username,
            image=row.image,
            level=row.level,
            joined_date=row.joined_date,
            total_bets=row.total_bets,
            total_volume=Long(row.total_volume),
        )


@strawberry.type(description="Cumulative realized PnL at the end of one UTC day.")
class PnlPoint:
    timestamp: datetime = strawberry.field(description="The end of the UTC day (RFC 3339).")
    pnl: float = strawberry.field(description="Currency units (kopecks / 100), as the REST chart shows it.")
    pnl_kopecks: Long = strawberry.field(description="Cumulative realized PnL at that point, kopecks.")

    @classmethod
    def from_point(cls, point: PnlPointRow) -> PnlPoint:
        return cls(timestamp=point.timestamp, pnl=point.pnl_units, pnl_kopecks=Long(point.pnl))


@strawberry.type(
    description="What lmsrTrade changed: the trade, what it cost, the market's new prices, the position, the money."
)
class LmsrTradePayload(MutationPayload):
    trade: Trade | None = strawberry.field(default=None, description="The trade executed (its fee included).")
    cost_or_payout_cents: Long | None = strawberry.field(
        default=None, description="Kopecks paid (fee included) on a buy, received (fee deducted) on a sell."
    )
    shares_delta: Long | None = strawberry.field(
        default=None, description="Change of the holding: positive on a buy, negative on a sell."
    )
    market: Market | None = strawberry.field(default=None, description="The market after the trade (new prices).")
    position: Position | None = strawberry.field(
        default=None, description="The caller's position in the traded token after the trade; null when none is left."
    )
    balances: Balances | None = strawberry.field(default=None, description="The caller's money after the trade.")

    @classmethod
    def of(cls, result: TradeResult, side: str, after: AfterTrade) -> LmsrTradePayload:
        view = after.position("YES" if Side(side).is_yes else "NO")
        return cls(
            trade=Trade.from_row(result.rows[0]),
            cost_or_payout_cents=Long(result.cost_or_payout),
            shares_delta=Long(result.shares_delta),
            market=Market.from_row(after.market),
            position=Position.from_view(view) if view else None,
            balances=Balances.from_row(after.balances),
        )


@strawberry.type(description="What closePosition changed: the sales, the market, what is still held, the money.")
class ClosePositionPayload(MutationPayload):
    trades: list[Trade] | None = strawberry.field(
        default=None, description="Every sale made, oldest first: one per token held (LMSR) or per fill (order book)."
    )
    proceeds: Long | None = strawberry.field(default=None, description="Kopecks credited in total, fees deducted.")
    market: Market | None = strawberry.field(default=None, description="The market after the sales (new prices).")
    positions: list[Position] | None = strawberry.field(
        default=None, description="The caller's open positions left in this market (empty when all was sold)."
    )
    balances: Balances | None = strawberry.field(default=None, description="The caller's money after the sales.")

    @classmethod
    def of(cls, result: CloseResult, after: AfterTrade) -> ClosePositionPayload:
        return cls(
            trades=[Trade.from_row(row) for sale in result.trades for row in sale.rows],
            proceeds=Long(result.proceeds),
            market=Market.from_row(after.market),
            positions=[Position.from_view(view) for view in after.positions],
            balances=Balances.from_row(after.balances),
        )
