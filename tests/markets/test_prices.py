"""``services.prices.market_price``: the one displayed-price rule, over plain market rows."""

from __future__ import annotations

from predictql.models import Market
from predictql.pricing import lmsr
from predictql.services.prices import market_price


def market(**fields: object) -> Market:
    base: dict[str, object] = {"id": 1, "pool_id": 1, "event_id": 1, "name": "Yes", "lmsr_b": 1_000_000, "p0": 0.55}
    return Market(**{**base, **fields})


def test_lmsr_market_is_at_its_lmsr_price() -> None:
    row = market(q_yes=40_000, q_no=1_000)
    state = lmsr.MarketState(40_000, 1_000, 1_000_000, 0.55)
    price = market_price(row)
    assert (price.yes, price.no) == lmsr.price_bps(state) and price.yes_probability == lmsr.price_yes(state)
    assert price.yes + price.no == 10_000 and price.of("NO") == price.no


def test_order_book_market_is_at_its_last_execution_or_its_prior() -> None:
    assert (market_price(market(market_type="orderbook")).yes, market_price(market(market_type="orderbook")).no) == (
        5500,
        4500,
    )
    traded = market_price(market(market_type="orderbook", last_price=6130))
    assert (traded.yes, traded.no, traded.yes_probability) == (6130, 3870, 0.613)


def test_resolved_market_is_worth_its_payoff_and_a_cancelled_one_keeps_its_price() -> None:
    for kind in ("lmsr", "orderbook"):
        won = market_price(market(market_type=kind, last_price=6130, resolved=True, winning_outcome="NO"))
        assert (won.yes, won.no, won.yes_probability) == (0, 10_000, 0.0)
    cancelled = market_price(market(market_type="orderbook", last_price=6130, resolved=True))
    assert cancelled.yes == 6130
