"""Price-time priority order book for one binary market, kept in canonical YES-price space.

A NO order at price ``p`` is the opposite YES interest at ``10000 - p`` (DECISIONS rule 20):
buy YES -> bid, sell YES -> ask, buy NO -> ask, sell NO -> bid.  A fill is a TRANSFER_YES,
TRANSFER_NO, MINT (YES buyer + NO buyer lock ``u`` kopecks of collateral) or MERGE (two sellers
release ``u``).  Execution is at the resting (maker) order's price, best price first, FIFO by
``seq`` within a price.  Units, rounding and the per-fill conservation law are in
``orderbook_types``.

Rules chosen here:
* Market orders have no price limit (own-token limit 9999 for a buy, 1 for a sell) and behave as
  IOC; ``tif`` GTC is read as IOC, FOK is honoured, other values are INVALID_TIF.
* Dust: a buy whose budget cannot pay for one unit (``1 + fee_on(1)`` kopecks at any price) is
  finished: ``filled`` if it filled anything, else ``cancelled`` with reason ``dust``.
* FOK: a sell must sell all its units; a buy must spend its budget down to dust.  Feasibility is
  checked on the untouched book first; if infeasible nothing changes (rejected FOK_NOT_FILLABLE).
* POST_ONLY that would cross is rejected (POST_ONLY_WOULD_CROSS), as a result, not an exception.
* Self-trade prevention cancels the RESTING order (reason ``self_trade``) and matching goes on.
* GTD orders expire when ``now >= expires_at``: met during matching, or via ``expire(now)``.
Validation problems raise ``MatchError`` before anything changes.

Structure: per side a dict price -> level (deque in seq order) and a sorted list of active prices
(asks stored negated, so the best price of either side is the list's last element).  Cancels are
lazy: the order is marked dead and skipped; a level is dropped when its live count reaches zero.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable
from heapq import heapify, heappop, heappush

from predictql.pricing.orderbook_types import (
    FOK_NOT_FILLABLE,
    MAX_PRICE,
    MIN_PRICE,
    POST_ONLY_WOULD_CROSS,
    REASON_DUST,
    REASON_EXPIRED,
    REASON_IOC,
    REASON_SELF_TRADE,
    REASON_USER,
    SCALE,
    BookSnapshot,
    Fill,
    FillKind,
    MatchError,
    NewOrder,
    OrderKind,
    RestingOrder,
    Side,
    Status,
    SubmitResult,
    TimeInForce,
    Token,
    admit,
    buy_total,
    execute_fill,
    max_buy_units,
)

__all__ = [
    "FOK_NOT_FILLABLE",
    "POST_ONLY_WOULD_CROSS",
    "Book",
    "BookSnapshot",
    "Fill",
    "FillKind",
    "MatchError",
    "NewOrder",
    "OrderKind",
    "RestingOrder",
    "Side",
    "Status",
    "SubmitResult",
    "TimeInForce",
    "Token",
]

_RESTING_TIFS = frozenset(("GTC", "GTD", "POST_ONLY"))


class _Level:
    __slots__ = ("live", "orders")

    def __init__(self) -> None:
        self.orders: deque[RestingOrder] = deque()
        self.live = 0


class Book:
    """The order book of one market.  Not thread-safe: serialize calls per market."""

    def __init__(self, market_id: int, fee_bps: int) -> None:
        if type(fee_bps) is not int or not 0 <= fee_bps <= SCALE:
            raise MatchError("INVALID_FEE", f"fee_bps must be an int in 0..{SCALE}")
        self.market_id = market_id
        self.fee_bps = fee_bps
        self._unit_cost = buy_total(1, MAX_PRICE, fee_bps)  # one unit costs this at any price
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._bid_px: list[int] = []  # ascending YES prices, best bid last
        self._ask_px: list[int] = []  # ascending NEGATED YES prices, best ask last
        self._orders: dict[int, RestingOrder] = {}  # live orders, in seq order
        self._coids: dict[tuple[int, str], int] = {}
        self._gtd: list[tuple[int, int, RestingOrder]] = []  # lazy heap (expires_at, seq, order)
        self._gtd_live = 0
        self._next_seq = 1

    @classmethod
    def from_resting(cls, market_id: int, fee_bps: int, orders: Iterable[RestingOrder]) -> Book:
        """Rebuild a book from persisted resting orders (copied; original ``seq`` kept)."""
        book = cls(market_id, fee_bps)
        for order in sorted((o.copy() for o in orders), key=lambda o: o.seq):
            book._check_resting(order)
            book._rest(order)
            book._next_seq = order.seq + 1
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None and bid >= ask:
            raise MatchError("CROSSED_BOOK", f"resting orders cross: bid {bid} >= ask {ask}")
        return book

    # ----------------------------------------------------------------- queries
    @property
    def next_seq(self) -> int:
        """The ``seq`` the next submitted order gets unless it brings its own."""
        return self._next_seq

    def __len__(self) -> int:
        return len(self._orders)

    def best_bid(self) -> int | None:
        return self._bid_px[-1] if self._bid_px else None

    def best_ask(self) -> int | None:
        return -self._ask_px[-1] if self._ask_px else None

    def get(self, order_id: int) -> RestingOrder | None:
        """A snapshot of a live resting order, or None."""
        order = self._orders.get(order_id)
        return None if order is None else order.copy()

    def resting_orders(self) -> list[RestingOrder]:
        """Snapshots of every live resting order, in ``seq`` order."""
        return [o.copy() for o in self._orders.values()]

    def snapshot(self, depth: int, now: int | None = None) -> BookSnapshot:
        """Top ``depth`` non-empty levels per side in YES space (``.flipped()`` for NO space).

        With ``now``, orders already expired are left out (but not removed).
        """
        return BookSnapshot(
            self.market_id,
            "YES",
            self._depth(self._bids, self._bid_px, 1, depth, now),
            self._depth(self._asks, self._ask_px, -1, depth, now),
        )

    def _depth(
        self, levels: dict[int, _Level], px: list[int], sign: int, depth: int, now: int | None
    ) -> tuple[tuple[int, int], ...]:
        out: list[tuple[int, int]] = []
        fee = self.fee_bps
        for key in reversed(px):
            if len(out) >= depth:
                break
            units = 0
            for o in levels[sign * key].orders:
                if not o._live or (now is not None and _expired(o, now)):
                    continue
                units += max_buy_units(o.remaining, o.price, fee) if o.is_buy else o.remaining
            if units:
                out.append((sign * key, units))
        return tuple(out)

    # ----------------------------------------------------------------- commands
    def submit(self, order: NewOrder, now: int) -> SubmitResult:
        """Match ``order`` against the book, then rest, cancel or reject what is left."""
        t = self._admit(order, now)
        tif = t.tif
        dust = t.is_buy and t.remaining < self._unit_cost
        if dust or not self._crosses(t):
            if tif == "FOK" and not dust:
                return self._reject(t, FOK_NOT_FILLABLE, [])
            return self._finalize(t, [], [])
        cancelled: list[tuple[RestingOrder, str]] = []
        if tif == "POST_ONLY":
            self._prune_expired(t, now, cancelled)
            if self._crosses(t):
                return self._reject(t, POST_ONLY_WOULD_CROSS, cancelled)
            return self._finalize(t, [], cancelled)
        if tif == "FOK" and not self._fok_feasible(t, now):
            return self._reject(t, FOK_NOT_FILLABLE, cancelled)
        fills: list[Fill] = []
        self._match(t, now, fills, cancelled)
        return self._finalize(t, fills, cancelled)

    def cancel(self, order_id: int) -> RestingOrder:
        """Remove a live order; returns it (status cancelled) so the caller releases escrow."""
        order = self._orders.get(order_id)
        if order is None:
            raise MatchError("ORDER_NOT_FOUND", f"no live order {order_id}")
        self._unlink(order, REASON_USER)
        return order

    def cancel_all(self, user_id: int | None = None) -> list[RestingOrder]:
        """Remove every live order (of ``user_id`` if given), in ``seq`` order."""
        victims = [o for o in self._orders.values() if user_id is None or o.user_id == user_id]
        for order in victims:
            self._unlink(order, REASON_USER)
        return victims

    def expire(self, now: int) -> list[RestingOrder]:
        """Remove every GTD order with ``expires_at <= now``, by expiry then ``seq``."""
        out: list[RestingOrder] = []
        heap = self._gtd
        while heap and heap[0][0] <= now:
            order = heappop(heap)[2]
            if order._live:
                self._unlink(order, REASON_EXPIRED)
                out.append(order)
        return out

    # ----------------------------------------------------------------- submit steps
    def _admit(self, order: NewOrder, now: int) -> RestingOrder:
        """Validate and build the taker's state, assigning ``seq``; raises ``MatchError``."""
        seq = self._next_seq if order.seq is None else order.seq
        if seq < self._next_seq:
            raise MatchError("INVALID_SEQ", f"seq {seq} is not above the last one assigned")
        taker = admit(order, now, seq)
        self._check_unique(order.id, order.user_id, order.client_order_id)
        self._next_seq = seq + 1
        return taker

    def _check_unique(self, order_id: int, user_id: int, coid: str | None) -> None:
        if order_id in self._orders:
            raise MatchError("DUPLICATE_ORDER_ID", f"order {order_id} is already in the book")
        if coid is not None and (user_id, coid) in self._coids:
            raise MatchError("DUPLICATE_CLIENT_ORDER_ID", f"client_order_id {coid!r} is in use by a live order")

    def _check_resting(self, o: RestingOrder) -> None:
        valid = (
            o.status in ("pending", "partial")
            and o.kind == "limit"
            and o.tif in _RESTING_TIFS
            and (o.tif == "GTD") == (o.expires_at is not None)
            and MIN_PRICE <= o.price <= MAX_PRICE
            and (o.remaining >= self._unit_cost if o.is_buy else o.remaining > 0)
            and o.seq >= self._next_seq
        )
        if not valid:
            raise MatchError("INVALID_RESTING", f"not a valid resting order: {o!r}")
        self._check_unique(o.id, o.user_id, o.client_order_id)

    def _crosses(self, t: RestingOrder) -> bool:
        if t.is_bid:
            return bool(self._ask_px) and -self._ask_px[-1] <= t.yes_price
        return bool(self._bid_px) and self._bid_px[-1] >= t.yes_price

    def _finalize(self, t: RestingOrder, fills: list[Fill], cancelled: list[tuple[RestingOrder, str]]) -> SubmitResult:
        if t.remaining < self._unit_cost if t.is_buy else t.remaining == 0:
            if t.filled_units:
                t.status = "filled"
            else:
                t.status, t.reason = "cancelled", REASON_DUST
        elif t.tif in _RESTING_TIFS:
            t.status = "partial" if t.filled_units else "pending"
            self._rest(t)
            return SubmitResult(t.copy(), tuple(fills), tuple(cancelled), True, None)
        else:
            t.status, t.reason = "cancelled", REASON_IOC
        return SubmitResult(t, tuple(fills), tuple(cancelled), False, None)

    def _reject(self, t: RestingOrder, code: str, cancelled: list[tuple[RestingOrder, str]]) -> SubmitResult:
        t.status, t.reason = "cancelled", code
        return SubmitResult(t, (), tuple(cancelled), False, code)

    def _opposite(self, is_bid: bool) -> tuple[dict[int, _Level], list[int], int]:
        """Levels, sorted keys and key sign of the side an incoming order trades against."""
        return (self._asks, self._ask_px, -1) if is_bid else (self._bids, self._bid_px, 1)

    def _match(self, t: RestingOrder, now: int, fills: list[Fill], cancelled: list[tuple[RestingOrder, str]]) -> None:
        levels, px, sign = self._opposite(t.is_bid)
        bound = sign * t.yes_price  # a level crosses iff its key >= bound
        fee, unit_cost, uid = self.fee_bps, self._unit_cost, t.user_id
        while px and px[-1] >= bound:
            level = levels[sign * px[-1]]
            dq = level.orders
            while level.live:
                m = dq.popleft()
                if not m._live:
                    continue
                if m.expires_at is not None and m.expires_at <= now:
                    self._drop_head(m, level, px, REASON_EXPIRED, cancelled)
                elif m.user_id == uid:
                    self._drop_head(m, level, px, REASON_SELF_TRADE, cancelled)
                else:
                    fill, maker_done, taker_done = execute_fill(t, m, fee, unit_cost)
                    fills.append(fill)
                    if maker_done:
                        self._drop_head(m, level, px, None, cancelled)
                    else:
                        dq.appendleft(m)
                    if taker_done:
                        return

    def _prune_expired(self, t: RestingOrder, now: int, cancelled: list[tuple[RestingOrder, str]]) -> None:
        """Drop expired orders from the head of the best opposite levels that ``t`` crosses, until a
        live one leads; levels ``t`` does not reach are left alone (their orders were not met)."""
        levels, px, sign = self._opposite(t.is_bid)
        bound = sign * t.yes_price
        while px and px[-1] >= bound:
            level = levels[sign * px[-1]]
            m = level.orders.popleft()
            if not m._live:
                continue
            if not _expired(m, now):
                level.orders.appendleft(m)
                return
            self._drop_head(m, level, px, REASON_EXPIRED, cancelled)

    def _fok_feasible(self, t: RestingOrder, now: int) -> bool:
        """Would matching fill ``t`` completely?  Same walk as ``_match``, mutating nothing."""
        levels, px, sign = self._opposite(t.is_bid)
        bound, fee, uc = sign * t.yes_price, self.fee_bps, self._unit_cost
        remaining, is_buy = t.remaining, t.is_buy
        for i in range(len(px) - 1, -1, -1):
            if px[i] < bound:
                break
            p_yes = sign * px[i]
            t_price = p_yes if t.is_yes else SCALE - p_yes
            for m in levels[p_yes].orders:
                if not m._live or m.user_id == t.user_id or _expired(m, now):
                    continue
                m_price = p_yes if m.is_yes else SCALE - p_yes
                m_avail = max_buy_units(m.remaining, m_price, fee) if m.is_buy else m.remaining
                if is_buy:
                    units = min(max_buy_units(remaining, t_price, fee), m_avail)
                    remaining -= buy_total(units, t_price, fee)
                    if remaining < uc:
                        return True
                else:
                    remaining -= min(remaining, m_avail)
                    if remaining == 0:
                        return True
        return False

    # ----------------------------------------------------------------- book maintenance
    def _rest(self, t: RestingOrder) -> None:
        p = t.yes_price
        if t.is_bid:
            levels, px, key = self._bids, self._bid_px, p
        else:
            levels, px, key = self._asks, self._ask_px, -p
        level = levels.get(p)
        if level is None:
            level = levels[p] = _Level()
            insort(px, key)
        level.orders.append(t)
        level.live += 1
        t._live = True
        self._orders[t.id] = t
        if t.client_order_id is not None:
            self._coids[(t.user_id, t.client_order_id)] = t.id
        if t.expires_at is not None:
            self._gtd_live += 1
            heappush(self._gtd, (t.expires_at, t.seq, t))
            if len(self._gtd) > 2 * self._gtd_live + 64:
                self._gtd = [e for e in self._gtd if e[2]._live]
                heapify(self._gtd)

    def _detach(self, o: RestingOrder, reason: str | None) -> None:
        """Forget a live order (the caller fixes its level); a None reason means filled."""
        o._live = False
        if reason is not None:
            o.status, o.reason = "cancelled", reason
        del self._orders[o.id]
        if o.client_order_id is not None:
            del self._coids[(o.user_id, o.client_order_id)]
        if o.expires_at is not None:
            self._gtd_live -= 1

    def _drop_head(
        self,
        m: RestingOrder,
        level: _Level,
        px: list[int],
        reason: str | None,
        cancelled: list[tuple[RestingOrder, str]],
    ) -> None:
        """Forget an order just popped from the head of the best level (``px[-1]``)."""
        self._detach(m, reason)
        if reason is not None:
            cancelled.append((m, reason))
        level.live -= 1
        if not level.live:
            del (self._bids if m.is_bid else self._asks)[m.yes_price]
            px.pop()

    def _unlink(self, o: RestingOrder, reason: str) -> None:
        """Forget a live order anywhere in the book."""
        self._detach(o, reason)
        if o.is_bid:
            levels, px, key = self._bids, self._bid_px, o.yes_price
        else:
            levels, px, key = self._asks, self._ask_px, -o.yes_price
        level = levels[o.yes_price]
        level.live -= 1
        if not level.live:
            del levels[o.yes_price]
            del px[bisect_left(px, key)]
        elif len(level.orders) > 2 * level.live + 16:
            level.orders = deque(x for x in level.orders if x._live)


def _expired(o: RestingOrder, now: int) -> bool:
    return o.expires_at is not None and o.expires_at <= now
