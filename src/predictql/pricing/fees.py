"""Trading fees and referral splits, in integer kopecks.

Units and conventions
---------------------
* Every amount is an ``int`` number of kopecks; every rate is an ``int`` in
  basis points (1 bps = 0.01 %, ``10_000`` bps = 100 %).
* Only integer arithmetic is used (no floats), so results are exact and
  deterministic on every platform.
* Rounding always favours the platform: a fee the user pays is rounded UP to
  the kopeck, so ``buy_total`` rounds the user's payment up and ``sell_net``
  rounds the user's proceeds down.
* A fee is charged on the *gross* amount: on a buy, the AMM/counterparty cost
  (the fee is added on top); on a sell, the gross proceeds (the fee is taken
  out).
"""

from __future__ import annotations

BPS_DENOMINATOR = 10_000
"""Basis points in 100 %."""

REFERRAL_BPS: tuple[int, int, int] = (1500, 400, 100)
"""Share of a collected fee paid to referral levels 1, 2, 3 (15 %, 4 %, 1 %)."""

MAX_REFERRAL_LEVELS = len(REFERRAL_BPS)


def _check_int(name: str, value: int, low: int, high: int | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is an int (not bool) in ``[low, high]``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f"..{high}"
        raise ValueError(f"{name} must be in {low}{upper or '..'}, got {value}")


def fee_on(amount_kopecks: int, fee_bps: int) -> int:
    """Fee in kopecks on a gross amount: ``ceil(amount_kopecks * fee_bps / 10_000)``.

    ``amount_kopecks >= 0``; ``0 <= fee_bps <= 10_000``.  Invariants:
    ``amount * fee_bps / 10_000 <= fee_on(...) < that + 1`` and
    ``0 <= fee_on(...) <= amount_kopecks``.
    """
    _check_int("amount_kopecks", amount_kopecks, 0)
    _check_int("fee_bps", fee_bps, 0, BPS_DENOMINATOR)
    return -(-amount_kopecks * fee_bps // BPS_DENOMINATOR)


def buy_total(cost: int, fee_bps: int) -> int:
    """What a buyer pays, in kopecks: ``cost + fee_on(cost, fee_bps)`` (>= ``cost``)."""
    return cost + fee_on(cost, fee_bps)


def sell_net(gross: int, fee_bps: int) -> int:
    """What a seller receives, in kopecks: ``gross - fee_on(gross, fee_bps)``.

    Always ``0 <= sell_net(...) <= gross`` (the fee never exceeds the gross).
    """
    return max(0, gross - fee_on(gross, fee_bps))


def referral_split(fee: int, levels: int) -> tuple[list[int], int]:
    """Split a collected fee (kopecks) between referrers and the platform.

    ``levels`` is the number of referrers in the chain (0..3); level ``i`` gets
    ``floor(fee * REFERRAL_BPS[i] / 10_000)``.  Returns ``(shares, platform)``
    where ``len(shares) == levels`` and ``sum(shares) + platform == fee``
    exactly; the platform keeps every rounding remainder.
    """
    _check_int("fee", fee, 0)
    _check_int("levels", levels, 0, MAX_REFERRAL_LEVELS)
    shares = [fee * bps // BPS_DENOMINATOR for bps in REFERRAL_BPS[:levels]]
    return shares, fee - sum(shares)
