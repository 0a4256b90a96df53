"""Tests for predictql.pricing.fees (integer kopecks, basis points)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictql.pricing.fees import (
    BPS_DENOMINATOR,
    REFERRAL_BPS,
    buy_total,
    fee_on,
    referral_split,
    sell_net,
)

amounts = st.integers(min_value=0, max_value=10**15)
rates = st.integers(min_value=0, max_value=BPS_DENOMINATOR)
levels_st = st.integers(min_value=0, max_value=len(REFERRAL_BPS))


def test_fee_example_two_percent_of_6000() -> None:
    assert fee_on(6000, 200) == 120
    assert buy_total(6000, 200) == 6120
    assert sell_net(6000, 200) == 5880


def test_fee_rounds_up() -> None:
    assert fee_on(1, 1) == 1
    assert fee_on(101, 100) == 2  # 1.01 -> 2
    assert fee_on(100, 100) == 1  # exact, no extra kopeck
    assert sell_net(101, 100) == 99


def test_fee_edge_rates() -> None:
    assert fee_on(0, 200) == 0
    assert fee_on(12345, 0) == 0
    assert fee_on(12345, BPS_DENOMINATOR) == 12345
    assert sell_net(12345, BPS_DENOMINATOR) == 0


def test_referral_split_example() -> None:
    assert REFERRAL_BPS == (1500, 400, 100)
    assert referral_split(120, 3) == ([18, 4, 1], 97)
    assert referral_split(120, 2) == ([18, 4], 98)
    assert referral_split(120, 1) == ([18], 102)
    assert referral_split(120, 0) == ([], 120)
    assert referral_split(0, 3) == ([0, 0, 0], 0)


@pytest.mark.parametrize(
    ("func", "args"),
    [
        (fee_on, (-1, 100)),
        (fee_on, (100, -1)),
        (fee_on, (100, BPS_DENOMINATOR + 1)),
        (fee_on, (1.5, 100)),
        (fee_on, (True, 100)),
        (buy_total, (-5, 100)),
        (sell_net, (-5, 100)),
        (referral_split, (-1, 1)),
        (referral_split, (100, 4)),
        (referral_split, (100, -1)),
    ],
)
def test_invalid_inputs_raise(func: Callable[..., object], args: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        func(*args)


@settings(max_examples=300)
@given(amounts, rates)
def test_fee_on_is_exact_ceiling(amount: int, bps: int) -> None:
    exact = Fraction(amount * bps, BPS_DENOMINATOR)
    fee = fee_on(amount, bps)
    assert exact <= fee < exact + 1
    assert 0 <= fee <= amount


@settings(max_examples=200)
@given(amounts, rates)
def test_buy_and_sell_favour_platform(amount: int, bps: int) -> None:
    exact = Fraction(amount * bps, BPS_DENOMINATOR)
    assert buy_total(amount, bps) >= amount + exact
    net = sell_net(amount, bps)
    assert 0 <= net <= amount - exact
    assert buy_total(amount, bps) - amount == amount - net  # same fee both ways


@settings(max_examples=200)
@given(amounts, amounts, rates)
def test_fee_on_is_monotone(a: int, b: int, bps: int) -> None:
    lo, hi = sorted((a, b))
    assert fee_on(lo, bps) <= fee_on(hi, bps)


@settings(max_examples=300)
@given(amounts, levels_st)
def test_referral_split_sums_exactly(fee: int, levels: int) -> None:
    shares, platform = referral_split(fee, levels)
    assert len(shares) == levels
    assert sum(shares) + platform == fee
    for share, bps in zip(shares, REFERRAL_BPS, strict=False):
        assert share == fee * bps // BPS_DENOMINATOR
        assert share >= 0
    # Referrers never get more than 20 % in total; the platform keeps the rest.
    assert platform >= fee - fee * sum(REFERRAL_BPS) // BPS_DENOMINATOR
