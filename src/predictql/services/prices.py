"""The one rule for a market's displayed price: REST, GraphQL, subscriptions, charts and PnL call it.

Pure over the market row (no I/O), so a query, a stream message and a chart point made from the
same row cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from predictql.models import Market
from predictql.pricing import lmsr
from predictql.pricing.orderbook_types import SCALE


@dataclass(frozen=True, slots=True)
class Price:
    """YES and NO in basis points (``yes + no == 10000``) and YES as a probability in [0, 1]."""

    yes: int
    no: int
    yes_probability: float

    def of(self, token: str) -> int:
        """The price of ``token`` ("YES" or "NO") in basis points."""
        return self.yes if token == "YES" else self.no


def market_price(market: Market) -> Price:
    """A resolved market is worth its payoff (YES won: 10000/0); an order-book market that has
    traded is at its last execution price; otherwise the LMSR price of its state (for an
    order-book market, whose q's stay 0, that is its prior ``p0``). A cancelled event's markets
    have no winner and keep their last price.

    Computed once per market state (``_price`` is memoized on the columns it reads): a feed page
    asks for the same unchanged markets request after request, and the LMSR price is most of the
    CPU of building a ``Market`` (``bench/RESULTS.md``, "The executed feed at 2x")."""
    return _price(
        market.resolved,
        market.winning_outcome,
        market.market_type,
        market.last_price,
        market.q_yes,
        market.q_no,
        market.lmsr_b,
        market.p0,
    )


PRICE_MEMO_SIZE = 16_384
"""Market states whose price stays memoized (~200 bytes each); a changed market is a new state."""


@lru_cache(maxsize=PRICE_MEMO_SIZE, typed=True)
def _price(
    resolved: bool,
    winning_outcome: str | None,
    market_type: str,
    last_price: int | None,
    q_yes: int,
    q_no: int,
    b: int,
    p0: float,
) -> Price:
    if resolved and winning_outcome is not None:
        won = winning_outcome == "YES"
        return Price(SCALE if won else 0, 0 if won else SCALE, 1.0 if won else 0.0)
    if market_type == "orderbook" and last_price is not None:
        return Price(last_price, SCALE - last_price, last_price / SCALE)
    state = lmsr.MarketState(q_yes, q_no, b, p0)
    yes, no = lmsr.price_bps(state)
    return Price(yes, no, lmsr.price_yes(state))


def probability_bps(probability: float) -> int:
    """A recorded YES probability (a price point) in basis points, rounded as ``lmsr.price_bps``
    rounds a live price (half up, clamped to 0..10000): a candle and the market agree."""
    return min(max(math.floor(probability * SCALE + 0.5), 0), SCALE)
