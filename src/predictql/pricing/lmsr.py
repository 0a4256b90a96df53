"""Binary LMSR market maker with a per-market prior ``p0``.

Units: quantities ``q_yes``/``q_no`` and trade sizes are int *share units* (one
unit pays 1 kopeck if its side wins); liquidity ``b`` is an int in share units
(= kopecks); ``p0`` is the initial YES probability, a float in (0, 1).  Quote
money is int kopecks; ``cost``/``cost_delta`` return exact float kopecks.

Model: ``C(q) = b ln(p0 e^(q_yes/b) + (1 - p0) e^(q_no/b))``, ``C(0, 0) = 0``, so
the AMM's exact cumulative net receipts equal ``C(q)``.  Prices are the gradient:
``price_yes = sigmoid(z)``, ``z = logit(p0) + (q_yes - q_no)/b``; at ``q_yes ==
q_no`` the price is exactly ``p0``.  Loss is bounded by ``max_loss(b, p0)``.

Numerics: log space throughout (softplus / log-sigmoid); trade costs are computed
directly (``log1p``/``expm1``), never as ``C(q+u) - C(q)``: no overflow for any
float-representable ``q/b`` and no cancellation for tiny trades vs huge ``b``.

Rounding favours the platform: a buy's AMM amount is rounded up (at least 1
kopeck), a sell's is rounded down, after a relative ``ROUNDING_GUARD`` margin in
the platform's favour absorbs float error.  Deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from predictql.pricing.fees import BPS_DENOMINATOR, fee_on

PRICE_EPS = 1e-15
"""Reported prices are clamped to ``[PRICE_EPS, 1 - PRICE_EPS]`` (see ``prices``)."""

ROUNDING_GUARD = 1e-13
"""Relative margin added in the platform's favour before rounding float costs."""

MAX_UNITS = 2**53
"""Largest trade size / budget accepted (float-exact integer range)."""


@dataclass(frozen=True, slots=True)
class MarketState:
    """LMSR state: outstanding units ``q_yes``/``q_no`` (ints), ``b`` > 0, 0 < ``p0`` < 1.

    Validated on construction (``ValueError``).  ``b`` and ``p0`` are fixed for
    the market's lifetime: changing them moves prices and ``C``.
    """

    q_yes: int
    q_no: int
    b: int
    p0: float

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` unless ints are ints, ``b > 0`` and ``0 < p0 < 1``."""
        for name in ("q_yes", "q_no", "b"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"MarketState.{name} must be an int, got {value!r}")
        if self.b <= 0:
            raise ValueError(f"MarketState.b must be > 0, got {self.b}")
        p0 = self.p0
        if not isinstance(p0, (int, float)) or isinstance(p0, bool) or not 0.0 < p0 < 1.0:
            raise ValueError(f"MarketState.p0 must be a float in (0, 1), got {p0!r}")


class Side(StrEnum):
    """Trade direction; buying increases that side's ``q``, selling decreases it."""

    BUY_YES = "buy_yes"
    SELL_YES = "sell_yes"
    BUY_NO = "buy_no"
    SELL_NO = "sell_no"

    @property
    def is_buy(self) -> bool:
        return self in (Side.BUY_YES, Side.BUY_NO)

    @property
    def is_yes(self) -> bool:
        return self in (Side.BUY_YES, Side.SELL_YES)


@dataclass(frozen=True, slots=True)
class Quote:
    """Result of a trade quote; all money in integer kopecks.

    ``shares``: units moved (0 only for an unaffordable spend quote).
    ``amm_amount``: what the AMM receives on a buy (rounded up) or pays on a sell
    (rounded down), before fee.  ``fee = fee_on(amm_amount, fee_bps)``.
    ``total``: buy -> user pays ``amm_amount + fee``; sell -> user receives
    ``amm_amount - fee``.  ``new_state``: state after the trade.
    """

    side: Side
    shares: int
    amm_amount: int
    fee: int
    total: int
    new_state: MarketState


# --- stable scalar helpers -------------------------------------------------


def _softplus(x: float) -> float:
    """``ln(1 + e^x)`` without overflow or cancellation."""
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


def _sigmoid(z: float) -> float:
    """``1 / (1 + e^-z)``, relatively accurate on both tails (may underflow to 0)."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _log_expm1(s: float) -> float:
    """``ln(e^s - 1)`` for ``s > 0``."""
    return s + math.log1p(-math.exp(-s)) if s > 1.0 else math.log(math.expm1(s))


def _logit(state: MarketState) -> float:
    """Logit of the YES price: ``ln(p0/(1-p0)) + (q_yes - q_no)/b`` (exact int diff)."""
    return math.log(state.p0) - math.log1p(-state.p0) + (state.q_yes - state.q_no) / state.b


def _side_logit(state: MarketState, side: Side) -> float:
    z = _logit(state)
    return z if side.is_yes else -z


def _delta_over_b(z: float, a: float, t: float) -> float:
    """``ln(1 - P + P e^t)``, ``P = sigmoid(z)``: cost change / b for ``t = ±u/b``.

    ``z``/``a`` are the traded side's logits before/after (``a = z + t``, passed in
    separately because it is computed from exact int quantities).
    """
    if abs(t) <= 1.0:
        return math.log1p(_sigmoid(z) * math.expm1(t))
    if a >= 0.0 and z >= 0.0:
        return t + math.log1p(math.exp(-a)) - math.log1p(math.exp(-z))
    return _softplus(a) - _softplus(z)


def _round_up(x: float) -> int:
    return math.ceil(x + abs(x) * ROUNDING_GUARD)


def _round_down(x: float) -> int:
    return max(0, math.floor(x - abs(x) * ROUNDING_GUARD))


def _check_units(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if not 0 < value <= MAX_UNITS:
        raise ValueError(f"{name} must be in 1..{MAX_UNITS}, got {value}")


# --- public API -------------------------------------------------------------


def cost(state: MarketState) -> float:
    """``C(q)`` in kopecks (float); ``C(0, 0) == 0``.  Abs. error ~1e-16 * (|C| + b)."""
    z = _logit(state)
    if z >= 0.0:
        return state.q_yes + state.b * (math.log(state.p0) + _softplus(-z))
    return state.q_no + state.b * (math.log1p(-state.p0) + _softplus(z))


def log_prices(state: MarketState) -> tuple[float, float]:
    """Unclamped natural logs ``(ln price_yes, ln price_no)``; finite, always <= 0."""
    z = _logit(state)
    return -_softplus(-z), -_softplus(z)


def prices(state: MarketState) -> tuple[float, float]:
    """``(price_yes, price_no)``, both strictly in (0, 1), summing to 1 (within 1 ulp).

    At ``q_yes == q_no`` returns ``p0`` exactly.  The smaller price is computed
    accurately and the larger as ``1 - smaller``.  Binary64 cannot represent
    ``1 - x`` for ``x < ~1.1e-16``, so the smaller price is clamped to
    ``>= PRICE_EPS`` (1e-15); this only happens when ``|logit| > ~34.5``.  Use
    ``log_prices`` for unclamped tail values; costs never use clamped prices.
    """
    if state.q_yes == state.q_no:
        yes_is_small, small = state.p0 <= 0.5, min(state.p0, 1.0 - state.p0)
    else:
        z = _logit(state)
        yes_is_small, small = z < 0.0, _sigmoid(-abs(z))
    small = max(small, PRICE_EPS)
    big = 1.0 - small
    return (small, big) if yes_is_small else (big, small)


def price_yes(state: MarketState) -> float:
    """Instantaneous YES price (probability) in (0, 1); see ``prices``."""
    return prices(state)[0]


def price_no(state: MarketState) -> float:
    """Instantaneous NO price (probability) in (0, 1); ``price_yes + price_no == 1``."""
    return prices(state)[1]


def price_bps(state: MarketState) -> tuple[int, int]:
    """``(yes_bps, no_bps)`` in 0..10_000, YES rounded half-up, ``no = 10_000 - yes``."""
    yes = math.floor(price_yes(state) * BPS_DENOMINATOR + 0.5)
    yes = min(max(yes, 0), BPS_DENOMINATOR)
    return yes, BPS_DENOMINATOR - yes


def cost_delta(state: MarketState, side: Side, shares: int) -> float:
    """Exact (float) change of ``C`` in kopecks when trading ``shares`` units.

    Positive for buys (the AMM receives it), negative for sells (the AMM pays
    ``-cost_delta``).  Equals ``C(new) - C(old)`` but is computed directly.
    """
    _check_units("shares", shares)
    t = shares / state.b if side.is_buy else -shares / state.b
    z, a = _side_logit(state, side), _side_logit(_moved(state, side, shares), side)
    return state.b * _delta_over_b(z, a, t)


_set = object.__setattr__  # MarketState is frozen


def _moved(state: MarketState, side: Side, shares: int) -> MarketState:
    """``state`` after trading ``shares`` (an int) on ``side``: a valid state with one int ``q``
    moved by an int, built without ``replace``'s re-validation (a quote moves the state ~6 times)."""
    signed = shares if side.is_buy else -shares
    moved: MarketState = object.__new__(MarketState)
    if side.is_yes:
        _set(moved, "q_yes", state.q_yes + signed)
        _set(moved, "q_no", state.q_no)
    else:
        _set(moved, "q_yes", state.q_yes)
        _set(moved, "q_no", state.q_no + signed)
    _set(moved, "b", state.b)
    _set(moved, "p0", state.p0)
    return moved


def _amounts(state: MarketState, side: Side, shares: int, fee_bps: int) -> tuple[int, int, int]:
    """``(amm_amount, fee, total)`` of ``quote_shares``."""
    delta = cost_delta(state, side, shares)
    amm = max(1, _round_up(delta)) if side.is_buy else _round_down(-delta)
    fee = fee_on(amm, fee_bps)
    return amm, fee, (amm + fee if side.is_buy else amm - fee)


def quote_shares(state: MarketState, side: Side, shares: int, fee_bps: int) -> Quote:
    """Quote trading exactly ``shares`` (> 0) units on ``side`` with a fee in bps.

    Buy: ``amm_amount = max(1, ceil(cost_delta))``; sell: ``amm_amount =
    floor(-cost_delta)`` (>= 0).  Selling more than a position is not checked here.
    """
    side = Side(side)
    amm, fee, total = _amounts(state, side, shares, fee_bps)
    return Quote(side, shares, amm, fee, total, _moved(state, side, shares))


def _estimate_units(state: MarketState, side: Side, amm_budget: int) -> int:
    """Closed-form inverse of the buy cost: units whose exact cost is ``amm_budget``."""
    ln_p = -_softplus(-_side_logit(state, side))
    target = amm_budget / (1.0 + ROUNDING_GUARD) / state.b  # undo the rounding guard
    units = state.b * _softplus(_log_expm1(target) - ln_p)
    if not math.isfinite(units):
        return 0
    return min(max(0, math.floor(units)), MAX_UNITS)


def quote_spend(state: MarketState, side: Side, budget: int, fee_bps: int) -> Quote:
    """Quote buying the most units whose ``total`` (AMM cost + fee) is <= ``budget``.

    Buy sides only.  The result is exactly maximal: ``total <= budget`` and
    ``quote_shares(shares + 1).total > budget``.  Uses the closed-form inverse,
    then a galloping/bisection correction (typically 2-3 cost evaluations).
    ``shares == 0`` (zero amounts, unchanged state) if not even 1 unit fits.
    """
    side = Side(side)
    if not side.is_buy:
        raise ValueError(f"quote_spend supports buy sides only, got {side.value}")
    _check_units("budget", budget)
    fee_on(budget, fee_bps)  # validates fee_bps
    amm_budget = budget * BPS_DENOMINATOR // (BPS_DENOMINATOR + fee_bps)

    def fits(units: int) -> bool:
        if units == 0:
            return True
        if units > MAX_UNITS:
            return False
        return _amounts(state, side, units, fee_bps)[2] <= budget

    lo = hi = _estimate_units(state, side, amm_budget) if amm_budget > 0 else 0
    step = 1
    if fits(lo):
        while fits(lo + step):
            lo, step = lo + step, step * 2
        hi = lo + step
    else:
        while not fits(max(0, hi - step)):
            hi, step = hi - step, step * 2
        lo = max(0, hi - step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    if lo == 0:
        return Quote(side, 0, 0, 0, 0, state)
    return quote_shares(state, side, lo, fee_bps)


def max_loss(b: int, p0: float) -> float:
    """Worst-case market-maker loss in kopecks: ``b * ln(1 / min(p0, 1 - p0))``.

    This is the subsidy bound of LMSR with prior ``p0``: since ``C(q) >= q_yes
    + b ln p0`` and ``C(q) >= q_no + b ln(1-p0)``, the AMM's exact receipts
    ``C(q)`` minus any payout ``max(q_yes, q_no)`` are ``>= -max_loss``.
    """
    MarketState(0, 0, b, p0)  # validates b and p0
    return -b * (math.log(p0) if p0 <= 0.5 else math.log1p(-p0))
