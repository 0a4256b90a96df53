"""Tests for predictql.pricing.lmsr (binary LMSR with prior p0)."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictql.pricing import lmsr
from predictql.pricing.fees import fee_on
from predictql.pricing.lmsr import (
    PRICE_EPS,
    MarketState,
    Side,
    cost,
    cost_delta,
    log_prices,
    max_loss,
    price_bps,
    price_no,
    price_yes,
    prices,
    quote_shares,
    quote_spend,
)

BUYS = (Side.BUY_YES, Side.BUY_NO)
SELL_OF = {Side.BUY_YES: Side.SELL_YES, Side.BUY_NO: Side.SELL_NO}

p0s = st.floats(min_value=0.001, max_value=0.999)
bs = st.integers(min_value=1_000, max_value=100_000_000)
wide_q = st.integers(min_value=-(10**9), max_value=10**9)
sides = st.sampled_from(list(Side))
buy_sides = st.sampled_from(BUYS)
fees = st.sampled_from([0, 1, 200, 500, 10_000])


@st.composite
def states(draw: st.DrawFn, max_ratio: float = 50.0) -> MarketState:
    """Random state with |q|/b up to ``max_ratio``."""
    b = draw(bs)
    bound = int(b * max_ratio)
    q = st.integers(min_value=0, max_value=bound)
    return MarketState(draw(q), draw(q), b, draw(p0s))


def ref_cost(state: MarketState, prec: int = 80) -> Decimal:
    """High-precision reference C(q)."""
    with localcontext() as ctx:
        ctx.prec, ctx.Emax, ctx.Emin = prec, 10**9, -(10**9)
        p, b = Decimal(state.p0), Decimal(state.b)
        s = p * (Decimal(state.q_yes) / b).exp() + (1 - p) * (Decimal(state.q_no) / b).exp()
        return b * s.ln()


# --- prices ------------------------------------------------------------------


@given(p0s, bs, st.integers(min_value=-(10**9), max_value=10**9))
def test_price_at_balanced_state_is_p0(p0: float, b: int, q: int) -> None:
    state = MarketState(q, q, b, p0)
    assert abs(price_yes(state) - p0) <= 1e-12
    assert price_yes(state) == p0  # honoured exactly
    assert abs(price_no(state) - (1 - p0)) <= 1e-12


def test_price_bps_examples() -> None:
    assert price_bps(MarketState(0, 0, 1_000, 0.40)) == (4000, 6000)
    assert price_bps(MarketState(0, 0, 1_000, 0.65)) == (6500, 3500)
    assert price_bps(MarketState(0, 0, 1_000, 0.00004)) == (0, 10_000)
    assert price_bps(MarketState(0, 0, 1_000, 0.00005)) == (1, 9_999)  # half-up


@settings(max_examples=300)
@given(wide_q, wide_q, bs, st.floats(min_value=1e-9, max_value=1 - 1e-9))
def test_prices_in_open_interval_and_sum_to_one(q_yes: int, q_no: int, b: int, p0: float) -> None:
    state = MarketState(q_yes, q_no, b, p0)
    yes, no = prices(state)
    assert 0.0 < yes < 1.0
    assert 0.0 < no < 1.0
    assert abs(yes + no - 1.0) <= 1e-12
    assert (yes, no) == (price_yes(state), price_no(state))
    y_bps, n_bps = price_bps(state)
    assert 0 <= y_bps <= 10_000 and y_bps + n_bps == 10_000
    ln_yes, ln_no = log_prices(state)
    assert math.isfinite(ln_yes) and math.isfinite(ln_no) and ln_yes <= 0.0 and ln_no <= 0.0
    assert math.isfinite(cost(state))


def test_extreme_prices_are_clamped_not_degenerate() -> None:
    state = MarketState(700_000, 0, 1_000, 0.5)  # |q_yes - q_no| / b == 700
    yes, no = prices(state)
    assert no == PRICE_EPS and yes == 1.0 - PRICE_EPS and yes < 1.0
    assert log_prices(state)[1] == pytest.approx(-700.0, abs=1e-9)  # unclamped log
    far = MarketState(0, 10**9, 1_000, 0.5)  # |q|/b == 1e6, way past exp overflow
    assert prices(far) == (PRICE_EPS, 1.0 - PRICE_EPS)
    assert cost(far) == pytest.approx(10**9 + 1_000 * math.log(0.5), rel=1e-15)


@settings(max_examples=100)
@given(states(), st.integers(min_value=1, max_value=10**7))
def test_price_matches_reference(state: MarketState, u: int) -> None:
    moved = MarketState(state.q_yes + u, state.q_no, state.b, state.p0)
    with localcontext() as ctx:
        ctx.prec = 50
        logit0 = (Decimal(moved.p0) / (1 - Decimal(moved.p0))).ln()
        z = logit0 + Decimal(moved.q_yes - moved.q_no) / Decimal(moved.b)
        ref_no = float(1 / (1 + z.exp()))
    assert price_no(moved) == pytest.approx(max(ref_no, PRICE_EPS), rel=1e-11)
    assert price_yes(moved) >= price_yes(state)  # buying YES never lowers its price


# --- cost ----------------------------------------------------------------------


def test_cost_at_origin_is_zero() -> None:
    assert cost(MarketState(0, 0, 12_345, 0.3)) == 0.0


@settings(max_examples=100)
@given(states(max_ratio=1e4))
def test_cost_matches_reference(state: MarketState) -> None:
    ref = float(ref_cost(state))
    assert cost(state) == pytest.approx(ref, rel=1e-13, abs=1e-13 * state.b)


@settings(max_examples=100)
@given(states(max_ratio=1e3), sides, st.integers(min_value=1, max_value=10**9))
def test_cost_delta_matches_reference(state: MarketState, side: Side, u: int) -> None:
    """Direct differences stay accurate even when u << b << C (no cancellation)."""
    after = quote_shares(state, side, u, 0).new_state
    ref = float(ref_cost(after) - ref_cost(state))
    assert cost_delta(state, side, u) == pytest.approx(ref, rel=1e-13, abs=1e-30 * state.b)


def test_tiny_trade_against_huge_b() -> None:
    for p0 in (0.001, 0.3, 0.5, 0.65, 0.999):
        state = MarketState(0, 0, 100_000_000, p0)
        exact = cost_delta(state, Side.BUY_YES, 1)
        assert exact == pytest.approx(p0, abs=1e-8)
        assert exact > p0  # convex: slightly above the spot price
        assert quote_shares(state, Side.BUY_YES, 1, 0).amm_amount == 1  # ceil(p0 + eps)
        assert quote_shares(state, Side.SELL_YES, 1, 0).amm_amount == 0  # floor(p0 - eps)


def test_huge_trades_do_not_overflow() -> None:
    state = MarketState(0, 0, 1_000, 0.5)
    q = quote_shares(state, Side.BUY_YES, 10**12, 200)
    assert q.amm_amount == pytest.approx(10**12 + 1_000 * math.log(0.5), abs=1)
    back = quote_shares(q.new_state, Side.SELL_YES, 10**12, 0)
    assert back.amm_amount <= q.amm_amount
    assert quote_shares(state, Side.BUY_NO, 1, 0).amm_amount == 1


@settings(max_examples=100)
@given(states(), st.lists(st.tuples(sides, st.integers(1, 10**8)), min_size=1, max_size=8))
def test_path_independence(state: MarketState, trades: list[tuple[Side, int]]) -> None:
    start, total, scale = state, 0.0, float(state.b)
    for side, u in trades:
        total += cost_delta(state, side, u)
        scale += abs(cost(state)) + u
        state = quote_shares(state, side, u, 0).new_state
    direct = cost(state) - cost(start)
    assert total == pytest.approx(direct, abs=1e-13 * (scale + abs(cost(state))))


# --- quotes ----------------------------------------------------------------------


@settings(max_examples=100)
@given(states(), sides, st.integers(1, 10**9), fees)
def test_quote_accounting(state: MarketState, side: Side, u: int, fee_bps: int) -> None:
    q = quote_shares(state, side, u, fee_bps)
    assert q.side is side and q.shares == u and q.fee == fee_on(q.amm_amount, fee_bps)
    delta = cost_delta(state, side, u)
    if side.is_buy:
        assert q.amm_amount >= max(1, delta) and q.amm_amount - 1 < delta * (1 + 1e-9)
        assert q.total == q.amm_amount + q.fee
    else:
        assert 0 <= q.amm_amount <= -delta and q.amm_amount + 1 > -delta * (1 - 1e-9)
        assert q.total == q.amm_amount - q.fee >= 0
    d_yes, d_no = q.new_state.q_yes - state.q_yes, q.new_state.q_no - state.q_no
    signed = u if side.is_buy else -u
    assert (d_yes, d_no) == ((signed, 0) if side.is_yes else (0, signed))


@pytest.mark.parametrize("fee_bps", [0, 200])
@settings(max_examples=100)
@given(state=states(), side=buy_sides, u=st.integers(1, 10**9))
def test_buy_then_sell_never_profits(state: MarketState, side: Side, u: int, fee_bps: int) -> None:
    bought = quote_shares(state, side, u, fee_bps)
    sold = quote_shares(bought.new_state, SELL_OF[side], u, fee_bps)
    assert sold.new_state == state
    assert sold.total <= bought.total


@settings(max_examples=150)
@given(states(), buy_sides, st.integers(1, 10**10), fees)
def test_spend_quote_is_maximal(state: MarketState, side: Side, budget: int, fee_bps: int) -> None:
    q = quote_spend(state, side, budget, fee_bps)
    assert q.total <= budget
    if q.shares:
        assert q == quote_shares(state, side, q.shares, fee_bps)
    else:
        assert (q.amm_amount, q.fee, q.total, q.new_state) == (0, 0, 0, state)
    assert quote_shares(state, side, q.shares + 1, fee_bps).total > budget


@settings(max_examples=100)
@given(states(max_ratio=1e3), buy_sides, st.integers(1, 10**12), fees)
def test_spend_quote_uses_few_evaluations(state: MarketState, side: Side, budget: int, fee_bps: int) -> None:
    calls = 0
    real = lmsr.cost_delta

    def counting(s: MarketState, sd: Side, n: int) -> float:
        nonlocal calls
        calls += 1
        return real(s, sd, n)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(lmsr, "cost_delta", counting)
        quote_spend(state, side, budget, fee_bps)
    assert calls <= 6


def test_docs_example_spend_1000_at_65_percent() -> None:
    state = MarketState(0, 0, 1_000_000, 0.65)
    q = quote_spend(state, Side.BUY_YES, 1000, 0)
    assert q.shares in (1537, 1538)
    assert q.total <= 1000
    assert price_yes(q.new_state) > 0.65


def test_spend_too_small_budget_buys_nothing() -> None:
    state = MarketState(0, 0, 1_000, 0.5)
    q = quote_spend(state, Side.BUY_YES, 1, 200)  # 1 unit costs 1 + fee 1 = 2
    assert q.shares == 0 and q.total == 0 and q.new_state == state


# --- loss bound ------------------------------------------------------------------


@settings(max_examples=100)
@given(bs, p0s, st.lists(st.tuples(sides, st.floats(0.0, 5.0)), min_size=1, max_size=12))
def test_market_maker_loss_is_bounded(b: int, p0: float, trades: list[tuple[Side, float]]) -> None:
    state, cash = MarketState(0, 0, b, p0), 0
    for side, frac in trades:
        held = state.q_yes if side.is_yes else state.q_no
        u = int(frac * b) if side.is_buy else min(int(frac * b), held)
        if u <= 0:
            continue
        q = quote_shares(state, side, u, 0)
        cash += q.amm_amount if side.is_buy else -q.amm_amount
        state = q.new_state
    tol = 1e-9 * (b + max(state.q_yes, state.q_no))
    assert cash >= cost(state) - tol  # rounding only ever favours the AMM
    assert cash - max(state.q_yes, state.q_no) >= -max_loss(b, p0) - tol


def test_max_loss_values() -> None:
    assert max_loss(1_000, 0.5) == pytest.approx(1_000 * math.log(2))
    assert max_loss(1_000, 0.65) == pytest.approx(1_000 * math.log(1 / 0.35))
    assert max_loss(1_000, 0.2) == pytest.approx(max_loss(1_000, 0.8))


# --- validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"b": 0},
        {"b": -5},
        {"p0": 0.0},
        {"p0": 1.0},
        {"p0": math.nan},
        {"p0": True},
        {"q_yes": 1.5},
        {"b": 10.0},
    ],
)
def test_invalid_state_raises(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"q_yes": 0, "q_no": 0, "b": 1_000, "p0": 0.5}
    with pytest.raises(ValueError):
        MarketState(**{**base, **kwargs})  # type: ignore[arg-type]


def test_invalid_quote_args_raise() -> None:
    state = MarketState(0, 0, 1_000, 0.5)
    for shares in (0, -1):
        with pytest.raises(ValueError, match="shares"):
            quote_shares(state, Side.BUY_YES, shares, 0)
    for budget in (0, -10):
        with pytest.raises(ValueError, match="budget"):
            quote_spend(state, Side.BUY_NO, budget, 0)
    with pytest.raises(ValueError, match="buy sides only"):
        quote_spend(state, Side.SELL_YES, 100, 0)
    with pytest.raises(ValueError, match="fee_bps"):
        quote_shares(state, Side.BUY_YES, 10, 10_001)
    with pytest.raises(ValueError):
        max_loss(0, 0.5)


def test_side_is_a_string_enum() -> None:
    assert Side("buy_yes") is Side.BUY_YES and isinstance(Side.SELL_NO, str)
    assert str(Side.SELL_NO) == f"{Side.SELL_NO}" == "sell_no"
    assert [s.is_buy for s in Side] == [True, False, True, False]
    assert [s.is_yes for s in Side] == [True, True, False, False]
