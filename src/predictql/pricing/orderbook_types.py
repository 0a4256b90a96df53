"""Value types and fill arithmetic of the order book (``orderbook.py`` holds the ``Book``).

Units
-----
* Money is integer kopecks; prices are integer basis points ``1..9999``; one share unit of a
  token pays 1 kopeck if its side wins, so ``u`` units at price ``p`` are worth ``u*p/10000``.
* A BUY's ``amount``/``remaining`` is a budget in kopecks covering cost AND fee; a SELL's is
  share units.
* Rounding favours the platform: a payer pays ``ceil``, a receiver gets ``floor``; the difference
  is reported per fill as ``rounding`` (always 0 or 1), so for every fill
  ``taker_cash + maker_cash + taker_fee + maker_fee + collateral + rounding == 0``.

Standard library only, integer arithmetic only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from predictql.pricing.fees import fee_on

Side = Literal["buy", "sell"]
Token = Literal["YES", "NO"]
OrderKind = Literal["limit", "market"]
TimeInForce = Literal["GTC", "GTD", "IOC", "FOK", "POST_ONLY"]
Status = Literal["pending", "partial", "filled", "cancelled"]
FillKind = Literal["TRANSFER_YES", "TRANSFER_NO", "MINT", "MERGE"]

SCALE = 10_000
MIN_PRICE = 1
MAX_PRICE = 9_999

# Cancel reasons (``RestingOrder.reason`` and ``SubmitResult.cancelled``).
REASON_USER = "user_cancel"
REASON_EXPIRED = "expired"
REASON_SELF_TRADE = "self_trade"
REASON_DUST = "dust"
REASON_IOC = "ioc_remainder"
# Rejections: results, not exceptions (``SubmitResult.rejected_reason``); nothing was changed.
POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
FOK_NOT_FILLABLE = "FOK_NOT_FILLABLE"


class MatchError(Exception):
    """Invalid input to the book: a stable ``code`` plus an English ``message``.

    Codes: INVALID_PRICE, INVALID_AMOUNT, INVALID_SIDE, INVALID_TOKEN, INVALID_KIND, INVALID_TIF,
    INVALID_EXPIRY, INVALID_SEQ, INVALID_FEE, INVALID_RESTING, CROSSED_BOOK, DUPLICATE_ORDER_ID,
    DUPLICATE_CLIENT_ORDER_ID, ORDER_NOT_FOUND.  The book is unchanged when one is raised.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# The one fee definition (``ceil(amount * fee_bps / 10000)``); the old private name stays an alias.
_fee_on = fee_on


def buy_total(units: int, price: int, fee_bps: int) -> int:
    """Kopecks a buyer pays for ``units`` at ``price``: ``c + fee_on(c)``, ``c = ceil(u*p/1e4)``."""
    cost = -(-units * price // SCALE)
    return cost + fee_on(cost, fee_bps)


def max_buy_units(budget: int, price: int, fee_bps: int) -> int:
    """Largest ``u`` with ``buy_total(u, price, fee_bps) <= budget`` (0 if none).

    Closed form: ``c + ceil(c*f/1e4) == ceil(c*(1e4+f)/1e4)`` for integer ``c``, and
    ``ceil(x) <= B  <=>  x <= B`` for integer ``B``; so the largest affordable cost is
    ``C = floor(B*1e4/(1e4+f))`` and the largest ``u`` with ``ceil(u*p/1e4) <= C`` is
    ``floor(C*1e4/p)``.  The correction step only guards against a changed fee definition.
    """
    units = (budget * SCALE // (SCALE + fee_bps)) * SCALE // price
    while units > 0 and buy_total(units, price, fee_bps) > budget:
        units -= 1
    return units


class RestingOrder:
    """State of one order: the taker's final state in a result, or a live/removed book entry.

    ``price`` is in the order's own token space (a market order carries 9999 for a buy, 1 for a
    sell); ``yes_price``/``is_bid`` are its place in the canonical YES book.  ``remaining`` is the
    budget left (buy) or units left (sell); ``spent`` (buy, incl. fees) and ``received`` (sell,
    net of fees) are cumulative kopecks, ``fees`` the cumulative fee.  A ``filled`` buy may keep
    a ``remaining`` below one unit's cost: that leftover is to be released to the user.
    """

    __slots__ = (
        "_live",
        "amount",
        "client_order_id",
        "expires_at",
        "fees",
        "filled_units",
        "id",
        "is_bid",
        "is_buy",
        "is_yes",
        "kind",
        "price",
        "reason",
        "received",
        "remaining",
        "seq",
        "side",
        "spent",
        "status",
        "tif",
        "token",
        "user_id",
        "yes_price",
    )

    def __init__(
        self,
        id: int,
        user_id: int,
        side: Side,
        token: Token,
        price: int,
        remaining: int,
        seq: int,
        kind: OrderKind = "limit",
        amount: int | None = None,
        filled_units: int = 0,
        spent: int = 0,
        received: int = 0,
        fees: int = 0,
        tif: TimeInForce = "GTC",
        expires_at: int | None = None,
        client_order_id: str | None = None,
        status: Status = "pending",
        reason: str | None = None,
    ) -> None:
        self.id = id
        self.user_id = user_id
        self.side: Side = side
        self.token: Token = token
        self.price = price
        self.remaining = remaining
        self.seq = seq
        self.kind: OrderKind = kind
        self.amount = remaining if amount is None else amount
        self.filled_units = filled_units
        self.spent = spent
        self.received = received
        self.fees = fees
        self.tif: TimeInForce = tif
        self.expires_at = expires_at
        self.client_order_id = client_order_id
        self.status: Status = status
        self.reason = reason
        self.is_buy = side == "buy"
        self.is_yes = token == "YES"
        self.is_bid = self.is_buy == self.is_yes
        self.yes_price = price if self.is_yes else SCALE - price
        self._live = False

    def copy(self) -> RestingOrder:
        """An independent snapshot (not linked to any book)."""
        return RestingOrder(
            self.id, self.user_id, self.side, self.token, self.price, self.remaining, self.seq,
            self.kind, self.amount, self.filled_units, self.spent, self.received, self.fees,
            self.tif, self.expires_at, self.client_order_id, self.status, self.reason,
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"RestingOrder(id={self.id}, user={self.user_id}, {self.side} {self.token} "
            f"@{self.price}, remaining={self.remaining}, filled={self.filled_units}, "
            f"seq={self.seq}, {self.status}{'' if self.reason is None else ':' + self.reason})"
        )


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order as submitted. ``id`` is assigned by the caller; ``seq`` by the book when None."""

    id: int
    user_id: int
    side: Side
    token: Token
    kind: OrderKind
    price: int | None
    amount: int
    tif: TimeInForce = "GTC"
    expires_at: int | None = None
    client_order_id: str | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution at the maker's price.

    ``*_price`` are in each party's own token space, ``price_yes`` in YES space.  ``*_cash`` is
    the party's cash delta including its fee (negative for a payer); ``collateral`` is +units on
    MINT, -units on MERGE, 0 on a transfer; ``rounding`` is the platform's rounding revenue.
    ``maker_*`` after ``collateral`` give the maker's state after this fill.
    """

    kind: FillKind
    units: int
    price_yes: int
    taker_order_id: int
    taker_user_id: int
    taker_side: Side
    taker_token: Token
    taker_price: int
    taker_cash: int
    taker_fee: int
    maker_order_id: int
    maker_user_id: int
    maker_side: Side
    maker_token: Token
    maker_price: int
    maker_cash: int
    maker_fee: int
    collateral: int
    rounding: int
    maker_remaining: int
    maker_filled_units: int
    maker_status: Status


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """Outcome of ``Book.submit``.

    ``order`` is a snapshot of the incoming order's final state; ``cancelled`` lists resting
    orders removed on the way (``self_trade``, ``expired``) with their reason; ``rejected_reason``
    is POST_ONLY_WOULD_CROSS or FOK_NOT_FILLABLE when the order was refused (status cancelled).
    """

    order: RestingOrder
    fills: tuple[Fill, ...]
    cancelled: tuple[tuple[RestingOrder, str], ...]
    rested: bool
    rejected_reason: str | None


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Aggregated depth, best level first, as ``(price, units)`` in ``space`` token prices.

    In YES space ``bids`` are YES-buy interest (YES buyers and NO sellers).  A buy order counts
    the units its remaining budget buys at its own price, fee included.
    """

    market_id: int
    space: Token
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]

    def flipped(self) -> BookSnapshot:
        """The same book seen from the other token: price ``10000 - p``, bids and asks swapped."""
        return BookSnapshot(
            self.market_id,
            "NO" if self.space == "YES" else "YES",
            tuple((SCALE - p, u) for p, u in self.asks),
            tuple((SCALE - p, u) for p, u in self.bids),
        )


_LIMIT_TIFS = frozenset(("GTC", "GTD", "IOC", "FOK", "POST_ONLY"))


def admit(order: NewOrder, now: int, seq: int) -> RestingOrder:
    """Validate ``order`` field by field and build its initial state; raises ``MatchError``.

    A market order gets the own-token limit 9999 (buy) or 1 (sell), and ``tif`` GTC becomes IOC.
    """
    side, token, amount, tif, price = order.side, order.token, order.amount, order.tif, order.price
    if side != "buy" and side != "sell":
        raise MatchError("INVALID_SIDE", f"side must be 'buy' or 'sell', got {side!r}")
    if token != "YES" and token != "NO":
        raise MatchError("INVALID_TOKEN", f"token must be 'YES' or 'NO', got {token!r}")
    if type(amount) is not int or amount <= 0:
        raise MatchError("INVALID_AMOUNT", f"amount must be a positive int, got {amount!r}")
    if order.kind == "limit":
        if type(price) is not int or not MIN_PRICE <= price <= MAX_PRICE:
            raise MatchError("INVALID_PRICE", f"limit price must be 1..9999, got {price!r}")
        if tif not in _LIMIT_TIFS:
            raise MatchError("INVALID_TIF", f"unknown time in force {tif!r}")
    elif order.kind == "market":
        if price is not None:
            raise MatchError("INVALID_PRICE", "a market order takes no price")
        price = MAX_PRICE if side == "buy" else MIN_PRICE
        if tif == "GTC":
            tif = "IOC"
        elif tif != "IOC" and tif != "FOK":
            raise MatchError("INVALID_TIF", f"a market order cannot be {tif!r}")
    else:
        raise MatchError("INVALID_KIND", f"kind must be 'limit' or 'market', not {order.kind!r}")
    expires = order.expires_at
    if (tif == "GTD") != (expires is not None) or (expires is not None and expires <= now):
        raise MatchError("INVALID_EXPIRY", "GTD needs expires_at > now; other tifs take none")
    return RestingOrder(
        order.id, order.user_id, side, token, price, amount, seq, order.kind, amount,
        0, 0, 0, 0, tif, expires, order.client_order_id,
    )  # fmt: skip


def _settle_leg(order: RestingOrder, units: int, own_price: int, fee_bps: int) -> tuple[int, int]:
    """Apply one side of a fill to ``order``; returns ``(cash_delta, fee)``."""
    order.filled_units += units
    if order.is_buy:
        cost = -(-units * own_price // SCALE)
        fee = fee_on(cost, fee_bps)
        order.remaining -= cost + fee
        order.spent += cost + fee
        order.fees += fee
        return -(cost + fee), fee
    gross = units * own_price // SCALE
    fee = fee_on(gross, fee_bps)
    order.remaining -= units
    order.received += gross - fee
    order.fees += fee
    return gross - fee, fee


def execute_fill(taker: RestingOrder, maker: RestingOrder, fee_bps: int, unit_cost: int) -> tuple[Fill, bool, bool]:
    """Fill ``taker`` against ``maker`` at the maker's price: ``(fill, maker_done, taker_done)``.

    Units = the most both can do; a buy's share is what its budget affords at its own price.
    Mutates both orders' cumulative fields; the maker's status becomes partial or filled.
    """
    p_yes = maker.yes_price
    t_price = p_yes if taker.is_yes else SCALE - p_yes
    m_price = p_yes if maker.is_yes else SCALE - p_yes
    t_avail = max_buy_units(taker.remaining, t_price, fee_bps) if taker.is_buy else taker.remaining
    m_avail = max_buy_units(maker.remaining, m_price, fee_bps) if maker.is_buy else maker.remaining
    units = t_avail if t_avail < m_avail else m_avail
    t_cash, t_fee = _settle_leg(taker, units, t_price, fee_bps)
    m_cash, m_fee = _settle_leg(maker, units, m_price, fee_bps)
    kind: FillKind
    if taker.is_buy == maker.is_buy:
        collateral = units if taker.is_buy else -units
        kind = "MINT" if taker.is_buy else "MERGE"
    else:
        collateral = 0
        kind = "TRANSFER_YES" if taker.is_yes else "TRANSFER_NO"
    # = payers' ceil grosses - receivers' floor grosses - collateral locked (0 or 1 kopeck).
    rounding = -(t_cash + t_fee + m_cash + m_fee + collateral)
    m_done = maker.remaining < unit_cost if maker.is_buy else maker.remaining == 0
    maker.status = "filled" if m_done else "partial"
    t_done = taker.remaining < unit_cost if taker.is_buy else taker.remaining == 0
    fill = Fill(
        kind, units, p_yes,
        taker.id, taker.user_id, taker.side, taker.token, t_price, t_cash, t_fee,
        maker.id, maker.user_id, maker.side, maker.token, m_price, m_cash, m_fee,
        collateral, rounding, maker.remaining, maker.filled_units, maker.status,
    )  # fmt: skip
    return fill, m_done, t_done
