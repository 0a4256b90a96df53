"""Trading against the LMSR market maker: quote, then (locked) execute through the ledger.

Sign conventions (the Intotes pages show only a buy, ``shares_delta: +1538``):
``cost_or_payout`` is always a non-negative amount of kopecks (what a buyer paid, fee included, or
what a seller received, fee deducted); ``shares_delta`` is the signed change of the caller's
holding of the traded token: positive for buys, negative for sells. A close is a sell of each
token held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import ANONYMOUS, Actor
from predictql.db import utcnow
from predictql.errors import Conflict, InvalidInput, NotFound
from predictql.models import Event, Market, Pool, Trade, User
from predictql.pricing import lmsr
from predictql.services import events, ledger, referrals
from predictql.services.cursors import Page, PageArgs, keyset_page
from predictql.services.ledger import Movement
from predictql.services.pools import state_of

AMOUNT_TYPES = ("spend", "shares")
MAX_AMOUNT = 10**15
LATEST_TRADES = 50
TOKENS = {"YES": lmsr.Side.SELL_YES, "NO": lmsr.Side.SELL_NO}


@dataclass(frozen=True, slots=True)
class TradeRequest:
    market_id: int
    side: str
    amount_type: str
    amount: int
    use_bonus: bool = False


@dataclass(frozen=True, slots=True)
class TradeResult:
    """``cost_or_payout``: what a buyer paid (fee included) or a seller received (fee deducted)."""

    cost_or_payout: int
    shares: int
    fee: int
    new_position_yes: int
    new_position_no: int
    trade_id: int | None
    market: Market
    is_buy: bool = True
    rows: tuple[Trade, ...] = ()  # the trade rows executed (one for LMSR; an order's fills on the book)

    @property
    def shares_delta(self) -> int:
        return shares_delta(self.is_buy, self.shares)


def shares_delta(is_buy: bool, shares: int) -> int:
    """The caller's holding change: ``+shares`` on a buy, ``-shares`` on a sell."""
    return shares if is_buy else -shares


@dataclass(frozen=True, slots=True)
class CloseResult:
    """A whole holding sold: one sell per token held, in one transaction."""

    market_id: int
    proceeds: int
    trades: tuple[TradeResult, ...]


def _parse(request: TradeRequest) -> lmsr.Side:
    try:
        side = lmsr.Side(request.side)
    except ValueError:
        raise InvalidInput("side must be buy_yes, sell_yes, buy_no or sell_no", code="INVALID_SIDE") from None
    if request.amount_type not in AMOUNT_TYPES:
        raise InvalidInput("amount_type must be spend or shares", code="INVALID_AMOUNT")
    if not 0 < request.amount <= MAX_AMOUNT:
        raise InvalidInput("amount must be a positive integer", code="INVALID_AMOUNT")
    if request.amount_type == "spend" and not side.is_buy:
        raise InvalidInput("a sell takes amount_type shares", code="INVALID_AMOUNT")
    return side


def _quote(market: Market, side: lmsr.Side, request: TradeRequest, fee_bps: int) -> lmsr.Quote:
    state = state_of(market)
    if request.amount_type == "spend":
        quote = lmsr.quote_spend(state, side, request.amount, fee_bps)
    else:
        quote = lmsr.quote_shares(state, side, request.amount, fee_bps)
    if quote.shares <= 0 or (side.is_buy and quote.total <= 0):
        raise InvalidInput("amount too small to trade one unit", code="INVALID_AMOUNT")
    return quote


def _check_open(market: Market, pool: Pool, event: Event, now: datetime) -> None:
    if market.market_type != "lmsr":
        raise InvalidInput("this market trades on the order book", code="INVALID_REQUEST")
    if market.resolved or event.cancelled_at is not None or pool.closed_at is not None:
        raise Conflict("market is resolved", code="MARKET_RESOLVED")
    if market.paused:
        raise Conflict("market is paused", code="MARKET_PAUSED")
    if now < pool.live_at:
        raise Conflict("trading has not opened yet", code="MARKET_PAUSED")
    if now >= pool.finish_at:
        raise Conflict("trading has closed; awaiting resolution", code="MARKET_PAUSED")


async def _load(
    session: AsyncSession, actor: Actor, market_id: int, *, lock: bool, buying: bool = False
) -> tuple[Market, Pool, Event]:
    """The market with its pool and event. A hidden event's markets cannot be bought into
    (they are "hidden from direct links"), but holders may still sell out of them."""
    query = (
        select(Market, Pool, Event)
        .join(Pool, col(Pool.id) == Market.pool_id)
        .join(Event, col(Event.id) == Market.event_id)
        .where(Market.id == market_id)
    )
    if lock:
        query = query.with_for_update(of=Market)
    row = (await session.execute(query)).first()
    if row is None or (buying and not events.can_see(actor, row[2])):
        raise NotFound("market not found", code="MARKET_NOT_FOUND")
    return row[0], row[1], row[2]


async def preview(
    session: AsyncSession, request: TradeRequest, *, fee_bps: int, actor: Actor = ANONYMOUS
) -> lmsr.Quote:
    """The quote ``trade`` would execute now; nothing is written and no lock is taken."""
    side = _parse(request)
    market, pool, event = await _load(session, actor, request.market_id, lock=False, buying=side.is_buy)
    _check_open(market, pool, event, utcnow())
    return _quote(market, side, request, fee_bps)


async def trade(session: AsyncSession, actor: Actor, request: TradeRequest, *, fee_bps: int) -> TradeResult:
    """Execute at the price the locked market state gives now; money, shares and q move together.

    In the caller's transaction, as a batch of one (``lmsr_batch``: the market writer batches)."""
    from predictql.services import lmsr_batch, market_writer

    actor.require_write()
    _parse(request)
    item = lmsr_batch.TradeItem(actor, request, fee_bps)
    traded: lmsr_batch.Traded = await market_writer.run_alone(session, request.market_id, item)
    return traded.result


async def close_position(session: AsyncSession, actor: Actor, *, market_id: int, fee_bps: int) -> CloseResult:
    """Sell the caller's whole holding of both tokens of one market through the AMM."""
    from predictql.services import lmsr_batch, market_writer

    actor.require_write()
    closed: lmsr_batch.Closed = await market_writer.run_alone(session, market_id, lmsr_batch.CloseItem(actor, fee_bps))
    return closed.result


def _payment(user_id: int, market_id: int, quote: lmsr.Quote, bonus: int) -> list[Movement]:
    """The buyer's payment: bonus first (when asked), then cash; price to the AMM, fee to fees."""
    from_bonus = min(bonus, quote.total)
    bonus_price = min(from_bonus, quote.amm_amount)
    parts = [
        (ledger.user_bonus(user_id), ledger.market_amm(market_id), bonus_price, "trade_cost"),
        (ledger.user_cash(user_id), ledger.market_amm(market_id), quote.amm_amount - bonus_price, "trade_cost"),
        (ledger.user_bonus(user_id), ledger.FEES, from_bonus - bonus_price, "fee"),
        (ledger.user_cash(user_id), ledger.FEES, quote.fee - (from_bonus - bonus_price), "fee"),
    ]
    return [ledger.transfer(kind, a, b, amount, user_id=user_id) for a, b, amount, kind in parts if amount]


def _proceeds(user_id: int, market_id: int, quote: lmsr.Quote) -> list[Movement]:
    amm = ledger.market_amm(market_id)
    return [
        ledger.transfer("trade_proceeds", amm, ledger.user_cash(user_id), quote.total, user_id=user_id),
        ledger.transfer("fee", amm, ledger.FEES, quote.fee, user_id=user_id),
    ]


@dataclass(frozen=True, slots=True)
class FeedTrade:
    """One line of the platform-wide activity feed (REST ``SimpleTrade``).

    ``amount`` is the trade's value at the AMM or fill price (kopecks, fee excluded). A trader whose
    profile is hidden appears as "Anonymous" without an avatar.
    """

    id: int
    amount: int
    name: str
    token: str
    event: str
    market: str
    avatar: str | None
    created_at: datetime


async def latest_trades(session: AsyncSession, *, limit: int = LATEST_TRADES) -> list[FeedTrade]:
    """The newest trades platform-wide, newest first; trades of hidden events are left out."""
    rows = await session.execute(
        select(Trade, User, Market.name, Event.name)
        .join(User, col(User.id) == Trade.user_id)
        .join(Market, col(Market.id) == Trade.market_id)
        .join(Event, col(Event.id) == Trade.event_id)
        .where(col(Event.is_active).is_(True))
        .order_by(col(Trade.id).desc())
        .limit(limit)
    )
    return [
        FeedTrade(
            id=trade_row.id or 0,
            amount=trade_row.amount,
            name="Anonymous" if user.profile_hidden else referrals.display_name(user),
            token=trade_row.token,
            event=event_name,
            market=market_name,
            avatar=None if user.profile_hidden else user.avatar_url,
            created_at=trade_row.created_at,
        )
        for trade_row, user, market_name, event_name in rows
    ]


async def trades_page(session: AsyncSession, args: PageArgs, *, market_id: int | None = None) -> Page[Trade]:
    """Executed trades (LMSR and order-book fills) platform-wide or in one market, newest first,
    keyset-paged on id; trades of hidden events are left out, as in ``latest_trades``."""
    query = select(Trade).join(Event, col(Event.id) == Trade.event_id).where(col(Event.is_active).is_(True))
    if market_id is not None:
        query = query.where(col(Trade.market_id) == market_id)
    return await keyset_page(session, query, col(Trade.id), args)
