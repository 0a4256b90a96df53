"""Money at the edges of an order-book market's life: settlement leaves its collateral at exactly
zero (never below), rounding differences come from and go to the platform, and the ledger check
finds the books whole afterwards."""

from __future__ import annotations

from sqlalchemy import func, select

from predictql.db import Database
from predictql.models import LedgerAccount, LedgerEntry, Market, Pool, Position, Trade
from predictql.services import ledger, ledger_check, resolution
from predictql.services.resolution import Verdict
from tests.markets.factories import create_market_setup, creator_actor
from tests.markets.test_orderbook_services import account, assert_books_balanced, cash, create_user, place


async def revenue(db: Database) -> int:
    """The platform's revenue: an untracked account, so the sum of its entries."""
    async with db.session() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0))
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(LedgerAccount.code == ledger.REVENUE)
        )
    return int(total or 0)


async def purchase_costs(db: Database) -> int:
    """What a cancellation refunds: the open positions' purchase costs."""
    async with db.session() as session:
        total = await session.scalar(select(func.sum(Position.price_cost)).where(Position.status == "open"))
    return int(total or 0)


async def rounded_fill(db: Database) -> tuple[int, Pool, Market, int, int]:
    """(creator, pool, order-book market, YES buyer, NO buyer) after a fill at 3333 whose costs round up."""
    creator, pool, (market,) = await create_market_setup(db, market_type="orderbook")
    a, b = await create_user(db, balance=20_000), await create_user(db, balance=20_000)
    await place(db, a, market, "buy", "YES", 1000, 3333)  # rests: 2941 units at 3333
    await place(db, b, market, "buy", "NO", 3000, 6667)  # crosses: mints the pairs
    return creator, pool, market, a, b


async def books_ok(db: Database) -> None:
    async with db.session() as session:
        report = await ledger_check.check(session)
    assert report.ok, report.lines()
    await assert_books_balanced(db)


async def test_cancel_after_rounded_fills_takes_the_difference_from_the_platform(db: Database) -> None:
    """Each buyer pays a rounded-up cost (the kopeck goes to revenue at the fill); a cancellation
    refunds those costs, more than the collateral holds. It used to leave the account at -1."""
    creator, pool, market, a, b = await rounded_fill(db)
    collateral = await account(db, ledger.market_collateral(market.id or 0))
    revenue_before = await revenue(db)
    assert collateral > 0 and revenue_before > 0  # the fill's rounding went to the platform
    costs = await purchase_costs(db)
    assert costs > collateral
    async with db.transaction() as session:
        await resolution.cancel_event(session, creator_actor(creator), pool.event_id)
    assert await account(db, ledger.market_collateral(market.id or 0)) == 0
    assert await revenue(db) == revenue_before - (costs - collateral)
    async with db.session() as session:
        fees = {
            user: int(fee)
            for user, fee in await session.execute(select(Trade.user_id, func.sum(Trade.fee)).group_by(Trade.user_id))
        }
    assert ((await cash(db, a)).cash, (await cash(db, b)).cash) == (20_000 - fees[a], 20_000 - fees[b])
    await books_ok(db)


async def test_cancel_after_a_resale_returns_the_surplus_to_the_platform(db: Database) -> None:
    """Units resold below their cost: the holders' purchase costs are less than the pairs held."""
    creator, pool, (market,) = await create_market_setup(db, market_type="orderbook")
    a, b, c = [await create_user(db, balance=50_000) for _ in range(3)]
    await place(db, a, market, "buy", "YES", 9180, 9000)
    await place(db, b, market, "buy", "NO", 1020, 1000)  # 10_000 pairs, collateral 10_000
    await place(db, c, market, "buy", "YES", 2040, 2000)  # a bid at 2000
    await place(db, a, market, "sell", "YES", 10_000, kind="market")  # a sells at a loss to c
    before, costs = await revenue(db), await purchase_costs(db)
    assert costs == 1000 + 2000  # b's NO at 1000 and c's YES at 2000, for 10_000 units each
    async with db.transaction() as session:
        await resolution.cancel_event(session, creator_actor(creator), pool.event_id)
    assert await account(db, ledger.market_collateral(market.id or 0)) == 0
    assert await revenue(db) == before + 10_000 - costs
    await books_ok(db)


async def test_resolution_empties_the_collateral(db: Database) -> None:
    creator, pool, market, _, _ = await rounded_fill(db)
    async with db.transaction() as session:
        await resolution.close_market(
            session, creator_actor(creator), pool.event_id, pool.id or 0, market.id or 0, Verdict(won_side="NO")
        )
    assert await account(db, ledger.market_collateral(market.id or 0)) == 0
    await books_ok(db)
