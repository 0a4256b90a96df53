"""Order book: worked examples, arithmetic, and random streams checked against a naive model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predictql.pricing.orderbook import (
    FOK_NOT_FILLABLE,
    POST_ONLY_WOULD_CROSS,
    Book,
    Fill,
    MatchError,
    NewOrder,
    OrderKind,
    RestingOrder,
    Side,
    SubmitResult,
    TimeInForce,
    Token,
)
from predictql.pricing.orderbook_types import _fee_on, buy_total, max_buy_units

_ids = iter(range(1, 10**9))


def order(
    user: int,
    side: str,
    token: str,
    price: int | None,
    amount: int,
    tif: str = "GTC",
    *,
    kind: str = "limit",
    expires_at: int | None = None,
    coid: str | None = None,
    oid: int | None = None,
) -> NewOrder:
    oid = next(_ids) if oid is None else oid
    return NewOrder(
        oid, user, cast(Side, side), cast(Token, token), cast(OrderKind, kind), price, amount,
        cast(TimeInForce, tif), expires_at, coid,
    )  # fmt: skip


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def check_fill(f: Fill, fee_bps: int) -> None:
    """Every fill, recomputed from its units and prices, conserves money exactly."""
    assert f.units > 0
    assert f.taker_cash + f.maker_cash + f.taker_fee + f.maker_fee + f.collateral + f.rounding == 0
    assert f.rounding in (0, 1)
    grosses = 0
    for side, token, price, cash, fee in (
        (f.taker_side, f.taker_token, f.taker_price, f.taker_cash, f.taker_fee),
        (f.maker_side, f.maker_token, f.maker_price, f.maker_cash, f.maker_fee),
    ):
        assert price == (f.price_yes if token == "YES" else 10_000 - f.price_yes)
        if side == "buy":
            cost = ceil_div(f.units * price, 10_000)
            assert fee == ceil_div(cost * fee_bps, 10_000)
            assert cash == -(cost + fee)
            grosses += cost
        else:
            gross = f.units * price // 10_000
            assert fee == ceil_div(gross * fee_bps, 10_000)
            assert cash == gross - fee
            grosses -= gross
    expected_kind = {
        ("buy", "sell", "YES"): "TRANSFER_YES",
        ("sell", "buy", "YES"): "TRANSFER_YES",
        ("buy", "sell", "NO"): "TRANSFER_NO",
        ("sell", "buy", "NO"): "TRANSFER_NO",
        ("buy", "buy", "YES"): "MINT",
        ("buy", "buy", "NO"): "MINT",
        ("sell", "sell", "YES"): "MERGE",
        ("sell", "sell", "NO"): "MERGE",
    }[(f.taker_side, f.maker_side, f.taker_token)]
    assert f.kind == expected_kind
    assert f.collateral == {"MINT": f.units, "MERGE": -f.units}.get(f.kind, 0)
    if f.kind.startswith("TRANSFER"):
        assert f.taker_token == f.maker_token
    else:
        assert f.taker_token != f.maker_token
    assert f.rounding == grosses - f.collateral


# --------------------------------------------------------------------------- worked examples
def test_yes_buy_crosses_resting_yes_sell_at_the_makers_price() -> None:
    book = Book(1, 0)
    maker = order(1, "sell", "YES", 5900, 1000)
    assert book.submit(maker, 0).rested
    r = book.submit(order(2, "buy", "YES", 6000, 10_000), 0)
    (f,) = r.fills
    assert (f.kind, f.units, f.price_yes, f.maker_order_id) == ("TRANSFER_YES", 1000, 5900, maker.id)
    assert (f.taker_cash, f.maker_cash, f.rounding, f.collateral) == (-590, 590, 0, 0)
    assert (f.maker_status, f.maker_remaining) == ("filled", 0)
    assert r.order.status == "partial" and r.order.remaining == 9410 and r.rested
    assert book.best_bid() == 6000 and book.best_ask() is None


def test_fifo_within_a_level_and_partial_fills() -> None:
    book = Book(1, 0)
    makers = [order(u, "sell", "YES", 5000, 100) for u in (1, 2, 3)]
    for m in makers:
        book.submit(m, 0)
    r = book.submit(order(9, "buy", "YES", 5000, 75), 0)  # 75 kopecks buy 150 units
    assert [(f.maker_order_id, f.units) for f in r.fills] == [(makers[0].id, 100), (makers[1].id, 50)]
    assert r.order.status == "filled" and r.order.remaining == 0 and not r.rested
    left = book.get(makers[1].id)
    assert left is not None and (left.status, left.remaining, left.filled_units) == ("partial", 50, 50)
    assert book.snapshot(5).asks == ((5000, 150),)
    r = book.submit(order(9, "buy", "YES", 5000, 30), 0)
    assert [(f.maker_order_id, f.units) for f in r.fills] == [(makers[1].id, 50), (makers[2].id, 10)]


def test_no_buy_against_resting_yes_buy_mints_a_pair() -> None:
    book = Book(1, 200)
    yes = order(1, "buy", "YES", 6000, 612)  # 612 = 600 + 2 % fee: exactly 1000 units
    book.submit(yes, 0)
    assert book.snapshot(1).bids == ((6000, 1000),)
    assert book.snapshot(1).flipped().asks == ((4000, 1000),)
    r = book.submit(order(2, "buy", "NO", 4000, 408), 0)
    (f,) = r.fills
    assert (f.kind, f.units, f.price_yes, f.taker_price, f.maker_price) == ("MINT", 1000, 6000, 4000, 6000)
    assert (f.taker_cash, f.taker_fee, f.maker_cash, f.maker_fee) == (-408, 8, -612, 12)
    assert (f.collateral, f.rounding) == (1000, 0)
    assert r.order.status == "filled" and f.maker_status == "filled" and len(book) == 0
    check_fill(f, 200)


def test_no_sell_against_resting_yes_sell_merges() -> None:
    book = Book(1, 0)
    book.submit(order(1, "sell", "YES", 6500, 1000), 0)
    r = book.submit(order(2, "sell", "NO", 3500, 1000), 0)  # a bid at YES 6500
    (f,) = r.fills
    assert (f.kind, f.price_yes, f.taker_price, f.maker_price) == ("MERGE", 6500, 3500, 6500)
    assert (f.taker_cash, f.maker_cash, f.collateral, f.rounding) == (350, 650, -1000, 0)


def test_rounding_goes_to_the_platform() -> None:
    book = Book(1, 0)
    book.submit(order(1, "sell", "YES", 5000, 1), 0)
    (f,) = book.submit(order(2, "buy", "YES", 5000, 1), 0).fills
    assert (f.units, f.taker_cash, f.maker_cash, f.rounding) == (1, -1, 0, 1)
    book.submit(order(1, "buy", "YES", 3333, 1), 0)
    (f,) = book.submit(order(2, "buy", "NO", 6667, 1), 0).fills
    assert (f.kind, f.taker_cash, f.maker_cash, f.collateral, f.rounding) == ("MINT", -1, -1, 1, 1)


def test_ioc_remainder_is_cancelled() -> None:
    book = Book(1, 0)
    book.submit(order(1, "sell", "YES", 5000, 100), 0)
    r = book.submit(order(2, "buy", "YES", 5000, 1000, "IOC"), 0)
    assert r.fills[0].units == 100 and not r.rested
    assert (r.order.status, r.order.reason, r.order.remaining) == ("cancelled", "ioc_remainder", 950)
    assert len(book) == 0
    r = book.submit(order(2, "sell", "NO", 100, 10, "IOC"), 0)
    assert r.order.status == "cancelled" and r.fills == () and len(book) == 0


def test_fok_is_all_or_nothing() -> None:
    book = Book(1, 0)
    book.submit(order(1, "sell", "YES", 5000, 100), 0)
    book.submit(order(3, "buy", "NO", 4900, 49), 0)  # an ask at YES 5100 for 100 units
    book.submit(order(3, "sell", "YES", 5200, 100), 0)  # beyond the FOK limit below
    before = book.resting_orders()
    r = book.submit(order(2, "buy", "YES", 5100, 102, "FOK"), 0)  # 200 units cost 101 < 102
    assert r.rejected_reason == FOK_NOT_FILLABLE and r.fills == () and r.order.status == "cancelled"
    assert [(o.id, o.remaining) for o in book.resting_orders()] == [(o.id, o.remaining) for o in before]
    r = book.submit(order(2, "buy", "YES", 5100, 101, "FOK"), 0)
    assert r.order.status == "filled" and [f.units for f in r.fills] == [100, 100]
    assert r.order.remaining == 0 and r.fills[1].kind == "MINT"
    book.cancel_all()
    book.submit(order(1, "buy", "YES", 5000, 50), 0)
    assert book.submit(order(2, "sell", "YES", 4000, 101, "FOK"), 0).rejected_reason
    r = book.submit(order(2, "sell", "YES", 4000, 100, "FOK"), 0)
    assert r.order.status == "filled" and r.fills[0].units == 100 and len(book) == 0
    assert book.submit(order(2, "sell", "YES", 4000, 1, "FOK"), 0).rejected_reason


def test_post_only_rejected_when_crossing_else_rests() -> None:
    book = Book(1, 0)
    book.submit(order(1, "sell", "YES", 5000, 100), 0)
    r = book.submit(order(2, "buy", "NO", 5000, 100, "POST_ONLY"), 0)  # ask 5000 vs ask: rests
    assert r.rested and r.order.status == "pending"
    r = book.submit(order(2, "sell", "NO", 5000, 100, "POST_ONLY"), 0)  # bid 5000 crosses
    assert r.rejected_reason == POST_ONLY_WOULD_CROSS and not r.rested and r.fills == ()
    assert book.submit(order(2, "buy", "YES", 4999, 100, "POST_ONLY"), 0).rested


def test_gtd_orders_expire() -> None:
    book = Book(1, 0)
    a = order(1, "sell", "YES", 5000, 100, "GTD", expires_at=10)
    b = order(1, "sell", "YES", 5100, 100, "GTD", expires_at=20)
    book.submit(a, 0)
    book.submit(b, 0)
    r = book.submit(order(2, "buy", "YES", 5100, 100, "IOC"), 10)  # meets a expired, fills b
    assert [(o.id, why) for o, why in r.cancelled] == [(a.id, "expired")]
    assert [f.maker_order_id for f in r.fills] == [b.id]
    c = order(1, "sell", "YES", 5200, 100, "GTD", expires_at=30)
    book.submit(c, 11)
    assert book.expire(29) == [] and len(book) == 1
    assert [o.id for o in book.expire(30)] == [c.id] and len(book) == 0
    with pytest.raises(MatchError) as err:
        book.submit(order(1, "buy", "YES", 10, 10, "GTD", expires_at=30), 30)
    assert err.value.code == "INVALID_EXPIRY"


def test_post_only_ignores_expired_makers() -> None:
    book = Book(1, 0)
    first = order(3, "sell", "YES", 5000, 100)
    book.submit(first, 0)
    book.submit(order(1, "sell", "YES", 5000, 100, "GTD", expires_at=5), 0)
    book.cancel(first.id)  # a dead entry at the head of the level
    r = book.submit(order(2, "buy", "YES", 5000, 100, "POST_ONLY"), 5)
    assert r.rested and [why for _, why in r.cancelled] == ["expired"]


def test_self_trade_cancels_the_resting_order_and_matching_goes_on() -> None:
    book = Book(1, 0)
    own = order(7, "sell", "YES", 5000, 100)
    other = order(8, "sell", "YES", 5000, 100)
    book.submit(own, 0)
    book.submit(other, 0)
    r = book.submit(order(7, "buy", "YES", 5000, 50), 0)
    assert [(o.id, o.status, why) for o, why in r.cancelled] == [(own.id, "cancelled", "self_trade")]
    assert [f.maker_order_id for f in r.fills] == [other.id] and len(book) == 0


def test_market_buy_walks_levels() -> None:
    book = Book(1, 0)
    for price in (5000, 5100, 5200):
        book.submit(order(1, "sell", "YES", price, 100), 0)
    r = book.submit(order(2, "buy", "YES", None, 130, kind="market"), 0)
    # 130 kopecks: 100 units for 50, 100 for 51, then 55 for ceil(55 * 0.52) = 29.
    assert [(f.price_yes, f.units) for f in r.fills] == [(5000, 100), (5100, 100), (5200, 55)]
    assert r.order.status == "filled" and r.order.spent == 130 and r.order.remaining == 0
    r = book.submit(order(2, "buy", "NO", None, 1000, kind="market"), 0)  # no bids: nothing
    assert r.order.status == "cancelled" and r.order.reason == "ioc_remainder"


def test_dust_budget_is_cancelled() -> None:
    book = Book(1, 200)  # one unit costs 1 + fee 1 = 2 kopecks
    r = book.submit(order(1, "buy", "YES", 5000, 1), 0)
    assert (r.order.status, r.order.reason, r.rested) == ("cancelled", "dust", False)
    assert len(book) == 0


def test_validation_errors() -> None:
    book = Book(1, 0)
    cases = [
        (order(1, "buy", "YES", 0, 10), "INVALID_PRICE"),
        (order(1, "buy", "YES", 10_000, 10), "INVALID_PRICE"),
        (order(1, "buy", "YES", 100, 0), "INVALID_AMOUNT"),
        (order(1, "hold", "YES", 100, 10), "INVALID_SIDE"),
        (order(1, "buy", "MAYBE", 100, 10), "INVALID_TOKEN"),
        (order(1, "buy", "YES", 100, 10, "GTD"), "INVALID_EXPIRY"),
        (order(1, "buy", "YES", 100, 10, "POST_ONLY", kind="market"), "INVALID_PRICE"),
        (order(1, "buy", "YES", None, 10, "POST_ONLY", kind="market"), "INVALID_TIF"),
    ]
    for new, code in cases:
        with pytest.raises(MatchError) as err:
            book.submit(new, 0)
        assert err.value.code == code
    book.submit(order(1, "buy", "YES", 100, 10, coid="x", oid=500), 0)
    for new, code in [
        (order(1, "buy", "YES", 100, 10, coid="x"), "DUPLICATE_CLIENT_ORDER_ID"),
        (order(1, "buy", "YES", 100, 10, oid=500), "DUPLICATE_ORDER_ID"),
    ]:
        with pytest.raises(MatchError) as err:
            book.submit(new, 0)
        assert err.value.code == code
    assert book.submit(order(2, "buy", "YES", 100, 10, coid="x"), 0).rested  # another user
    with pytest.raises(MatchError) as err:
        book.cancel(12345)
    assert err.value.code == "ORDER_NOT_FOUND"
    assert book.cancel(500).reason == "user_cancel"
    assert book.submit(order(1, "buy", "YES", 100, 10, coid="x"), 0).rested  # free again


def test_cancel_all_and_rebuild_from_resting() -> None:
    book = Book(1, 100)
    seeds = [(1, "buy", "YES", 4000), (2, "sell", "NO", 5500), (1, "sell", "YES", 6000), (3, "buy", "NO", 3000)]
    for user, side, token, price in seeds:
        book.submit(order(user, side, token, price, 1000), 0)
    book.submit(order(4, "buy", "YES", 5000, 1000, "GTD", expires_at=50), 0)
    rebuilt = Book.from_resting(1, 100, book.resting_orders())
    assert rebuilt.snapshot(10) == book.snapshot(10) and rebuilt.next_seq == book.next_seq
    probe = order(5, "sell", "YES", 1, 5000, "IOC")
    a, b = book.submit(probe, 1), rebuilt.submit(probe, 1)
    assert [(f.maker_order_id, f.units, f.price_yes) for f in a.fills] == [
        (f.maker_order_id, f.units, f.price_yes) for f in b.fills
    ]
    assert [(o.user_id, o.side) for o in book.cancel_all(1)] == [(1, "buy"), (1, "sell")]
    assert {o.user_id for o in book.resting_orders()} == {3}
    assert len(book.cancel_all()) == 1 and len(book) == 0 and book.expire(100) == []
    with pytest.raises(MatchError):
        Book.from_resting(1, 0, [*rebuilt.resting_orders(), *rebuilt.resting_orders()])


def test_more_validation_errors() -> None:
    for bad in (-1, 10_001):
        with pytest.raises(MatchError) as err:
            Book(1, bad)
        assert err.value.code == "INVALID_FEE"
    book = Book(1, 0)
    book.submit(order(1, "buy", "YES", 100, 10), 0)
    for new, code in [
        (NewOrder(9001, 1, "buy", "YES", "limit", 100, 10, seq=1), "INVALID_SEQ"),
        (order(1, "buy", "YES", 100, 10, "DAY"), "INVALID_TIF"),
        (order(1, "buy", "YES", 100, 10, kind="stop"), "INVALID_KIND"),
    ]:
        with pytest.raises(MatchError) as err:
            book.submit(new, 0)
        assert err.value.code == code
    assert book.submit(NewOrder(9002, 1, "buy", "YES", "limit", 100, 10, seq=50), 0).order.seq == 50
    assert book.next_seq == 51
    crossed = [RestingOrder(1, 1, "buy", "YES", 6000, 100, seq=1), RestingOrder(2, 2, "sell", "YES", 5000, 100, seq=2)]
    with pytest.raises(MatchError) as err:
        Book.from_resting(1, 0, crossed)
    assert err.value.code == "CROSSED_BOOK"


def test_snapshot_depth_and_expiry_view() -> None:
    book = Book(1, 0)
    for price in (4000, 4100, 4200):
        book.submit(order(1, "buy", "YES", price, 1000), 0)
    book.submit(order(2, "sell", "NO", 5800, 30, "GTD", expires_at=9), 0)  # bid at YES 4200
    book.submit(order(3, "sell", "YES", 6000, 40), 0)
    assert book.snapshot(2).bids == ((4200, 2380 + 30), (4100, 2439))
    assert book.snapshot(2, now=9).bids == ((4200, 2380), (4100, 2439))
    no = book.snapshot(1).flipped()
    assert (no.space, no.bids, no.asks) == ("NO", ((4000, 40),), ((5800, 2410),))


def test_lazy_cancels_keep_fifo_and_compact() -> None:
    book = Book(1, 0)
    makers = [order(u % 5 + 1, "sell", "YES", 5000, 10) for u in range(200)]
    for m in makers:
        book.submit(m, 0)
    for m in makers[:150:2] + makers[1:150:2][:60]:
        book.cancel(m.id)
    alive = [m.id for m in makers if book.get(m.id) is not None]
    assert len(alive) == 65 and book.snapshot(1).asks == ((5000, 650),)
    r = book.submit(order(9, "buy", "YES", 5000, 100), 0)
    assert [f.maker_order_id for f in r.fills] == alive[:20]
    for oid in alive[20:]:
        book.cancel(oid)
    assert len(book) == 0 and book.best_ask() is None


def test_gtd_heap_is_compacted_and_still_expires() -> None:
    book = Book(1, 0)
    for i in range(300):
        gtd = order(1, "buy", "YES", 100 + i, 10, "GTD", expires_at=1000 + i)
        book.submit(gtd, 0)
        if i < 290:
            book.cancel(gtd.id)
    assert len(book) == 10
    assert [o.price for o in book.expire(1295)] == list(range(390, 396))
    assert [o.expires_at for o in book.resting_orders()] == list(range(1296, 1300))


def test_fok_skips_own_dead_and_expired_makers() -> None:
    book = Book(1, 0)
    own = order(1, "sell", "YES", 5000, 100)
    gone = order(2, "sell", "YES", 5000, 100)
    old = order(3, "sell", "YES", 5000, 100, "GTD", expires_at=5)
    for m in (own, gone, old, order(4, "sell", "YES", 5000, 100)):
        book.submit(m, 0)
    book.cancel(gone.id)
    assert book.submit(order(1, "buy", "YES", 5000, 51, "FOK"), 5).rejected_reason
    assert len(book) == 3
    r = book.submit(order(1, "buy", "YES", 5000, 50, "FOK"), 5)
    assert [why for _, why in r.cancelled] == ["self_trade", "expired"]
    assert r.order.status == "filled" and len(book) == 0


def test_fee_helper_matches_the_fees_module() -> None:
    fees = pytest.importorskip("predictql.pricing.fees")
    for amount in (0, 1, 99, 10_001, 123_457):
        for bps in (0, 1, 200, 9_999, 10_000):
            assert _fee_on(amount, bps) == fees.fee_on(amount, bps)


@given(st.integers(0, 10**7), st.integers(1, 9999), st.integers(0, 10_000))
def test_max_buy_units_is_the_largest_affordable(budget: int, price: int, fee_bps: int) -> None:
    units = max_buy_units(budget, price, fee_bps)
    assert units >= 0 and buy_total(units, price, fee_bps) <= budget
    assert buy_total(units + 1, price, fee_bps) > budget  # buy_total is non-decreasing in units


# --------------------------------------------------------------------------- naive model
@dataclass
class RefOrder:
    id: int
    user: int
    is_buy: bool
    is_yes: bool
    price: int
    remaining: int
    seq: int
    expires: int | None

    @property
    def yes(self) -> int:
        return self.price if self.is_yes else 10_000 - self.price

    @property
    def is_bid(self) -> bool:
        return self.is_buy == self.is_yes


RefOutcome = tuple[list[tuple[int, int]], list[tuple[int, str]], bool, str | None]  # fills, drops, rested, rejected


@dataclass
class RefBook:
    """Price-time priority by brute force: sort every crossing order, walk them one by one."""

    fee: int
    book: list[RefOrder] = field(default_factory=list)
    seq: int = 0

    def total(self, units: int, price: int) -> int:
        cost = ceil_div(units * price, 10_000)
        return cost + ceil_div(cost * self.fee, 10_000)

    def avail(self, o: RefOrder, yes_price: int, remaining: int) -> int:
        if not o.is_buy:
            return remaining
        price = yes_price if o.is_yes else 10_000 - yes_price
        lo, hi = 0, remaining * 10_000 + 1  # binary search, independent of the closed form
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self.total(mid, price) <= remaining else (lo, mid - 1)
        return lo

    def done(self, o: RefOrder, remaining: int) -> bool:
        return self.avail(o, 5000, remaining) == 0 if o.is_buy else remaining == 0

    def submit(self, new: NewOrder, now: int) -> RefOutcome:
        self.seq += 1
        tif = "IOC" if new.kind == "market" and new.tif == "GTC" else new.tif
        price = new.price if new.price is not None else (9999 if new.side == "buy" else 1)
        is_buy, is_yes = new.side == "buy", new.token == "YES"
        t = RefOrder(new.id, new.user_id, is_buy, is_yes, price, new.amount, self.seq, new.expires_at)
        fills: list[tuple[int, int]] = []
        dropped: list[tuple[int, str]] = []
        if self.done(t, t.remaining):
            return fills, dropped, False, None
        crossing = sorted(
            (m for m in self.book if m.is_bid != t.is_bid and (m.yes <= t.yes if t.is_bid else m.yes >= t.yes)),
            key=lambda m: (m.yes if t.is_bid else -m.yes, m.seq),
        )

        def drop(m: RefOrder, why: str) -> None:
            self.book.remove(m)
            dropped.append((m.id, why))

        def expired(m: RefOrder) -> bool:
            return m.expires is not None and m.expires <= now

        if tif == "POST_ONLY":
            for m in crossing:
                if not expired(m):
                    return fills, dropped, False, POST_ONLY_WOULD_CROSS
                drop(m, "expired")
            crossing = []
        if tif == "FOK":
            remaining = t.remaining
            for m in crossing:
                if not expired(m) and m.user != t.user and not self.done(t, remaining):
                    u = min(self.avail(t, m.yes, remaining), self.avail(m, m.yes, m.remaining))
                    own = m.yes if t.is_yes else 10_000 - m.yes
                    remaining -= self.total(u, own) if t.is_buy else u
            if not self.done(t, remaining):
                return fills, dropped, False, FOK_NOT_FILLABLE
        for m in crossing:
            if self.done(t, t.remaining):
                break
            if expired(m):
                drop(m, "expired")
            elif m.user == t.user:
                drop(m, "self_trade")
            else:
                u = min(self.avail(t, m.yes, t.remaining), self.avail(m, m.yes, m.remaining))
                fills.append((m.id, u))
                for o in (t, m):
                    own = m.yes if o.is_yes else 10_000 - m.yes
                    o.remaining -= self.total(u, own) if o.is_buy else u
                if self.done(m, m.remaining):
                    self.book.remove(m)
        rests = tif in ("GTC", "GTD", "POST_ONLY") and not self.done(t, t.remaining)
        if rests:
            self.book.append(t)
        return fills, dropped, rests, None


# --------------------------------------------------------------------------- random streams
submit_op = st.tuples(
    st.just("submit"),
    st.integers(1, 3),  # user
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["YES", "NO"]),
    st.sampled_from(["limit"] * 9 + ["market"]),
    st.integers(4990, 5010),  # YES-space price
    st.one_of(st.integers(1, 80), st.integers(1, 3000)),
    st.sampled_from(["GTC", "GTC", "GTC", "GTD", "IOC", "FOK", "POST_ONLY"]),
    st.integers(1, 4),  # GTD time to live
)
other_op = st.one_of(
    st.tuples(st.just("cancel"), st.integers(0, 10**6)), st.tuples(st.just("tick"), st.integers(1, 3), st.booleans())
)
ops_strategy = st.lists(st.one_of(submit_op, submit_op, submit_op, other_op), max_size=60)


class Audit:
    """Engine-side invariants, plus global share and money conservation over the stream."""

    def __init__(self, fee: int) -> None:
        self.fee = fee
        self.shares: dict[tuple[str, int], int] = {}  # per (token, user)
        self.money = 0  # user cash + fees + rounding + collateral: must stay 0
        self.collateral = 0
        self.orders: dict[int, NewOrder] = {}
        self.filled: dict[int, int] = {}  # units filled per order, as taker and as maker
        self.seqs: dict[int, int] = {}

    def check(self, book: Book, new: NewOrder, r: SubmitResult) -> None:
        o = r.order
        self.seqs[o.id] = o.seq
        if o.side == "buy":
            assert 0 <= o.spent <= o.amount and o.spent + o.remaining == o.amount
        else:
            assert 0 <= o.filled_units <= o.amount and o.filled_units + o.remaining == o.amount
        assert o.filled_units == sum(f.units for f in r.fills)
        self.filled[o.id] = o.filled_units
        assert r.rested == (o.status in ("pending", "partial")) == (book.get(o.id) is not None)
        if new.tif == "FOK" and r.rejected_reason is None:
            assert o.status == "filled" or (o.reason == "dust" and not r.fills)
        last: tuple[int, int] | None = None
        for f in r.fills:
            check_fill(f, self.fee)
            maker = self.orders[f.maker_order_id]
            assert f.maker_price == maker.price and f.maker_user_id != new.user_id
            limit = o.price
            assert f.taker_price <= limit if o.side == "buy" else f.taker_price >= limit
            key = (f.price_yes if o.is_bid else -f.price_yes, self.seqs[maker.id])
            assert last is None or key > last  # best price first, then FIFO
            last = key
            self.filled[maker.id] = self.filled.get(maker.id, 0) + f.units
            assert self.filled[maker.id] == f.maker_filled_units
            self.book_entry(f)
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is None or ask is None or bid < ask
        yes = sum(v for (t, _), v in self.shares.items() if t == "YES")
        no = sum(v for (t, _), v in self.shares.items() if t == "NO")
        assert yes == no == self.collateral and self.money == 0

    def book_entry(self, f: Fill) -> None:
        for side, token, user, cash, fee in (
            (f.taker_side, f.taker_token, f.taker_user_id, f.taker_cash, f.taker_fee),
            (f.maker_side, f.maker_token, f.maker_user_id, f.maker_cash, f.maker_fee),
        ):
            delta = f.units if side == "buy" else -f.units
            self.shares[(token, user)] = self.shares.get((token, user), 0) + delta
            self.money += cash + fee
        self.collateral += f.collateral
        self.money += f.collateral + f.rounding


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([0, 1, 200, 5000, 10_000]), ops_strategy)
def test_random_streams_match_the_naive_model(fee: int, ops: list[tuple[object, ...]]) -> None:
    book, ref, audit = Book(7, fee), RefBook(fee), Audit(fee)
    now, submitted = 0, []
    for op in ops:
        if op[0] == "submit":
            _, user, side, token, kind, yes, amount, tif, ttl = cast(
                tuple[str, int, str, str, str, int, int, str, int], op
            )
            if kind == "market":
                tif = {"GTD": "IOC", "POST_ONLY": "FOK"}.get(tif, tif)
            price = None if kind == "market" else (yes if token == "YES" else 10_000 - yes)
            expires = now + ttl if tif == "GTD" else None
            new = order(user, side, token, price, amount, tif, kind=kind, expires_at=expires)
            oid = new.id
            audit.orders[oid] = new
            submitted.append(oid)
            before = book.resting_orders()
            r = book.submit(new, now)
            fills, dropped, rested, rejected = ref.submit(new, now)
            assert [(f.maker_order_id, f.units) for f in r.fills] == fills
            assert [(m.id, why) for m, why in r.cancelled] == dropped
            assert (r.rested, r.rejected_reason) == (rested, rejected)
            if rejected == FOK_NOT_FILLABLE:
                assert [(o.id, o.remaining) for o in book.resting_orders()] == [(o.id, o.remaining) for o in before]
            audit.check(book, new, r)
        elif op[0] == "cancel" and submitted:
            k = cast(int, op[1])  # mostly a live order, sometimes any earlier one
            oid = ref.book[k % len(ref.book)].id if ref.book and k % 4 else submitted[k % len(submitted)]
            live = [m for m in ref.book if m.id == oid]
            if live:
                ref.book.remove(live[0])
                assert book.cancel(oid).id == oid
            else:
                with pytest.raises(MatchError):
                    book.cancel(oid)
        elif op[0] == "tick":
            now += cast(int, op[1])
            if op[2]:
                gone = {o.id for o in book.expire(now)}
                assert gone == {m.id for m in ref.book if m.expires is not None and m.expires <= now}
                ref.book = [m for m in ref.book if m.id not in gone]
        assert sorted((o.id, o.remaining) for o in book.resting_orders()) == sorted(
            (m.id, m.remaining) for m in ref.book
        )
