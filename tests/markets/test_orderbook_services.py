"""Order-book trading at the service level on the real database (SQLite and PostgreSQL).

Every scenario ends with ``assert_books_balanced``: the ledger's trial balance, each escrow account
equal to its owner's open buys, collateral equal to the outstanding YES (and NO) units, and no
order reserving more than it may.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, update
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.errors import Conflict, DomainError, InsufficientFunds, InvalidInput, NotFound
from predictql.models import LedgerAccount, LedgerTransaction, Market, Order, Position, Trade
from predictql.services import (
    accounts,
    book_check,
    ledger,
    lmsr_trading,
    order_escrow,
    order_lifecycle,
    orderbook_trading,
    resolution,
    users,
)
from predictql.services.lmsr_trading import TradeRequest
from predictql.services.orderbook_trading import OrderRequest, Placed
from predictql.services.resolution import Verdict
from tests.markets.factories import create_market_setup, creator_actor
from tests.markets.test_concurrency import peak_connections
from tests.support import unique_email

FEE = 200


async def create_user(db: Database, *, balance: int = 0, bonus: int = 0, referrer_id: int | None = None) -> int:
    """A verified, funded user without a password (Argon2 is too slow for many users)."""
    async with db.transaction() as session:
        user = await accounts.create_user(
            session, email=unique_email("book"), password=None, verified=True, referrer_id=referrer_id
        )
        assert user.id is not None
        if balance:
            await users.deposit(session, user_id=user.id, amount=balance)
        if bonus:
            await users.deposit(session, user_id=user.id, amount=bonus, bonus=True)
    return user.id


async def book_market(db: Database, **overrides: Any) -> tuple[int, Market]:
    """(creator id, one live order-book market)."""
    creator, _, (market,) = await create_market_setup(db, market_type="orderbook", **overrides)
    return creator, market


async def place(
    db: Database,
    user: int,
    market: Market | int,
    side: str,
    token: str,
    amount: int,
    price: int | None = None,
    **extra: Any,
) -> Placed:
    market_id = market if isinstance(market, int) else market.id or 0
    kind = extra.pop("kind", "limit" if price is not None else "market")
    request = OrderRequest(market_id, side, token, kind, amount, price, **extra)
    async with db.transaction() as session:
        return await orderbook_trading.place_order(session, Actor(user_id=user), request, fee_bps=FEE)


async def cash(db: Database, user: int) -> ledger.Balances:
    async with db.session() as session:
        return await ledger.balances(session, user)


async def account(db: Database, code: str) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(LedgerAccount.balance).where(LedgerAccount.code == code)) or 0)


async def held(db: Database, user: int, market: Market) -> dict[str, int]:
    async with db.session() as session:
        rows = await session.execute(
            select(Position.token, Position.amount).where(
                Position.user_id == user, Position.market_id == market.id, Position.status == "open"
            )
        )
        return dict(rows.all())


async def order_row(db: Database, order_id: int) -> Order:
    async with db.session() as session:
        row = await session.get(Order, order_id)
    assert row is not None
    return row


async def assert_books_balanced(db: Database) -> None:
    async with db.session() as session:
        assert (await ledger.trial_balance(session)).ok
        assert await book_check.differences(session) == []  # the levels the streams publish
        orders = list(await session.scalars(select(Order)))
        accounts = {a.code: a for a in await session.scalars(select(LedgerAccount))}
        markets = list(await session.scalars(select(Market).where(Market.market_type == "orderbook")))
        open_units = await session.execute(
            select(Position.market_id, Position.token, func.sum(Position.amount))
            .where(Position.status == "open")
            .group_by(col(Position.market_id), col(Position.token))
        )
        units = {(m, t): int(n) for m, t, n in open_units}
    escrow: dict[str, int] = {}
    for o in orders:
        assert o.escrow == (o.remaining if o.is_open else 0), o
        assert 0 <= o.escrow_bonus <= max(o.escrow, 0), o
        if o.side == "buy":
            escrow[order_escrow.user_escrow(o.user_id)] = escrow.get(order_escrow.user_escrow(o.user_id), 0) + o.escrow
    for code, acc in accounts.items():
        if acc.kind == "escrow":
            assert acc.balance == escrow.get(code, 0), code
        assert acc.allow_negative or acc.balance >= 0, code
    for market in markets:
        if not market.resolved:
            outstanding = units.get((market.id or 0, "YES"), 0)
            assert outstanding == units.get((market.id or 0, "NO"), 0)
            assert accounts[ledger.market_collateral(market.id or 0)].balance == outstanding


async def test_mint_then_transfer_at_the_resting_price(db: Database) -> None:
    _, market = await book_market(db)
    a, b, c = [await create_user(db, balance=20_000) for _ in range(3)]
    first = await place(db, a, market, "buy", "YES", 6120, 6000)
    assert (first.order.status, first.order.escrow, first.trades) == ("pending", 6120, ())
    assert (await cash(db, a)).cash == 20_000 - 6120
    minted = await place(db, b, market, "buy", "NO", 5000, 3900)  # NO at 3900 = YES ask 6100 >= bid 6000
    assert minted.order.status == "pending" and not minted.trades
    mint = await place(db, c, market, "buy", "NO", 4080, 4000)  # YES ask 6000: crosses A's bid
    (trade,) = mint.trades
    assert (trade.shares, trade.price, trade.amount, trade.fee) == (10_000, 4000, 4000, 80)
    assert mint.order.status == "filled" and (await order_row(db, first.order.id or 0)).status == "filled"
    assert await held(db, a, market) == {"YES": 10_000} and await held(db, c, market) == {"NO": 10_000}
    assert await account(db, ledger.market_collateral(market.id or 0)) == 10_000
    # A sells to a better bid that arrived later: execution at the resting bid's price.
    d = await create_user(db, balance=10_000)
    await place(db, d, market, "buy", "YES", 5610, 5500)
    sold = await place(db, a, market, "sell", "YES", 10_000, 5000)
    assert [(t.side, t.shares, t.price, t.amount, t.fee) for t in sold.trades] == [("sell", 10_000, 5500, 5500, 110)]
    assert (await cash(db, a)).cash == 20_000 - 6120 + 5390
    assert await held(db, d, market) == {"YES": 10_000} and await held(db, a, market) == {}
    async with db.session() as session:
        closed = await session.scalar(select(Position).where(Position.user_id == a))
    assert closed is not None and closed.status == "closed" and closed.realized_pnl == 5390 - 6120
    await assert_books_balanced(db)


async def test_partial_fills_then_merge(db: Database) -> None:
    _, market = await book_market(db)
    a, b = await create_user(db, balance=50_000), await create_user(db, balance=50_000)
    await place(db, a, market, "buy", "YES", 10_200, 5000)  # 20_000 units at 5000
    part = await place(db, b, market, "buy", "NO", 2040, 5000)  # 4000 units
    async with db.session() as session:
        rows = {o.user_id: o for o in await session.scalars(select(Order))}
    assert (rows[a].status, rows[a].filled, rows[a].remaining) == ("partial", 4000, 10_200 - 2040)
    assert (part.order.status, part.order.filled) == ("filled", 4000)
    rest = await place(db, b, market, "buy", "NO", 40_000, 5000, tif="IOC")
    assert rest.order.status == "cancelled" and rest.order.cancel_reason == "ioc_remainder"
    assert rest.order.filled == 16_000 and (await order_row(db, rows[a].id or 0)).status == "filled"
    assert (await cash(db, b)).cash == 50_000 - 2040 - 8160  # the unspent IOC budget came back
    # A (YES) and B (NO) merge 5000 pairs: each sells 5000 units; collateral pays 5000 out.
    await place(db, a, market, "sell", "YES", 5000, 4000)
    merged = await place(db, b, market, "sell", "NO", 5000, 5000)
    (trade,) = merged.trades
    assert (trade.shares, trade.price, trade.amount, trade.fee) == (5000, 6000, 3000, 60)  # at YES 4000
    assert await account(db, ledger.market_collateral(market.id or 0)) == 15_000
    assert await held(db, a, market) == {"YES": 15_000} and await held(db, b, market) == {"NO": 15_000}
    await assert_books_balanced(db)


async def test_fees_on_both_sides_with_referral_split(db: Database) -> None:
    _, market = await book_market(db)
    referrer = await create_user(db)
    a = await create_user(db, balance=100_000, referrer_id=referrer)
    b = await create_user(db, balance=100_000)
    await place(db, a, market, "buy", "YES", 61_200, 6000)  # maker: 100_000 units, fee 1200
    await place(db, b, market, "buy", "NO", 40_800, 4000)  # taker: fee 800
    async with db.session() as session:
        trades = list(await session.scalars(select(Trade).order_by(col(Trade.id))))
        kinds = dict(
            (
                await session.execute(
                    select(LedgerTransaction.kind, func.count()).group_by(col(LedgerTransaction.kind))
                )
            ).all()
        )
    assert sorted((t.user_id, t.fee) for t in trades) == sorted([(a, 1200), (b, 800)])
    assert (await cash(db, referrer)).cash == 1200 * 15 // 100  # level 1 of the payer A only
    assert kinds["order_fill"] == 1 and kinds["referral_l1"] == 1 and kinds["fee_revenue"] == 2
    await assert_books_balanced(db)


async def test_escrow_released_on_cancel_expiry_and_pause(db: Database) -> None:
    creator, market = await book_market(db)
    a = await create_user(db, balance=10_000)
    resting = await place(db, a, market, "buy", "YES", 3000, 4000)
    assert await account(db, order_escrow.user_escrow(a)) == 3000
    async with db.transaction() as session:
        cancelled = await order_lifecycle.cancel_order(session, Actor(user_id=a), order_id=resting.order.id or 0)
    assert (cancelled.status, cancelled.cancel_reason, (await cash(db, a)).cash) == ("cancelled", "user_cancel", 10_000)
    with pytest.raises(Conflict) as again:
        async with db.transaction() as session:
            await order_lifecycle.cancel_order(session, Actor(user_id=a), order_id=resting.order.id or 0)
    assert again.value.code == "ORDER_NOT_OPEN"
    with pytest.raises(NotFound):
        async with db.transaction() as session:
            await order_lifecycle.cancel_order(session, Actor(user_id=creator), order_id=resting.order.id or 0)

    soon = utcnow() + timedelta(hours=1)
    gtd = await place(db, a, market, "buy", "YES", 2000, 4000, expires_at=soon)
    assert gtd.order.tif == "GTD" and (await cash(db, a)).cash == 8000
    async with db.transaction() as session:
        assert await order_lifecycle.expire_orders(session, now=soon) == 1
    assert (await order_row(db, gtd.order.id or 0)).cancel_reason == "expired" and (await cash(db, a)).cash == 10_000
    # An order past its time is also swept by the next order on its market.
    late = await place(db, a, market, "buy", "YES", 2000, 4000, expires_at=soon)
    async with db.transaction() as session:
        await session.execute(update(Order).where(col(Order.id) == late.order.id).values(expires_at=utcnow()))
    await place(db, a, market, "buy", "YES", 1000, 3000)
    assert (await order_row(db, late.order.id or 0)).status == "cancelled"

    async with db.transaction() as session:
        await order_lifecycle.set_paused(
            session,
            creator_actor(creator),
            event_id=market.event_id,
            pool_id=market.pool_id,
            market_id=market.id or 0,
            paused=True,
        )
    assert (await cash(db, a)).cash == 10_000 and await account(db, order_escrow.user_escrow(a)) == 0
    with pytest.raises(Conflict) as paused:
        await place(db, a, market, "buy", "YES", 1000, 3000)
    assert paused.value.code == "MARKET_PAUSED"
    async with db.transaction() as session:
        await order_lifecycle.set_paused(
            session,
            creator_actor(creator),
            event_id=market.event_id,
            pool_id=market.pool_id,
            market_id=market.id or 0,
            paused=False,
        )
    await place(db, a, market, "buy", "YES", 1000, 3000)
    await assert_books_balanced(db)


async def test_resolution_cancels_orders_and_settles_from_collateral(db: Database) -> None:
    creator, pool, (market,) = await create_market_setup(db, market_type="orderbook")
    a, b = await create_user(db, balance=20_000), await create_user(db, balance=20_000)
    await place(db, a, market, "buy", "YES", 6120, 6000)
    await place(db, b, market, "buy", "NO", 4080, 4000)  # mint 10_000 pairs
    await place(db, a, market, "buy", "YES", 5000, 2000)  # rests
    await place(db, b, market, "sell", "NO", 4000, 9000)  # rests, reserving 4000 NO units
    with pytest.raises(InsufficientFunds):
        await place(db, b, market, "sell", "NO", 6001, 9000)  # only 6000 left unreserved
    async with db.transaction() as session:
        await resolution.close_market(
            session, creator_actor(creator), pool.event_id, pool.id or 0, market.id or 0, Verdict(won_side="YES")
        )
    async with db.session() as session:
        reasons = set(await session.scalars(select(Order.cancel_reason).where(Order.status == "cancelled")))
    assert reasons == {"market_resolved"}
    assert (await cash(db, a)).cash == 20_000 - 6120 + 10_000  # the resting buy's 5000 came back too
    assert (await cash(db, b)).cash == 20_000 - 4080
    assert await account(db, ledger.market_collateral(market.id or 0)) == 0
    with pytest.raises(Conflict) as resolved:
        await place(db, a, market, "buy", "YES", 1000, 3000)
    assert resolved.value.code == "MARKET_RESOLVED"
    await assert_books_balanced(db)


async def test_cancelled_event_refunds_orders_and_positions(db: Database) -> None:
    creator, pool, (market,) = await create_market_setup(db, market_type="orderbook")
    a, b = await create_user(db, balance=20_000), await create_user(db, balance=20_000)
    await place(db, a, market, "buy", "YES", 6120, 6000)
    await place(db, b, market, "buy", "NO", 4080, 4000)
    await place(db, b, market, "buy", "NO", 1000, 1000)
    async with db.transaction() as session:
        await resolution.cancel_event(session, creator_actor(creator), pool.event_id)
    assert ((await cash(db, a)).cash, (await cash(db, b)).cash) == (20_000 - 120, 20_000 - 80)  # fees stay paid
    await assert_books_balanced(db)


async def test_refusals(db: Database) -> None:
    _, market = await book_market(db)
    lmsr_creator, _, (lmsr_market,) = await create_market_setup(db)
    a = await create_user(db, balance=1000)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"side": "buy", "token": "YES", "amount": 500, "price": 0}, "INVALID_PRICE"),
        ({"side": "buy", "token": "YES", "amount": 500, "price": 10_000}, "INVALID_PRICE"),
        ({"side": "buy", "token": "YES", "amount": 0, "price": 5000}, "INVALID_AMOUNT"),
        ({"side": "hold", "token": "YES", "amount": 500, "price": 5000}, "INVALID_SIDE"),
        ({"side": "buy", "token": "MAYBE", "amount": 500, "price": 5000}, "INVALID_SIDE"),
        ({"side": "buy", "token": "YES", "amount": 5000, "price": 5000}, "INSUFFICIENT_BALANCE"),
        ({"side": "sell", "token": "YES", "amount": 1, "price": 5000}, "INSUFFICIENT_BALANCE"),
        ({"side": "buy", "token": "YES", "amount": 500, "price": 5000, "tif": "GTD"}, "INVALID_REQUEST"),
        ({"side": "buy", "token": "YES", "amount": 500, "price": 5000, "tif": "DAY"}, "INVALID_REQUEST"),
        ({"side": "buy", "token": "YES", "amount": 500, "kind": "stop"}, "INVALID_REQUEST"),
    ]
    for fields, code in cases:
        with pytest.raises(DomainError) as error:
            await place(db, a, market, **fields)
        assert error.value.code == code, fields
    with pytest.raises(InvalidInput):
        await place(db, a, lmsr_market, "buy", "YES", 500, 5000)
    with pytest.raises(NotFound) as missing:
        await place(db, a, 10**12, "buy", "YES", 500, 5000)
    assert missing.value.code == "MARKET_NOT_FOUND" and lmsr_creator
    assert (await cash(db, a)).cash == 1000
    await assert_books_balanced(db)


async def test_time_in_force_and_client_order_ids(db: Database) -> None:
    _, market = await book_market(db)
    a, b = await create_user(db, balance=50_000), await create_user(db, balance=50_000)
    await place(db, a, market, "buy", "YES", 5100, 5000, client_order_id="a-1")
    with pytest.raises(Conflict) as dup:
        await place(db, a, market, "buy", "YES", 100, 4000, client_order_id="a-1")
    assert dup.value.code == "DUPLICATE_CLIENT_ORDER_ID"
    await place(db, b, market, "buy", "YES", 100, 4000, client_order_id="a-1")  # per user
    with pytest.raises(Conflict) as post_only:
        await place(db, b, market, "buy", "NO", 5100, 5000, tif="POST_ONLY")
    assert post_only.value.code == "POST_ONLY_WOULD_CROSS"
    with pytest.raises(Conflict) as fok:
        await place(db, b, market, "buy", "NO", 20_000, 5000, tif="FOK")
    assert fok.value.code == "FOK_NOT_FILLABLE"
    assert (await cash(db, b)).cash == 50_000 - 100  # refusals moved nothing
    market_buy = await place(db, b, market, "buy", "NO", 20_000)  # a market order: takes what is there
    assert market_buy.order.kind == "market" and market_buy.order.price == 0
    assert market_buy.order.status == "cancelled" and market_buy.order.filled == 10_000
    await assert_books_balanced(db)


async def test_self_trade_cancels_the_resting_order(db: Database) -> None:
    _, market = await book_market(db)
    a = await create_user(db, balance=20_000)
    resting = await place(db, a, market, "buy", "YES", 6120, 6000)
    mine = await place(db, a, market, "buy", "NO", 4080, 4000)
    assert not mine.trades and mine.order.status == "pending"
    row = await order_row(db, resting.order.id or 0)
    assert (row.status, row.cancel_reason, row.escrow) == ("cancelled", "self_trade", 0)
    assert (await cash(db, a)).cash == 20_000 - 4080
    await assert_books_balanced(db)


async def test_bonus_pays_first_and_returns_to_bonus(db: Database) -> None:
    _, market = await book_market(db)
    a, b = await create_user(db, balance=10_000, bonus=1000), await create_user(db, balance=10_000)
    half = await place(db, a, market, "buy", "YES", 4080, 4000, use_bonus=True)  # 10_000 units
    assert (half.order.escrow_bonus, (await cash(db, a)).bonus, (await cash(db, a)).cash) == (1000, 0, 10_000 - 3080)
    await place(db, b, market, "buy", "NO", 3060, 6000)  # fills 5000 units: A pays 2040, from bonus first
    async with db.session() as session:
        pos = await session.scalar(select(Position).where(Position.user_id == a))
    assert pos is not None and pos.bonus_cost == 1000 and pos.use_bonus
    async with db.transaction() as session:
        await order_lifecycle.cancel_order(session, Actor(user_id=a), order_id=half.order.id or 0)
    assert ((await cash(db, a)).bonus, (await cash(db, a)).cash) == (0, 10_000 - 2040 + 1000)
    await assert_books_balanced(db)


async def test_close_position_sells_into_the_bids(db: Database) -> None:
    _, market = await book_market(db)
    a, b, c = [await create_user(db, balance=50_000) for _ in range(3)]
    await place(db, a, market, "buy", "YES", 6120, 6000)
    await place(db, b, market, "buy", "NO", 4080, 4000)
    await place(db, a, market, "sell", "YES", 3000, 9000)  # a resting sell, cancelled by the close
    with pytest.raises(Conflict) as dry:
        async with db.transaction() as session:
            await order_lifecycle.close_position(session, Actor(user_id=a), market_id=market.id or 0, fee_bps=FEE)
    assert dry.value.code == "NO_LIQUIDITY"
    await place(db, c, market, "buy", "YES", 40_000, 7000)
    async with db.transaction() as session:
        closed = await order_lifecycle.close_position(session, Actor(user_id=a), market_id=market.id or 0, fee_bps=FEE)
    assert closed.proceeds == 7000 - 140 and closed.trades[0].shares == 10_000
    assert await held(db, a, market) == {}
    with pytest.raises(NotFound) as gone:
        async with db.transaction() as session:
            await order_lifecycle.close_holding(session, Actor(user_id=a), market_id=market.id or 0, fee_bps=FEE)
    assert gone.value.code == "POSITION_NOT_FOUND"
    await place(db, c, market, "buy", "NO", 3000, 2500)  # YES ask 7500: rests above C's YES bid at 7000
    async with db.transaction() as session:  # the same entry point closes a holding on the book...
        closed = await order_lifecycle.close_holding(session, Actor(user_id=b), market_id=market.id or 0, fee_bps=FEE)
    assert closed.trades[0].shares == 10_000 and await held(db, b, market) == {}
    _, _, (lmsr_market,) = await create_market_setup(db)  # ...and one held in an LMSR market
    async with db.transaction() as session:
        await lmsr_trading.trade(
            session, Actor(user_id=c), TradeRequest(lmsr_market.id or 0, "buy_no", "spend", 500), fee_bps=FEE
        )
    async with db.transaction() as session:
        closed = await order_lifecycle.close_holding(
            session, Actor(user_id=c), market_id=lmsr_market.id or 0, fee_bps=FEE
        )
    assert closed.proceeds > 0 and await held(db, c, lmsr_market) == {}
    await assert_books_balanced(db)


async def test_book_snapshot_is_aggregated_in_yes_space(db: Database) -> None:
    _, market = await book_market(db)
    a, b = await create_user(db, balance=50_000), await create_user(db, balance=50_000)
    await place(db, a, market, "buy", "YES", 5100, 5000)  # bid 5000: 10_000 units
    await place(db, b, market, "buy", "NO", 2040, 4000)  # NO 4000 = YES ask 6000: 5000 units
    await place(db, a, market, "buy", "YES", 2040, 5000)  # same level as the first bid
    async with db.session() as session:
        book = await order_lifecycle.order_book(session, Actor(), market_id=market.id or 0, depth=10, fee_bps=FEE)
    assert book.bids == ((5000, 14_000),) and book.asks == ((6000, 5000),)
    assert book.flipped().bids == ((4000, 5000),)


async def test_concurrent_crossing_orders_never_double_fill(db: Database) -> None:
    _, market = await book_market(db)
    people = [await create_user(db, balance=100_000) for _ in range(16)]
    rng = random.Random(4)
    jobs = []
    for index, user in enumerate(people * 3):
        token = "YES" if index % 2 else "NO"
        price = rng.choice([4800, 4900, 5000, 5100, 5200])
        jobs.append((user, token, rng.randint(500, 5000), price))

    async def run(user: int, token: str, amount: int, price: int) -> Placed | DomainError:
        try:
            return await place(db, user, market, "buy", token, amount, price)
        except DomainError as error:
            return error

    with peak_connections(db) as seen:
        results = await asyncio.gather(*(run(*job) for job in jobs))
    if not db.is_sqlite:
        assert seen["peak"] > 1, "the orders did not run concurrently"
    assert all(isinstance(r, Placed) for r in results), [r for r in results if not isinstance(r, Placed)]
    async with db.session() as session:
        orders = list(await session.scalars(select(Order)))
        trades = list(await session.scalars(select(Trade)))
        seqs = [o.seq for o in orders]
    assert sorted(seqs) == list(range(1, len(orders) + 1))
    assert sum(o.filled for o in orders) == sum(t.shares for t in trades) > 0
    for o in orders:
        assert o.spent + o.remaining == o.amount and o.spent <= o.amount
    await assert_books_balanced(db)


async def test_concurrent_orders_with_one_client_order_id(db: Database) -> None:
    """Two markets (two locks) and one client_order_id: the unique index lets exactly one through."""
    (_, first), (_, second) = await book_market(db), await book_market(db)
    a = await create_user(db, balance=10_000)

    async def run(market: Market) -> Placed | DomainError:
        try:
            return await place(db, a, market, "buy", "YES", 1000, 4000, client_order_id="same")
        except DomainError as error:
            return error

    results = await asyncio.gather(run(first), run(second))
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Placed"]
    assert {r.code for r in results if isinstance(r, DomainError)} == {"DUPLICATE_CLIENT_ORDER_ID"}
    assert (await cash(db, a)).cash == 9000
    await assert_books_balanced(db)


async def test_a_deep_sweep_loads_more_than_one_window(db: Database) -> None:
    """More crossing orders than one load (``WINDOW``): every one is met, best price first, FIFO."""
    _, market = await book_market(db)
    a, b, c = [await create_user(db, balance=200_000) for _ in range(3)]
    count = orderbook_trading.WINDOW + 6
    for index in range(count):
        await place(db, a if index % 2 else c, market, "buy", "YES", 1020, 5000 + index // 2)
    sweep = await place(db, b, market, "buy", "NO", 200_000)  # a market order: meets every bid
    prices = [10_000 - t.price for t in sweep.trades]  # back to YES prices
    assert len(sweep.trades) == count and prices == sorted(prices, reverse=True)
    async with db.session() as session:
        makers = list(await session.scalars(select(Order).where(Order.user_id != b).order_by(col(Order.seq))))
        by_fill = select(Trade.user_id).where(Trade.user_id != b).order_by(col(Trade.id))
        maker_side = list(await session.scalars(by_fill))
    assert {o.status for o in makers} == {"filled"}
    # FIFO within a price: at each level the older order (user C's, placed first) was met first.
    assert maker_side == [c, a] * (count // 2)
    await assert_books_balanced(db)
