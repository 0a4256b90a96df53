"""The order path as one batch per market: placements, cancels, cancel-all and closes, top-down.

``execute(session, market_id, items, fee_bps=...)`` is the executor a per-market writer calls with
every request queued on a market (the entry points ``place_order``, ``cancel_order``,
``cancel_all`` and ``close_position`` call it with one item). In one transaction it

1. locks the market row once, then takes what queued on the market's writer meanwhile (``join``);
2. loads what the whole batch needs: in one ``UNION ALL`` the resting orders that can cross any of
   its placements (a window per side, widened once when the batch walks past it), the market's
   last order number, the buyers' balances and, when the batch trades, its GTD orders due now
   (cancelled and written at once); then one statement per kind: the orders its cancels and closes
   name, the client order ids already taken, the sellers' positions and reserved units;
3. plans every item in arrival order in memory with the pure matching engine
   (``pricing.orderbook``): an item that fails its own checks (field checks, duplicate client
   order id, insufficient balance, paused market, units to sell, FOK, POST_ONLY, order not found
   or not open, no liquidity to close into) gets its documented error and changes nothing;
4. reads the parties with their referral chains and open positions here (locked; one statement,
   ``referrals.traders_with_positions``), locks every tracked ledger account the plan moves in id
   order (``ledger.lock_balances``) and plans again if a buyer's balance moved meanwhile (another
   market's trade);
5. writes the plan: order rows; the trade rows with the price point, the market row and the
   changed orders' states (one statement, ``core.add_with``); positions
   (``positions.apply_holdings``), the ledger (``ledger.post_many``, once), notifications, alerts
   and the streams, once each.

Nothing it calls calls back into the order path. Orders, trades and positions are read and written
with Core statements (``models.core``): the rows each outcome carries are written, not the session's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, TypeAlias

from sqlalchemy import BigInteger, Integer, bindparam, cast, func, literal, literal_column, null, or_, text, union_all
from sqlalchemy import select as sql_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, DomainError, InsufficientFunds, InvalidInput, NotFound
from predictql.models import Event, LedgerAccount, Market, Order, Pool, Position, PricePoint, Trade, User, core
from predictql.models.orders import BOOK_KEY, BOOK_SIDE, OPEN_SQL, OPEN_STATUSES
from predictql.pricing.orderbook import MatchError, NewOrder, RestingOrder, SubmitResult
from predictql.pricing.orderbook_types import MAX_PRICE, MIN_PRICE, SCALE
from predictql.services import (
    alerts,
    events,
    ledger,
    notifications,
    order_escrow,
    orderbook_trading,
    positions,
    referrals,
)
from predictql.services.ledger import Movement
from predictql.services.lmsr_trading import CloseResult, TradeResult
from predictql.services.prices import market_price
from predictql.subscriptions import topics


@dataclass(frozen=True, slots=True)
class Place:
    actor: Actor
    request: orderbook_trading.OrderRequest


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel one of the caller's open orders (result: the ``Order``)."""

    actor: Actor
    order_id: int


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Cancel every open order of the caller in the market (result: ``list[Order]``, maybe empty)."""

    actor: Actor


@dataclass(frozen=True, slots=True)
class Close:
    """Sell the caller's whole holding with market orders (result: ``CloseResult``)."""

    actor: Actor


Item: TypeAlias = "Place | Cancel | CancelAll | Close"
Outcome: TypeAlias = "orderbook_trading.Placed | Order | list[Order] | CloseResult | DomainError"


# -- the plan: what each item does, computed in memory ------------------------------------------


@dataclass(slots=True)
class _Placement:
    temp_id: int  # the order's id inside the book until its row has one (negative)
    user_id: int
    request: orderbook_trading.OrderRequest
    bonus: int  # kopecks of the budget reserved from bonus
    result: SubmitResult


@dataclass(slots=True)
class _Cancels:
    ids: list[int]  # order ids (a placement of this batch: its temp id)
    reason: str
    single: bool = False


@dataclass(slots=True)
class _Close:
    user_id: int
    cancels: _Cancels
    sells: list[_Placement]
    held_after: dict[str, int]


_Step = _Placement | _Cancels | _Close

# What a batch changes on an order row (``_write`` writes them back in one statement).
ORDER_STATE = (
    "remaining",
    "filled",
    "spent",
    "received",
    "fees",
    "status",
    "cancel_reason",
    "escrow",
    "escrow_bonus",
    "updated_at",
)


MARKET_STATE = ("volume", "last_price")
"""What a batch with fills changes on the locked market row (``core.put``, written with its trades)."""


class _NeedMore(Exception):
    """The batch walked past the last resting order loaded on a side that has more."""


@dataclass(slots=True)
class _Known:
    """What the batch loaded under the market lock (rows are the session's own)."""

    market: Market
    pool: Pool
    event: Event
    rows: dict[int, Order] = field(default_factory=dict)  # every order loaded, by id
    open_ids: set[int] = field(default_factory=set)
    tails: dict[bool, tuple[int, int]] = field(default_factory=dict)  # is bid side -> last loaded key
    coids: set[tuple[int, str]] = field(default_factory=set)
    balances: dict[int, dict[str, int]] = field(default_factory=dict)  # user -> kind -> balance
    held: dict[tuple[int, str], int] = field(default_factory=dict)
    reserved: dict[tuple[int, str], int] = field(default_factory=dict)
    chains: dict[int, list[int]] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)  # the parties of fills, read with their chains
    positions_of: set[int] = field(default_factory=set)  # users whose open positions were read with them
    positions: list[Position] = field(default_factory=list)  # ... those rows, locked
    next_seq: int = 1
    locked: ledger.Accounts = field(default_factory=dict)  # ledger.lock_balances in this batch
    expired: list[Movement] = field(default_factory=list)  # the release of the GTD orders found due


def _key(is_bid: bool, yes_price: int, seq: int) -> tuple[int, int]:
    """Priority within a side: smaller is matched first."""
    return (-yes_price if is_bid else yes_price), seq


class _Planner:
    """Runs the items through a ``Book`` of the loaded orders; raises ``_NeedMore``."""

    def __init__(self, known: _Known, fee_bps: int, now: datetime, error: DomainError | None) -> None:
        self.known, self.fee_bps, self.now, self.open_error = known, fee_bps, now, error
        tradable = [known.rows[i] for i in sorted(known.open_ids)]
        self.book = orderbook_trading.build_book(known.market.id or 0, fee_bps, tradable)
        self.outside = {i for i in known.open_ids if self.book.get(i) is None}  # open, untradable
        self.status: dict[int, str] = {}
        self.cash = {user: by.get("user_cash", 0) for user, by in known.balances.items()}
        self.bonus = {user: by.get("user_bonus", 0) for user, by in known.balances.items()}
        self.held = defaultdict(int, known.held)
        self.reserved = defaultdict(int, known.reserved)
        self.coids = set(known.coids)
        self.meta: dict[int, tuple[bool, int, int]] = {
            i: (r.is_bid, r.yes_price, r.seq) for i in known.open_ids if (r := self.book.get(i)) is not None
        }
        self.next_temp = -1
        self.seq = known.next_seq
        self.debits: dict[int, int] = defaultdict(int)  # buyer -> kopecks reserved by this batch
        self.parties: set[int] = set()

    # ---------------------------------------------------------------- items
    def place(self, user_id: int, request: orderbook_trading.OrderRequest) -> _Placement:
        coid = request.client_order_id
        if coid is not None and (user_id, coid) in self.coids:
            raise Conflict(f"client_order_id {coid!r} was already used", code="DUPLICATE_CLIENT_ORDER_ID")
        buying = request.side == "buy"
        if buying:
            bonus = self.bonus.get(user_id, 0) if request.use_bonus else 0
            if request.amount > self.cash.get(user_id, 0) + bonus:
                raise InsufficientFunds("insufficient balance for this order")
        if self.open_error is not None:
            raise self.open_error
        if not buying:
            free = self.held[(user_id, request.token)] - self.reserved[(user_id, request.token)]
            if request.amount > free:
                raise InsufficientFunds(f"you have {max(free, 0)} {request.token} units available to sell")
        return self._submit(user_id, request)

    def _submit(self, user_id: int, request: orderbook_trading.OrderRequest) -> _Placement:
        tif, price = orderbook_trading.check_request(request, self.now, self.fee_bps)
        temp_id = self.next_temp
        new = NewOrder(
            temp_id,
            user_id,
            request.side,  # type: ignore[arg-type]
            request.token,  # type: ignore[arg-type]
            request.kind,  # type: ignore[arg-type]
            price,
            request.amount,
            tif,  # type: ignore[arg-type]
            orderbook_trading.ms(request.expires_at) if request.expires_at else None,
            request.client_order_id,
            max(self.seq, self.book.next_seq),
        )
        try:
            result = self.book.submit(new, orderbook_trading.ms(self.now))
        except MatchError as error:
            code = error.code if error.code in orderbook_trading.ENGINE_CODES else None
            raise InvalidInput(error.message, code=code) from None
        self._check_window(result)
        if result.rejected_reason is not None:
            self._forget(result)
            raise Conflict(f"order rejected: {result.rejected_reason}", code=result.rejected_reason)
        self.next_temp -= 1
        order = result.order
        self.seq = order.seq + 1
        self.meta[temp_id] = (order.is_bid, order.yes_price, order.seq)
        bonus = 0
        if request.side == "buy":
            bonus = min(self.bonus.get(user_id, 0), request.amount) if request.use_bonus else 0
            self.bonus[user_id] = self.bonus.get(user_id, 0) - bonus
            self.cash[user_id] = self.cash.get(user_id, 0) - (request.amount - bonus)
            self.debits[user_id] += request.amount
        elif result.rested:
            self.reserved[(user_id, request.token)] += order.remaining
        if request.client_order_id is not None:
            self.coids.add((user_id, request.client_order_id))
        self.status[temp_id] = order.status
        self._forget(result)
        for fill in result.fills:
            self.parties |= {fill.taker_user_id, fill.maker_user_id}
            for uid, side, token in (
                (fill.taker_user_id, fill.taker_side, fill.taker_token),
                (fill.maker_user_id, fill.maker_side, fill.maker_token),
            ):
                self.held[(uid, token)] += fill.units if side == "buy" else -fill.units
            if fill.maker_side == "sell":
                self.reserved[(fill.maker_user_id, fill.maker_token)] -= fill.units
            self.status[fill.maker_order_id] = fill.maker_status
        return _Placement(temp_id, user_id, request, bonus, result)

    def _forget(self, result: SubmitResult) -> None:
        """Orders the engine took off on the way (self-trade, expired) stop reserving units."""
        for resting, _ in result.cancelled:
            self.parties.add(resting.user_id)
            self.status[resting.id] = "cancelled"
            if resting.side == "sell":
                self.reserved[(resting.user_id, resting.token)] -= resting.remaining

    def _check_window(self, result: SubmitResult) -> None:
        """Matching may only meet orders ahead of the last one loaded on a side that has more."""
        touched = [f.maker_order_id for f in result.fills] + [o.id for o, _ in result.cancelled]
        for order_id in touched:
            is_bid, yes_price, seq = self.meta[order_id]
            tail = self.known.tails.get(is_bid)
            if tail is not None and _key(is_bid, yes_price, seq) >= tail:
                raise _NeedMore
        opposite = not result.order.is_bid
        if result.rejected_reason == "FOK_NOT_FILLABLE" and opposite in self.known.tails:
            raise _NeedMore

    def cancel(self, user_id: int, order_id: int) -> _Cancels:
        row = self.known.rows.get(order_id)
        if row is None or row.user_id != user_id:
            raise NotFound("order not found", code="ORDER_NOT_FOUND")
        if self.book.get(order_id) is not None:
            self._take(self.book.cancel(order_id))
        elif order_id in self.outside:
            self.outside.discard(order_id)
        else:
            raise Conflict(f"order is {self.status.get(order_id, row.status)}", code="ORDER_NOT_OPEN")
        self.status[order_id] = "cancelled"
        return _Cancels([order_id], "user_cancel", single=True)

    def cancel_all(self, user_id: int, *, sells_only: bool = False) -> list[int]:
        mine = [o for o in self.book.resting_orders() if o.user_id == user_id and (o.side == "sell" or not sells_only)]
        for order in mine:
            self._take(self.book.cancel(order.id))
        out = [(o.seq, o.id) for o in mine]
        for order_id in sorted(self.outside):
            row = self.known.rows[order_id]
            if row.user_id == user_id and (row.side == "sell" or not sells_only):
                self.outside.discard(order_id)
                out.append((row.seq, order_id))
        for _, order_id in out:
            self.status[order_id] = "cancelled"
        return [order_id for _, order_id in sorted(out)]

    def _take(self, order: RestingOrder) -> None:
        if order.side == "sell":
            self.reserved[(order.user_id, order.token)] -= order.remaining

    def close(self, user_id: int, market_id: int) -> _Close:
        held = {t: self.held[(user_id, t)] for t in ("NO", "YES") if self.held[(user_id, t)] > 0}
        if not held:
            raise positions.no_position()
        if self.open_error is not None:
            raise self.open_error
        if not any(self._liquid(user_id, token) for token in held):
            raise Conflict("no bids to sell into", code="NO_LIQUIDITY")
        cancels = _Cancels(self.cancel_all(user_id, sells_only=True), "position_close")
        sells = [
            self._submit(user_id, orderbook_trading.OrderRequest(market_id, "sell", token, "market", units))
            for token, units in sorted(held.items())
        ]
        after = {t: self.held[(user_id, t)] for t in ("YES", "NO")}
        return _Close(user_id, cancels, sells, after)

    def _liquid(self, user_id: int, token: str) -> bool:
        """Would a market sell of ``token`` by ``user_id`` meet someone else's resting order?"""
        wanted_bid = token == "YES"  # a YES sell is an ask: it meets bids; a NO sell meets asks
        ms_now = orderbook_trading.ms(self.now)
        for order in self.book.resting_orders():
            live = order.expires_at is None or order.expires_at > ms_now
            if order.is_bid == wanted_bid and order.user_id != user_id and live:
                return True
        if wanted_bid in self.known.tails:
            raise _NeedMore
        return False


# -- the executor -------------------------------------------------------------------------------


async def execute(
    session: AsyncSession,
    market_id: int,
    items: Sequence[Item],
    *,
    fee_bps: int,
    join: Callable[[], Sequence[Item]] | None = None,
) -> list[Outcome]:
    """Apply ``items`` to one market in arrival order in the caller's transaction (see module);
    with ``join``, the items it returns once the market is locked (what queued on the market's
    writer while this waited: ``market_writer.joined``) are applied after them, their outcomes last."""
    now = utcnow()
    outcomes = _prechecked(items, now, fee_bps)
    known = await _lock(session, market_id)
    if join is not None:  # checked as the others were before the lock
        more = list(join())
        items = [*items, *more]
        outcomes += _prechecked(more, now, fee_bps)
    users = [item.actor.user_id or 0 for item in items]
    if known is None:
        for index, item in enumerate(items):
            if outcomes[index] is None:
                outcomes[index] = _missing(item)
        return _done(outcomes)
    live = [i for i in range(len(items)) if outcomes[i] is None]
    for index in live:
        item = items[index]
        buying = isinstance(item, Place) and item.request.side == "buy"
        if buying and not events.can_see(item.actor, known.event):
            outcomes[index] = NotFound("market not found", code="MARKET_NOT_FOUND")
    live = [i for i in live if outcomes[i] is None]
    try:
        orderbook_trading.check_open(known.market, known.pool, known.event, now)
        open_error: DomainError | None = None
    except DomainError as error:
        open_error = error
    trading = open_error is None and any(isinstance(items[i], Place | Close) for i in live)
    chosen = [items[i] for i in live]
    chosen_users = [users[i] for i in live]
    window = orderbook_trading.WINDOW + 4 * len(chosen)
    await _load(session, known, chosen, chosen_users, window=window, due=now if trading else None)
    planner, steps = await _plan(session, known, chosen, chosen_users, fee_bps, now, open_error)
    planner, steps = await _lock_accounts(
        session, known, planner, steps, chosen, chosen_users, fee_bps, now, open_error
    )
    results = await _write(session, known, planner, steps, known.expired, now)
    for index, result in zip(live, results, strict=True):
        outcomes[index] = result
    return _done(outcomes)


def _prechecked(items: Sequence[Item], now: datetime, fee_bps: int) -> list[Outcome | None]:
    """Each item's own error from the checks that need no row (the caller may write, the order's
    fields), None for the others."""
    outcomes: list[Outcome | None] = [None] * len(items)
    for index, item in enumerate(items):
        try:
            item.actor.require_write()
            if isinstance(item, Place):
                orderbook_trading.check_request(item.request, now, fee_bps)
        except DomainError as error:
            outcomes[index] = error
    return outcomes


def _done(outcomes: list[Outcome | None]) -> list[Outcome]:
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None]


def _missing(item: Item) -> DomainError:
    if isinstance(item, Cancel):
        return NotFound("order not found", code="ORDER_NOT_FOUND")
    if isinstance(item, Close):
        return positions.no_position()
    return NotFound("market not found", code="MARKET_NOT_FOUND")


@cache
def _lock_query() -> Any:
    """The market ``market_id`` locked, with its pool and event (built once: every batch runs it)."""
    return (
        select(Market, Pool, Event)
        .join(Pool, col(Pool.id) == Market.pool_id)
        .join(Event, col(Event.id) == Market.event_id)
        .where(col(Market.id) == bindparam("market_id", type_=BigInteger))
        .with_for_update(of=Market)
        .execution_options(populate_existing=True)
    )


async def _lock(session: AsyncSession, market_id: int) -> _Known | None:
    row = (await session.execute(_lock_query(), {"market_id": market_id})).first()
    return None if row is None else _Known(row[0], row[1], row[2])


def _bound(request: orderbook_trading.OrderRequest) -> tuple[bool, int]:
    """(is bid, the YES price it may reach) of a placement."""
    bid = (request.side == "buy") == (request.token == "YES")
    own = request.price if request.kind == "limit" and request.price is not None else None
    if own is None:
        own = MAX_PRICE if request.side == "buy" else MIN_PRICE
    return bid, (own if request.token == "YES" else SCALE - own)


async def _load(
    session: AsyncSession,
    known: _Known,
    items: list[Item],
    users: list[int],
    *,
    window: int | None,
    due: datetime | None = None,
) -> None:
    """The orders, client order ids, balances, positions and reserved units the batch needs; with
    ``due`` (a first load of a trading batch), the market's GTD orders due then are cancelled first
    (``known.expired``: their release) and written at once, before the reads that count open orders."""
    market_id = known.market.id or 0
    asks_upto: int | None = None  # bids in the batch meet asks up to this YES price
    bids_from: int | None = None  # asks in the batch meet bids from this YES price
    for item in items:
        if isinstance(item, Place):
            is_bid, bound = _bound(item.request)
            if is_bid:
                asks_upto = max(bound, asks_upto or bound)
            else:
                bids_from = min(bound, bids_from or bound)
        elif isinstance(item, Close):
            asks_upto, bids_from = MAX_PRICE, MIN_PRICE
    known.tails.clear()
    postgres = core.on_postgresql(session)
    placements = [(item.request, u) for item, u in zip(items, users, strict=True) if isinstance(item, Place)]
    buyers = sorted({u for r, u in placements if r.side == "buy"}) if window is not None else []
    # One statement: the crossing window of each side the batch reaches and (on a first load) the
    # market's last order number and the buyers' balances, all read after the lock (``_windows``).
    sides = [(is_bid, reach) for is_bid, reach in ((False, asks_upto), (True, bids_from)) if reach is not None]
    last_seq, expired = await _windows(
        session, known, sides, window=window, with_seq=window is not None, buyers=buyers, due=due
    )
    if expired and due is not None:  # only a load with ``due`` reads due orders
        known.expired = order_escrow.take_off(session, expired, "expired", due)
        _add(known, expired)
        await core.save(session, expired, ORDER_STATE)
    cancel_ids = [item.order_id for item in items if isinstance(item, Cancel)]
    everyone = [u for item, u in zip(items, users, strict=True) if isinstance(item, CancelAll)]
    closers = [u for item, u in zip(items, users, strict=True) if isinstance(item, Close)]
    if cancel_ids or everyone or closers:
        opened = col(Order.status).in_(OPEN_STATUSES)
        rows = await _orders(
            session,
            col(Order.market_id) == market_id,
            or_(
                core.among(col(Order.id), cancel_ids, postgres=postgres),
                opened & core.among(col(Order.user_id), everyone, postgres=postgres),
                opened & core.among(col(Order.user_id), closers, postgres=postgres) & (col(Order.side) == "sell"),
            ),
        )
        _add(known, rows)
    if window is None:
        return  # a reload of the orders only
    known.next_seq = int(last_seq or 0) + 1
    coids = {(u, r.client_order_id) for r, u in placements if r.client_order_id is not None}
    if coids:
        taken = await session.execute(
            select(Order.user_id, Order.client_order_id).where(
                core.among(col(Order.user_id), sorted({u for u, _ in coids}), postgres=postgres),
                core.among(col(Order.client_order_id), sorted({c for _, c in coids}), postgres=postgres),
            )
        )
        known.coids = {(int(u), str(c)) for u, c in taken}
    if buyers:
        missing = [u for u in buyers if order_escrow.ESCROW_KIND not in known.balances[u]]
        await order_escrow.open_escrows(session, missing)
    sellers = sorted({u for r, u in placements if r.side == "sell"} | set(closers))
    if sellers:
        held = await session.execute(
            select(Position.user_id, Position.token, Position.amount).where(
                core.among(col(Position.user_id), sellers, postgres=postgres),
                Position.market_id == market_id,
                Position.status == "open",
            )
        )
        known.held = {(int(u), str(t)): int(a) for u, t, a in held}
        reserved = await session.execute(
            select(Order.user_id, Order.token, func.coalesce(func.sum(Order.escrow), 0))
            .where(
                core.among(col(Order.user_id), sellers, postgres=postgres),
                col(Order.market_id) == market_id,
                col(Order.side) == "sell",
                col(Order.status).in_(OPEN_STATUSES),
            )
            .group_by(col(Order.user_id), col(Order.token))
        )
        known.reserved = {(int(u), str(t)): int(a) for u, t, a in reserved}


async def _orders(
    session: AsyncSession, *where: Any, order_by: Sequence[Any] = (), limit: int | None = None
) -> list[Order]:
    """Order rows as Core reads them, outside the session (``models.core``): ``_write`` stores
    what the batch does to them."""
    query = sql_select(core.table(Order)).where(*where).order_by(*order_by).limit(limit)
    return [core.build(Order, row._asdict()) for row in await session.execute(query)]


def _add(known: _Known, rows: list[Order]) -> None:
    for row in rows:
        assert row.id is not None
        known.rows[row.id] = row
        if row.status in OPEN_STATUSES:
            known.open_ids.add(row.id)


_SEQ_PART = 2  # ``_windows``: the part of the union holding the market's last orders.seq
_BALANCE_PART = 3  # ``_windows``: the parts of the union holding the buyers' balances
_DUE_PART = 4  # ``_windows``: the part of the union holding the open orders due at ``now``


def _window_query(*, is_bid: bool, limited: bool) -> Any:
    """The best resting orders of one side up to the YES price ``bound_<is_bid>``, ``window`` of
    them at most when ``limited`` (bound parameters, with ``market_id``). Filter and order are
    ``ix_orders_book``'s own expressions, so both stores read the side's first rows from that index
    and stop at the window, however deep the book (the YES-price CASE it replaced sorted the side)."""
    book_key = literal_column(f"({BOOK_KEY})", Integer)
    bound = bindparam(f"bound_{int(is_bid)}", type_=Integer)
    where: list[Any] = [
        col(Order.market_id) == bindparam("market_id", type_=BigInteger),
        literal_column(f"({BOOK_SIDE})") == literal_column(str(int(is_bid))),
        text(OPEN_SQL),
        book_key <= (-bound if is_bid else bound),  # a bid's key is its YES price negated
    ]
    query = sql_select(*core.table(Order).columns, literal(int(is_bid)).label("_part"))
    query = query.where(*where).order_by(book_key, col(Order.seq))
    return query.limit(bindparam("window", type_=Integer)) if limited else query


def _seq_query() -> Any:
    """One row shaped as ``_window_query``'s: typed NULLs but ``market_id`` and ``seq``, the last
    entry of ``uq (market_id, seq)`` at or below the market: its last order number when the row's
    ``market_id`` is the market's (``_windows`` checks), else it has none. A range on the index's
    order, so no planner sees a cheaper way: max(seq) of ``market_id = :market_id``, planned while
    the table had no statistics (a generic plan keeps that for good), aggregated or sorted every
    order of the market through ``ix_orders_market_status``."""
    found = core.table(Order)
    kept = ("market_id", "seq")
    columns = [c if c.key in kept else cast(null(), c.type).label(c.key) for c in found.columns]
    upto = found.c.market_id <= bindparam("market_id", type_=BigInteger)
    query = sql_select(*columns, literal(_SEQ_PART).label("_part")).where(upto)
    return query.order_by(found.c.market_id.desc(), found.c.seq.desc()).limit(1)


def _balances_query(postgres: bool) -> Any:
    """Rows shaped as ``_window_query``'s: the accounts of the users ``buyers``, each row's
    ``user_id``, ``kind`` (in ``client_order_id``) and ``balance`` (in ``amount``), typed NULLs else."""
    found = core.table(Order)
    picks = {"user_id": LedgerAccount.user_id, "client_order_id": LedgerAccount.kind, "amount": LedgerAccount.balance}
    columns = [cast(col(picks[c.key]) if c.key in picks else null(), c.type).label(c.key) for c in found.columns]
    buyers = core.among(col(LedgerAccount.user_id), "buyers", postgres=postgres)
    return sql_select(*columns, literal(_BALANCE_PART).label("_part")).where(buyers)


def _due_query() -> Any:
    """Rows shaped as ``_window_query``'s: the market's open orders whose ``expires_at`` is ``now``
    or earlier (``order_escrow.due_conditions``)."""
    part = sql_select(*core.table(Order).columns, literal(_DUE_PART).label("_part"))
    return part.where(*order_escrow.due_conditions())


@cache
def _windows_statement(
    sides: tuple[bool, ...],
    limited: bool,
    with_seq: bool,
    balances: bool = False,
    postgres: bool = False,
    due: bool = False,
) -> Any:
    """Built once per shape (its cache key is then memoized: building and keying a union of this
    size costs more than the round trip it saves)."""
    parts = [_window_query(is_bid=is_bid, limited=limited) for is_bid in sides]
    if with_seq:
        parts.append(_seq_query())
    if balances:
        parts.append(_balances_query(postgres))
    if due:
        parts.append(_due_query())
    return parts[0] if len(parts) == 1 else union_all(*[sql_select(part.subquery()) for part in parts])


async def _windows(
    session: AsyncSession,
    known: _Known,
    sides: list[tuple[bool, int]],
    *,
    window: int | None,
    with_seq: bool,
    buyers: list[int],
    due: datetime | None = None,
) -> tuple[int | None, list[Order]]:
    """Load the crossing window of each ``(is bid, bound)`` side and the ``buyers``' balances (into
    ``known.balances``); return the market's last orders.seq (``with_seq``) and the open orders due
    at ``due`` (in ``seq`` order; left out of the windows, for the caller to cancel): one ``UNION
    ALL`` (each part a subquery with its own order and limit; the rows of a side are sorted here
    again by priority, as a union does not promise its parts' order)."""
    if not sides and not with_seq and not buyers and due is None:
        return None, []
    postgres = core.on_postgresql(session)
    shape = tuple(is_bid for is_bid, _ in sides)
    statement = _windows_statement(
        shape, window is not None, with_seq, bool(buyers), postgres and bool(buyers), due is not None
    )
    params: dict[str, Any] = {"market_id": known.market.id or 0}
    if due is not None:
        params["now"] = due
    if buyers:
        params["buyers"] = buyers
        known.balances = {u: {} for u in buyers}
    params.update((f"bound_{int(is_bid)}", bound) for is_bid, bound in sides)
    if window is not None and sides:
        params["window"] = window
    names = core.columns(Order)
    by_part: dict[int, list[Order]] = {0: [], 1: [], _DUE_PART: []}
    last_seq: int | None = None
    for row in await session.execute(statement, params):
        values = dict(zip(names, row, strict=False))
        if row[-1] == _SEQ_PART:
            last_seq = values["seq"] if values["market_id"] == params["market_id"] else None
        elif row[-1] == _BALANCE_PART:
            known.balances[int(values["user_id"])][str(values["client_order_id"])] = int(values["amount"])
        else:
            by_part[int(row[-1])].append(core.build(Order, values))
    expired = sorted(by_part[_DUE_PART], key=lambda r: r.seq)
    gone = {row.id for row in expired}
    for is_bid, _ in sides:
        rows = sorted(by_part[int(is_bid)], key=lambda r: _key(is_bid, _yes(r), r.seq))
        _add(known, [row for row in rows if row.id not in gone])
        if window is not None and len(rows) == window:
            last = rows[-1]
            known.tails[is_bid] = _key(is_bid, _yes(last), last.seq)
    return last_seq, expired


def _yes(row: Order) -> int:
    return row.price if row.token == "YES" else SCALE - row.price


async def _plan(
    session: AsyncSession,
    known: _Known,
    items: list[Item],
    users: list[int],
    fee_bps: int,
    now: datetime,
    open_error: DomainError | None,
) -> tuple[_Planner, list[_Step | DomainError]]:
    """Plan the items; once, with every crossing order loaded when the window was too short."""
    try:
        return _run(known, items, users, fee_bps, now, open_error)
    except _NeedMore:
        await _load(session, known, items, users, window=None)
        return _run(known, items, users, fee_bps, now, open_error)


def _run(
    known: _Known,
    items: list[Item],
    users: list[int],
    fee_bps: int,
    now: datetime,
    open_error: DomainError | None,
) -> tuple[_Planner, list[_Step | DomainError]]:
    planner = _Planner(known, fee_bps, now, open_error)
    steps: list[_Step | DomainError] = []
    for item, user_id in zip(items, users, strict=True):
        try:
            step: _Step
            if isinstance(item, Place):
                step = planner.place(user_id, item.request)
            elif isinstance(item, Cancel):
                step = planner.cancel(user_id, item.order_id)
            elif isinstance(item, CancelAll):
                step = _Cancels(planner.cancel_all(user_id), "user_cancel")
            else:
                step = planner.close(user_id, known.market.id or 0)
            steps.append(step)
        except DomainError as error:
            steps.append(error)
    return planner, steps


async def _lock_accounts(
    session: AsyncSession,
    known: _Known,
    planner: _Planner,
    steps: list[_Step | DomainError],
    items: list[Item],
    users: list[int],
    fee_bps: int,
    now: datetime,
    open_error: DomainError | None,
) -> tuple[_Planner, list[_Step | DomainError]]:
    """Lock every tracked account the plan moves (id order); plan again on the locked balances
    when a buyer's cash or bonus changed since it was read (a trade on another market).

    A lone item that takes nothing from bonus skips the lock: the ledger's conditional update
    refuses an overdraft anyway, and then only that item fails, as it would alone."""
    locked = known.locked
    alone = len(items) == 1 and not any(isinstance(i, Place) and i.request.use_bonus for i in items)
    for _ in range(3):
        wanted = planner.parties - set(known.chains)
        if wanted:  # the parties with their chains and open positions here (locked: ``_write`` moves them)
            found, held = await referrals.traders_with_positions(session, sorted(wanted), known.market.id or 0)
            for user_id, (user, chain) in found.items():
                known.users[user_id], known.chains[user_id] = user, chain
            known.positions_of |= wanted
            known.positions += held
        if alone:
            break
        owners = planner.parties | set(planner.debits) | _cancel_owners(known, steps)
        codes = order_escrow.involved_codes(owners, {u: known.chains[u] for u in planner.parties}, known.market.id or 0)
        if planner.parties:  # fills pay fees: with these read too, the ledger needs no lookup of its own
            codes |= {ledger.FEES, ledger.REVENUE}
        if not codes - set(locked):
            break
        locked |= await ledger.lock_balances(session, codes - set(locked))
        stale = False
        for user_id, by in known.balances.items():
            for kind, code in (("user_cash", ledger.user_cash(user_id)), ("user_bonus", ledger.user_bonus(user_id))):
                if code in locked and locked[code][1] != by.get(kind, 0):
                    by[kind], stale = locked[code][1], True
        if not stale:
            break
        planner, steps = await _plan(session, known, items, users, fee_bps, now, open_error)
    return planner, steps


def _cancel_owners(known: _Known, steps: list[_Step | DomainError]) -> set[int]:
    out: set[int] = set()
    for step in steps:
        if isinstance(step, _Cancels | _Close):
            ids = step.ids if isinstance(step, _Cancels) else step.cancels.ids
            out |= {known.rows[i].user_id for i in ids if i in known.rows}
    return out


# -- writing the plan ---------------------------------------------------------------------------


def _placements(step: _Step | DomainError) -> list[_Placement]:
    if isinstance(step, _Placement):
        return [step]
    return step.sells if isinstance(step, _Close) else []


def _new_row(market: Market, placement: _Placement, now: datetime) -> Order:
    """The order's row as placed, reserving its whole amount (``FillBook`` applies its fills)."""
    request, final = placement.request, placement.result.order
    order = core.build(
        Order,
        {
            "user_id": placement.user_id,
            "market_id": market.id or 0,
            "event_id": market.event_id,
            "side": request.side,
            "token": request.token,
            "kind": request.kind,
            "price": request.price if request.kind == "limit" else 0,
            "amount": request.amount,
            "remaining": request.amount,
            "tif": final.tif,
            "expires_at": request.expires_at,
            "seq": final.seq,
            "client_order_id": request.client_order_id,
            "use_bonus": request.use_bonus,
            "created_at": now,
            "updated_at": now,
        },
    )
    order_escrow.reserve(order, placement.bonus)
    return order


@dataclass
class _Writer:
    """Applies the steps to the rows in order, collecting what is written once at the end."""

    session: AsyncSession
    known: _Known
    now: datetime
    orders: dict[int, Order]
    fills: order_escrow.FillBook
    movements: list[Movement]
    changed: dict[int, Order] = field(default_factory=dict)  # id(row) -> row, for the streams
    book: dict[int, Order] = field(default_factory=dict)
    filled: dict[int, Order] = field(default_factory=dict)
    mine: dict[int, list[Trade]] = field(default_factory=dict)  # temp id -> the taker's trade rows
    dirty: dict[int, Order] = field(default_factory=dict)  # id(row) -> row, rows to write back

    def mark(self, rows: list[Order], *, book: bool = True) -> None:
        self.changed.update((id(row), row) for row in rows)
        self.dirty.update((id(row), row) for row in rows)
        if book:
            self.book.update((id(row), row) for row in rows)

    def placement(self, placement: _Placement) -> None:
        result, now = placement.result, self.now
        taker = self.orders[placement.temp_id]
        self.mine[placement.temp_id] = [self.fills.apply(fill)[0] for fill in result.fills]
        makers = [self.orders[fill.maker_order_id] for fill in result.fills]
        for fill, maker in zip(result.fills, makers, strict=True):  # transient rows (``core.put``)
            assert maker.remaining == fill.maker_remaining, (maker.id, maker.remaining, fill)
            core.put(maker, status=fill.maker_status, updated_at=now)
        cancelled = [self.orders[resting.id] for resting, _ in result.cancelled]
        for row, (_, reason) in zip(cancelled, result.cancelled, strict=True):
            core.put(row, status="cancelled", cancel_reason=reason)
        assert taker.remaining == result.order.remaining, (taker.remaining, result.order)
        core.put(taker, status=result.order.status, cancel_reason=result.order.reason)
        for row in {id(row): row for row in [taker, *makers, *cancelled]}.values():
            if row.status in ("filled", "cancelled") and row.escrow:
                row.updated_at = now
                self.movements += order_escrow.release(row)
        self.mark([taker], book=result.rested)
        self.mark([*makers, *cancelled])
        if result.fills:
            for row in [taker, *sorted(makers, key=lambda r: r.id or 0)]:
                self.filled.setdefault(id(row), row)

    def cancels(self, step: _Cancels) -> list[Order]:
        rows = [self.orders[i] for i in step.ids]
        self.movements += order_escrow.take_off(self.session, rows, step.reason, self.now)
        self.dirty.update((id(row), row) for row in rows)
        return rows


async def _write(
    session: AsyncSession,
    known: _Known,
    planner: _Planner,
    steps: list[_Step | DomainError],
    carry: list[Movement],
    now: datetime,
) -> list[Outcome]:
    market = known.market
    before = market_price(market).yes
    placements = [p for step in steps for p in _placements(step)]
    new_rows = {p.temp_id: _new_row(market, p, now) for p in placements}
    await orderbook_trading.insert_new_orders(session, list(new_rows.values()))
    inserted = {id(row): _state(row) for row in new_rows.values()}
    orders = {**known.rows, **new_rows}
    writer = _Writer(session, known, now, orders, order_escrow.FillBook(market, orders), list(carry))
    for row in new_rows.values():
        writer.movements += order_escrow.fund(row)
    for step in steps:
        if isinstance(step, _Placement):
            writer.placement(step)
        elif isinstance(step, _Cancels):
            writer.cancels(step)
        elif isinstance(step, _Close):
            writer.cancels(step.cancels)
            for sell in step.sells:
                writer.placement(sell)
    fills = writer.fills
    points: list[dict[str, Any]] = []
    if fills.fills:  # the locked row set without the ORM's events, written with the trades
        last = fills.fills[-1][0].price_yes  # the displayed price (``prices.market_price``)
        core.put(market, volume=market.volume + fills.volume, last_price=last)
        points.append({"market_id": market.id or 0, "probability": market_price(market).yes_probability})
        points[0]["created_at"] = now
    trades = [t for t, _ in fills.trades]
    # The orders the batch changed (a new one only when it did not rest as it was inserted): their
    # state is final now. One statement on PostgreSQL with the trades, price point and market.
    changed = [row for key, row in writer.dirty.items() if inserted.get(key) != _state(row)]
    saving: list[tuple[Sequence[SQLModel], tuple[str, ...]]] = [(changed, ORDER_STATE)]
    if points:
        saving.append(([market], MARKET_STATE))
    await core.add_with(session, trades, PricePoint, points, saving=saving)
    await fills.move_positions(session, (known.positions_of, known.positions))
    writer.movements += fills.movements({u: known.chains.get(u, []) for u in {t.user_id for t in trades}})
    try:
        await ledger.post_many(session, writer.movements, locked=known.locked)
    except InsufficientFunds:
        raise InsufficientFunds("insufficient balance for this order") from None
    await session.flush()  # the session's own rows, if any (the alert firings are added below)
    topics.orders_changed(session, writer.changed.values())
    topics.book_changed(session, writer.book.values())
    pairs = [
        (row, order.id)
        for fill, mine, theirs in fills.fills
        for row, order in ((mine, orders[fill.taker_order_id]), (theirs, orders[fill.maker_order_id]))
    ]
    # The trade ticks name each party: the rows read with their referral chains (``known.users``).
    ticks = [mine for _, mine, _ in fills.fills]
    await topics.trades_executed(session, market, ticks, pairs, event=known.event, users=known.users)
    await alerts.market_price_moved(session, market, before)
    await notifications.orders_filled(session, market, writer.filled.values())
    return [_outcome(step, writer) for step in steps]


def _state(row: Order) -> tuple[object, ...]:
    held = row.__dict__  # a transient row (``core.build``): every column is there
    return tuple(held[name] for name in ORDER_STATE)


def _outcome(step: _Step | DomainError, writer: _Writer) -> Outcome:
    if isinstance(step, DomainError):
        return step
    if isinstance(step, _Placement):
        return orderbook_trading.Placed(writer.orders[step.temp_id], tuple(writer.mine[step.temp_id]))
    if isinstance(step, _Cancels):
        rows = [writer.orders[i] for i in step.ids]
        return rows[0] if step.single else rows
    market = writer.known.market
    trades = tuple(
        TradeResult(
            cost_or_payout=row.received,
            shares=row.filled,
            fee=row.fees,
            new_position_yes=step.held_after.get("YES", 0),
            new_position_no=step.held_after.get("NO", 0),
            trade_id=mine[0].id,
            market=market,
            is_buy=False,
            rows=tuple(mine),
        )
        for sell in step.sells
        if (mine := writer.mine[sell.temp_id]) and (row := writer.orders[sell.temp_id]) is not None
    )
    return CloseResult(market.id or 0, sum(t.cost_or_payout for t in trades), trades)
