"""GraphQL twins of the REST ``lmsr`` group, positions, the trades feed, referrals and the PnL chart.

``side`` and ``amountType`` are enums: a bad value is refused at validation; the services keep strings.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from predictql.resolvers.common import INPUT, user_errors
from predictql.schema.context import Info
from predictql.schema.enums import AmountType, LmsrSide, PositionStatus
from predictql.schema.ids import Kind, decode
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.schema.scalars import Long
from predictql.schema.trading import (
    ClosePositionPayload,
    LmsrQuote,
    LmsrTradePayload,
    PnlPoint,
    Position,
    ReferralChild,
    ReferralInfo,
    Trade,
    positions_of,
)
from predictql.services import lmsr_batch, lmsr_trading, pnl, positions, referrals
from predictql.services.cursors import PageArgs
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
        self,
        info: Info,
        market_id: Annotated[strawberry.ID, strawberry.argument(description="An LMSR market (mkt_...).")],
        side: Annotated[LmsrSide, strawberry.argument(description=SIDE_HELP)],
        amount_type: Annotated[AmountType, strawberry.argument(description=AMOUNT_HELP)],
        amount: Annotated[Long, strawberry.argument(description="Kopecks (SPEND) or units (SHARES), > 0.")],
    ) -> LmsrQuote:
        request = TradeRequest(decode(Kind.MARKET, market_id), side.value, amount_type.value, amount)
        async with info.context.db.session() as session:
            quote = await lmsr_trading.preview(
                session, request, fee_bps=info.context.settings.fee_bps, actor=info.context.actor
            )
        return LmsrQuote.from_quote(quote)

    @strawberry.field(
        description="The caller's positions, newest first, open and closed (status narrows them); pages of "
        f"{BOUNDS}. The same list as me {{ positions }}."
    )
    async def my_positions(
        self,
        info: Info,
        status: Annotated[
            PositionStatus | None, strawberry.argument(description="OPEN or CLOSED; both when omitted.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Position]:
        user_id = info.context.actor.require_user()
        args = page_args(info, first, after, last, before)
        return await positions_of(info, user_id, status, args)

    @strawberry.field(
        description="The caller's closed positions, most recently closed first (first/after only; at most 100).",
        deprecation_reason="Use me { positions(status: CLOSED) } (newest first).",
    )
    async def my_completed_positions(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1-100.")] = 20,
        after: Annotated[str | None, strawberry.argument(description="Start after this cursor.")] = None,
    ) -> Connection[Position]:
        args = page_args(info, first, after, None, None)
        async with info.context.db.session() as session:
            page = await positions.completed_positions(
                session, info.context.actor, cursor=after, limit=first, with_total=args.with_total
            )
        return connection(page, Position.from_view, lambda view: view.position.id)

    @strawberry.field(
        description="Executed trades (LMSR trades and order-book fills) platform-wide, or in one market, newest "
        f"first; trades of hidden events are left out. Pages of {BOUNDS}."
    )
    async def trades(
        self,
        info: Info,
        market_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this market's trades.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Trade]:
        args = page_args(info, first, after, last, before)
        market = decode(Kind.MARKET, market_id, "marketId") if market_id is not None else None
        async with info.context.db.session() as session:
            page = await lmsr_trading.trades_page(session, args, market_id=market)
        return connection(page, Trade.from_row, lambda row: row.id)

    @strawberry.field(
        description="The 50 newest trades platform-wide (hidden events left out), newest first.",
        deprecation_reason="Use trades(first: 50) { nodes }: the same trades, as a connection.",
    )
    async def latest_trades(self, info: Info) -> list[Trade]:
        async with info.context.db.session() as session:
            page = await lmsr_trading.trades_page(session, PageArgs(first=lmsr_trading.LATEST_TRADES))
        return [Trade.from_row(row) for row in page.items]

    @strawberry.field(description="The caller's referral code, referrer and per-level earnings.")
    async def my_referral_info(self, info: Info) -> ReferralInfo:
        async with info.context.db.session() as session:
            return ReferralInfo.from_info(await referrals.info(session, info.context.actor))

    @strawberry.field(
        description=f"Everyone in the caller's referral tree (levels 1-3), newest sign-up first; pages of {BOUNDS}."
    )
    async def my_referral_children(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[ReferralChild]:
        args = page_args(info, first, after, last, before)
        async with info.context.db.session() as session:
            page = await referrals.children_page(session, info.context.actor, args)
        return connection(page, ReferralChild.from_row, lambda row: row.id)

    @strawberry.field(description="The caller's cumulative realized PnL by UTC day.")
    async def my_pnl_chart(self, info: Info) -> list[PnlPoint]:
        async with info.context.db.session() as session:
            return [PnlPoint.from_point(p) for p in await pnl.my_chart(session, info.context.actor)]

    @strawberry.field(description="A user's cumulative realized PnL by UTC day (empty for a hidden profile).")
    async def pnl_chart(
        self,
        info: Info,
        user_id: Annotated[strawberry.ID, strawberry.argument(description="The user whose chart to show.")],
    ) -> list[PnlPoint]:
        async with info.context.db.session() as session:
            points = await pnl.chart(session, info.context.actor, user_id=decode(Kind.USER, user_id))
        return [PnlPoint.from_point(p) for p in points]


@strawberry.input(description="The market whose whole holding of the caller's is sold.")
class ClosePositionInput:
    market_id: strawberry.ID = strawberry.field(description="The market to sell out of.")


@strawberry.type
class TradingMutation:
    @strawberry.mutation(description="Trade against the LMSR market maker (fee charged on every trade).")
    @user_errors
    async def lmsr_trade(self, info: Info, input: Annotated[LmsrTradeInput, INPUT]) -> LmsrTradePayload:
        request = TradeRequest(
            decode(Kind.MARKET, input.market_id, "marketId"),
            input.side.value,
            input.amount_type.value,
            input.amount,
            input.use_bonus,
        )
        context = info.context
        traded = await lmsr_batch.trade(
            context.market_writer, context.actor, request, fee_bps=context.settings.fee_bps, want_after=True
        )
        context.reset_loaders()
        assert traded.after is not None
        return LmsrTradePayload.of(traded.result, input.side.value, traded.after)

    @strawberry.mutation(
        description="Sell the caller's whole holding (YES and NO) in one market: to the market maker, or on an "
        "order-book market as market orders into the bids (NO_LIQUIDITY when nothing could be sold)."
    )
    @user_errors
    async def close_position(self, info: Info, input: Annotated[ClosePositionInput, INPUT]) -> ClosePositionPayload:
        market_id = decode(Kind.MARKET, input.market_id, "marketId")
        context = info.context
        closed = await lmsr_batch.close_holding(
            context.market_writer, context.actor, market_id=market_id, fee_bps=context.settings.fee_bps, want_after=True
        )
        context.reset_loaders()
        assert closed.after is not None
        return ClosePositionPayload.of(closed.result, closed.after)
