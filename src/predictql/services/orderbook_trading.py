"""Order-book trading: placing an order (match at resting prices, then rest, finish or cancel the rest).

Matching is serialized per market through the database: every use case that changes a market's
orders first locks the market row (``SELECT ... FOR UPDATE``; SQLite serializes writers), then
loads the resting orders that can cross the incoming one, rebuilds a ``Book`` from them, submits,
and persists the difference (order rows, positions, trade rows, ledger) in the same transaction.
``UNIQUE(market_id, seq)`` makes a second matcher on the same market fail rather than double-fill.
Escrow and the money a fill moves are in ``order_escrow``; cancels, pauses, expiry, closing a
holding and the reads in ``order_lifecycle``; the book itself is pure (``pricing``).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, InsufficientFunds, InvalidInput, NotFound
from predictql.models import Event, Market, Order, Pool, PricePoint, Trade
from predictql.models.orders import OPEN_STATUSES
from predictql.pricing.orderbook import POST_ONLY_WOULD_CROSS, Book, MatchError, NewOrder, RestingOrder, SubmitResult
from predictql.pricing.orderbook_types import MAX_PRICE, MIN_PRICE, SCALE, buy_total
from predictql.services import alerts, events, ledger, notifications, order_escrow, referrals
from predictql.services.ledger import Movement
from predictql.services.prices import market_price
from predictql.subscriptions import topics

TIFS = ("GTC", "GTD", "IOC", "FOK", "POST_ONLY")
MAX_AMOUNT = 10**15
WINDOW = 64  # resting orders loaded per matching attempt; grows while it is not enough
COID_CHARS = frozenset(string.ascii_letters + string.digits + "-_.:/")
ENGINE_CODES = {"INVALID_PRICE", "INVALID_AMOUNT", "INVALID_SIDE"}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as the caller sends it. ``amount``: buy = kopeck budget (fee included), sell = units."""

    market_id: int
    side: str
    token: str
    kind: str
    amount: int
    price: int | None = None
    use_bonus: bool = False
    tif: str | None = None
    expires_at: datetime | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Placed:
    """The order after matching and the caller's side of each of its fills (trade rows)."""

    order: Order
    trades: tuple[Trade, ...]


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _check(request: OrderRequest, now: datetime, fee_bps: int) -> tuple[str, int | None]:
    """Field checks with the codes the place-order page uses; returns (time in force, price)."""
    if request.side not in ("buy", "sell") or request.token not in ("YES", "NO"):
        raise InvalidInput("type must be buy or sell and token_type YES or NO", code="INVALID_SIDE")
    if request.kind not in ("limit", "market"):
        raise InvalidInput("kind must be limit or market")
    unit = buy_total(1, MAX_PRICE, fee_bps) if request.side == "buy" else 1
    if not unit <= request.amount <= MAX_AMOUNT:
        raise InvalidInput(f"amount must be an integer from {unit} to {MAX_AMOUNT}", code="INVALID_AMOUNT")
    price = request.price if request.kind == "limit" else None
    if request.kind == "limit" and (price is None or not MIN_PRICE <= price <= MAX_PRICE):
        raise InvalidInput(f"a limit order needs a price from {MIN_PRICE} to {MAX_PRICE}", code="INVALID_PRICE")
    tif = request.tif or ("GTD" if request.expires_at is not None else "GTC")
    if tif not in TIFS:
        raise InvalidInput(f"time_in_force must be one of {', '.join(TIFS)}")
    expires = request.expires_at
    if (tif == "GTD") != (expires is not None) or (expires is not None and expires <= now):
        raise InvalidInput("GTD orders need a future expires_at; other orders take none")
    coid = request.client_order_id
    if coid is not None and not (0 < len(coid) <= 64 and set(coid) <= COID_CHARS):
        raise InvalidInput("client_order_id: 1-64 characters of letters, digits and -_.:/")
    return tif, price


def check_open(market: Market, pool: Pool, event: Event, now: datetime) -> None:
    if market.market_type != "orderbook":
        raise InvalidInput("this market trades with the market maker (POST /lmsr/trade)")
    if market.resolved or event.cancelled_at is not None or pool.closed_at is not None:
        raise Conflict("market is resolved", code="MARKET_RESOLVED")
    if market.paused or not pool.live_at <= now < pool.finish_at:
        raise Conflict("trading is paused or closed on this market", code="MARKET_PAUSED")


async def lock_market(
    session: AsyncSession, actor: Actor, market_id: int, *, buying: bool = False
) -> tuple[Market, Pool, Event]:
    """The market row locked for update, with its pool and event (hidden events: no new buys)."""
    query = (
        select(Market, Pool, Event)
        .join(Pool, col(Pool.id) == Market.pool_id)
        .join(Event, col(Event.id) == Market.event_id)
        .where(col(Market.id) == market_id)
        .with_for_update(of=Market)
        .execution_options(populate_existing=True)
    )
    row = (await session.execute(query)).first()
    if row is None or (buying and not events.can_see(actor, row[2])):
        raise NotFound("market not found", code="MARKET_NOT_FOUND")
    return row[0], row[1], row[2]


async def place_order(session: AsyncSession, actor: Actor, request: OrderRequest, *, fee_bps: int) -> Placed:
    """Match the order at resting prices (best first, FIFO), then rest, finish or cancel the rest."""
    user_id = actor.require_write()
    now = utcnow()
    _check(request, now, fee_bps)
    await _before_lock(session, user_id, request)
    market, pool, event = await lock_market(session, actor, request.market_id, buying=request.side == "buy")
    check_open(market, pool, event, now)
    carry = await order_escrow.expire_due(session, market, now)
    return await submit(session, market, user_id, request, fee_bps=fee_bps, now=now, carry=carry)


async def submit(
    session: AsyncSession,
    market: Market,
    user_id: int,
    request: OrderRequest,
    *,
    fee_bps: int,
    now: datetime,
    carry: list[Movement],
) -> Placed:
    """Place one order on a market the caller has locked and checked open; ``carry``: movements
    of earlier work in this transaction, posted in the same ledger batch."""
    assert market.id is not None
    tif, price = _check(request, now, fee_bps)
    if request.side == "sell":  # under the lock: a concurrent sell of the same units waits here
        await order_escrow.check_sellable(
            session, user_id=user_id, market_id=market.id, token=request.token, units=request.amount
        )
    seq = await _next_seq(session, market.id)
    expires = ms(request.expires_at) if request.expires_at else None
    new = NewOrder(
        order_escrow.TAKER,
        user_id,
        request.side,  # type: ignore[arg-type]
        request.token,  # type: ignore[arg-type]
        request.kind,  # type: ignore[arg-type]
        price,
        request.amount,
        tif,  # type: ignore[arg-type]
        expires,
        request.client_order_id,
        seq,
    )
    result, resting = await _match(session, market, new, fee_bps, ms(now))
    payers = {f.taker_user_id for f in result.fills} | {f.maker_user_id for f in result.fills}
    chains = {payer: await referrals.chain(session, payer) for payer in payers}
    bonus = await _bonus(session, market.id, request, user_id, result, chains, carry)
    taker = await _insert(session, market, user_id, request, result.order, now, bonus)
    book = order_escrow.FillBook(market, {order_escrow.TAKER: taker, **{o.id or 0: o for o in resting}})
    mine = [book.apply(fill)[0] for fill in result.fills]
    await _persist(session, book, result, chains, carry + order_escrow.fund(taker), now)
    filled = {f.taker_order_id for f in result.fills} | {f.maker_order_id for f in result.fills}
    await notifications.orders_filled(session, market, [book.orders[i] for i in sorted(filled)])
    return Placed(taker, tuple(mine))


async def _bonus(
    session: AsyncSession,
    market_id: int,
    request: OrderRequest,
    user_id: int,
    result: SubmitResult,
    chains: dict[int, list[int]],
    carry: list[Movement],
) -> int:
    """The bonus a buy may use, read under a lock on every tracked account this order will move."""
    if request.side != "buy" or not request.use_bonus:
        return 0
    owners = set(chains) | {user_id} | {o.user_id for o, _ in result.cancelled}
    codes = order_escrow.involved_codes(owners, chains, market_id) | {code for m in carry for code, _ in m.legs}
    return await order_escrow.lock_bonus(session, user_id, codes)


async def _persist(
    session: AsyncSession,
    book: order_escrow.FillBook,
    result: SubmitResult,
    chains: dict[int, list[int]],
    movements: list[Movement],
    now: datetime,
) -> None:
    """Order statuses, trade rows, positions, the price point, then the whole ledger batch; the
    price alerts its fills crossed."""
    before = market_price(book.market).yes
    movements += order_escrow.finish(book.orders, result, now)
    session.add_all(t for t, _ in book.trades)
    await session.flush()
    await book.move_positions(session)
    movements += book.movements(chains)
    _record_price(session, book.market, result, book.volume, now)
    try:
        await ledger.post_many(session, movements)
    except InsufficientFunds:
        raise InsufficientFunds("insufficient balance for this order") from None
    await _announce(session, book, result)
    await alerts.market_price_moved(session, book.market, before)


async def _announce(session: AsyncSession, book: order_escrow.FillBook, result: SubmitResult) -> None:
    """Each execution once (the taker's trade row) on the trade feeds, each party's fill, the
    market's state; the orders that changed to their owners, their levels to the book."""
    taker = book.orders[order_escrow.TAKER]
    makers = [book.orders[fill.maker_order_id] for fill in result.fills]
    cancelled = [book.orders[resting.id] for resting, _ in result.cancelled]
    topics.orders_changed(session, [taker, *makers, *cancelled])
    topics.book_changed(session, [*makers, *cancelled, *([taker] if taker.is_open else [])])
    fills = [
        (row, order.id)
        for fill, mine, theirs in book.fills
        for row, order in ((mine, taker), (theirs, book.orders[fill.maker_order_id]))
    ]
    await topics.trades_executed(session, book.market, [mine for _, mine, _ in book.fills], fills)


async def _before_lock(session: AsyncSession, user_id: int, request: OrderRequest) -> None:
    """Fail early, off the market lock, on what the unique index or the ledger would refuse anyway."""
    if request.client_order_id is not None:
        await _check_client_id(session, user_id, request.client_order_id)
    if request.side == "sell":
        return
    await order_escrow.prepare_buyer(session, user_id, budget=request.amount, use_bonus=request.use_bonus)


async def _check_client_id(session: AsyncSession, user_id: int, coid: str) -> None:
    taken = await session.scalar(
        select(Order.id).where(col(Order.user_id) == user_id, col(Order.client_order_id) == coid)
    )
    if taken is not None:
        raise Conflict(f"client_order_id {coid!r} was already used", code="DUPLICATE_CLIENT_ORDER_ID")


async def _next_seq(session: AsyncSession, market_id: int) -> int:
    last = await session.scalar(select(func.max(Order.seq)).where(col(Order.market_id) == market_id))
    return int(last or 0) + 1


def _yes_price() -> object:
    return case((col(Order.token) == "YES", col(Order.price)), else_=SCALE - col(Order.price))


async def _crossing(session: AsyncSession, market_id: int, new: NewOrder, limit: int) -> list[Order]:
    """The resting orders an incoming one can trade with, in priority order (best YES price, seq)."""
    bid = (new.side == "buy") == (new.token == "YES")
    own = new.price if new.price is not None else (MAX_PRICE if new.side == "buy" else MIN_PRICE)
    bound = own if new.token == "YES" else SCALE - own
    yes_price = _yes_price()
    asks_side = ((col(Order.side) == "sell") & (col(Order.token) == "YES")) | (
        (col(Order.side) == "buy") & (col(Order.token) == "NO")
    )
    query = select(Order).where(col(Order.market_id) == market_id, col(Order.status).in_(OPEN_STATUSES))
    if bid:
        query = query.where(asks_side, yes_price <= bound).order_by(yes_price, col(Order.seq))  # type: ignore[operator,arg-type]
    else:
        query = query.where(~asks_side, yes_price >= bound).order_by(yes_price.desc(), col(Order.seq))  # type: ignore[operator,attr-defined]
    return list(await session.scalars(query.limit(limit).execution_options(populate_existing=True)))


def resting_of(row: Order) -> RestingOrder:
    return RestingOrder(
        row.id or 0,
        row.user_id,
        row.side,  # type: ignore[arg-type]
        row.token,  # type: ignore[arg-type]
        row.price,
        row.remaining,
        row.seq,
        row.kind,  # type: ignore[arg-type]
        row.amount,
        row.filled,
        row.spent,
        row.received,
        row.fees,
        row.tif,  # type: ignore[arg-type]
        ms(row.expires_at) if row.expires_at else None,
        row.client_order_id,
        row.status,  # type: ignore[arg-type]
    )


def build_book(market_id: int, fee_bps: int, rows: list[Order]) -> Book:
    """A book of ``rows``; a buy left below one unit's cost (the fee was raised since) cannot trade."""
    unit = buy_total(1, MAX_PRICE, fee_bps)
    tradable = [resting_of(r) for r in rows if r.side == "sell" or r.remaining >= unit]
    return Book.from_resting(market_id, fee_bps, tradable)


async def _match(
    session: AsyncSession, market: Market, new: NewOrder, fee_bps: int, now: int
) -> tuple[SubmitResult, list[Order]]:
    """Submit against the crossing resting orders; load more when the window may have been short."""
    window = WINDOW
    while True:
        rows = await _crossing(session, market.id or 0, new, window)
        try:
            result = build_book(market.id or 0, fee_bps, rows).submit(new, now)
        except MatchError as error:
            raise InvalidInput(error.message, code=error.code if error.code in ENGINE_CODES else None) from None
        done = result.order.status == "filled" or result.rejected_reason == POST_ONLY_WOULD_CROSS
        if len(rows) < window or done:
            break
        window *= 4
    if result.rejected_reason is not None:
        raise Conflict(f"order rejected: {result.rejected_reason}", code=result.rejected_reason)
    return result, rows


async def _insert(
    session: AsyncSession,
    market: Market,
    user_id: int,
    request: OrderRequest,
    final: RestingOrder,
    now: datetime,
    bonus: int,
) -> Order:
    """The taker's row, reserving its whole amount, before any fill (``FillBook`` applies them)."""
    order = Order(
        user_id=user_id,
        market_id=market.id or 0,
        event_id=market.event_id,
        side=request.side,
        token=request.token,
        kind=request.kind,
        price=request.price if request.kind == "limit" else 0,  # type: ignore[arg-type]
        amount=request.amount,
        remaining=request.amount,
        tif=final.tif,
        expires_at=request.expires_at,
        seq=final.seq,
        client_order_id=request.client_order_id,
        use_bonus=request.use_bonus,
        created_at=now,
        updated_at=now,
    )
    order_escrow.reserve(order, bonus)
    session.add(order)
    try:
        await session.flush()
    except IntegrityError as error:
        if "client_order_id" not in str(error.orig):
            raise  # UNIQUE(market_id, seq): two matchers on one market, which the lock rules out
        raise Conflict("client_order_id was already used", code="DUPLICATE_CLIENT_ORDER_ID") from None
    return order


def _record_price(session: AsyncSession, market: Market, result: SubmitResult, volume: int, now: datetime) -> None:
    if result.fills:
        market.volume += volume
        market.last_price = result.fills[-1].price_yes  # the displayed price (``prices.market_price``)
        probability = market_price(market).yes_probability
        session.add(PricePoint(market_id=market.id or 0, probability=probability, created_at=now))
