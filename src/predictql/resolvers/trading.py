"""GraphQL twins of the REST ``lmsr`` group, positions, the trades feed, referrals and the PnL chart.

``side`` and ``amountType`` are enums: a bad value is refused at validation; the services keep strings.
"""

from __future__ import annotations

import strawberry

from predictql.schema.context import Info
from predictql.schema.enums import AmountType, LmsrSide
from predictql.schema.ids import Kind, decode
from predictql.schema.scalars import Long
from predictql.schema.trading import (
    ClosePositionResult,
    LmsrQuote,
    LmsrTradeResult,
    PnlPoint,
    Position,
    PositionConnection,
    RecentTrade,
    ReferralChild,
    ReferralInfo,
)
from predictql.services import lmsr_trading, order_lifecycle, pnl, positions, referrals
from predictql.services.lmsr_trading import TradeRequest

SIDE_HELP = "BUY_YES, SELL_YES, BUY_NO or SELL_NO."
AMOUNT_HELP = "SPEND: amount is a kopeck budget (buys only); SHARES: amount is units."


@strawberry.input(description="An LMSR trade, as POST /lmsr/trade takes it.")
class LmsrTradeInput:
    market_id: strawberry.ID = strawberry.field(description="An LMSR market (mkt_...).")
    side: LmsrSide = strawberry.field(description=SIDE_HELP)
    amount_type: AmountType = strawberry.field(description=AMOUNT_HELP)
    amount: Long = strawberry.field(description="Kopecks (spend) or units (shares), > 0.")
    use_bonus: bool = strawberry.field(default=False, description="Pay from the bonus balance first, then cash.")


@strawberry.type
class TradingQuery:
    @strawberry.field(description="Quote an LMSR trade without executing it (" + SIDE_HELP + ").")
    async def lmsr_preview(
        self, info: Info, market_id: strawberry.ID, side: LmsrSide, amount_type: AmountType, amount: Long
    ) -> LmsrQuote:
        request = TradeRequest(decode(Kind.MARKET, market_id), side.value, amount_type.value, amount)
        async with info.context.db.session() as session:
            quote = await lmsr_trading.preview(
                session, request, fee_bps=info.context.settings.fee_bps, actor=info.context.actor
            )
        return LmsrQuote.from_quote(quote)

    @strawberry.field(description="The caller's open positions with names and unrealized PnL.")
    async def my_positions(self, info: Info) -> list[Position]:
        async with info.context.db.session() as session:
            return [Position.from_view(v) for v in await positions.open_positions(session, info.context.actor)]

    @strawberry.field(description="The caller's closed positions, most recently closed first.")
    async def my_completed_positions(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> PositionConnection:
        async with info.context.db.session() as session:
            page = await positions.completed_positions(session, info.context.actor, cursor=after, limit=first)
        return PositionConnection.from_page(page)

    @strawberry.field(description="The 50 newest trades platform-wide.")
    async def latest_trades(self, info: Info) -> list[RecentTrade]:
        async with info.context.db.session() as session:
            return [RecentTrade.from_item(item) for item in await lmsr_trading.latest_trades(session)]

    @strawberry.field(description="The caller's referral code, referrer and per-level earnings.")
    async def my_referral_info(self, info: Info) -> ReferralInfo:
        async with info.context.db.session() as session:
            return ReferralInfo.from_info(await referrals.info(session, info.context.actor))

    @strawberry.field(description="Everyone in the caller's referral tree (levels 1-3).")
    async def my_referral_children(self, info: Info) -> list[ReferralChild]:
        async with info.context.db.session() as session:
            return [ReferralChild.from_row(row) for row in await referrals.children(session, info.context.actor)]

    @strawberry.field(description="The caller's cumulative realized PnL by UTC day.")
    async def my_pnl_chart(self, info: Info) -> list[PnlPoint]:
        async with info.context.db.session() as session:
            return [PnlPoint.from_point(p) for p in await pnl.my_chart(session, info.context.actor)]

    @strawberry.field(description="A user's cumulative realized PnL by UTC day (empty for a hidden profile).")
    async def pnl_chart(self, info: Info, user_id: strawberry.ID) -> list[PnlPoint]:
        async with info.context.db.session() as session:
            points = await pnl.chart(session, info.context.actor, user_id=decode(Kind.USER, user_id))
        return [PnlPoint.from_point(p) for p in points]


@strawberry.type
class TradingMutation:
    @strawberry.mutation(description="Trade against the LMSR market maker (fee charged on every trade).")
    async def lmsr_trade(self, info: Info, input: LmsrTradeInput) -> LmsrTradeResult:
        request = TradeRequest(
            decode(Kind.MARKET, input.market_id), input.side.value, input.amount_type.value, input.amount,
            input.use_bonus,
        )
        async with info.context.db.transaction() as session:
            result = await lmsr_trading.trade(
                session, info.context.actor, request, fee_bps=info.context.settings.fee_bps
            )
        return LmsrTradeResult.from_result(result)

    @strawberry.mutation(
        description="Sell the caller's whole holding (YES and NO) in one market: to the market maker, or on an "
        "order-book market as market orders into the bids (NO_LIQUIDITY when nothing could be sold)."
    )
    async def close_position(self, info: Info, market_id: strawberry.ID) -> ClosePositionResult:
        async with info.context.db.transaction() as session:
            result = await order_lifecycle.close_holding(
                session, info.context.actor, market_id=decode(Kind.MARKET, market_id),
                fee_bps=info.context.settings.fee_bps,
            )
        return ClosePositionResult.from_result(result)
