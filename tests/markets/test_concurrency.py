"""Simultaneous trades: no overdraft, no lost update, no deadlock, a balanced ledger.

On SQLite the app serializes writers; on PostgreSQL the transactions really run side by side (the
engine's pool hands out many connections; ``peak_connections`` proves it) and correctness comes
from the row locks and the conditional balance updates alone.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event, func
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import DomainError
from predictql.models import Market, Position, Trade
from predictql.services import ledger, lmsr_trading
from predictql.services.lmsr_trading import TradeRequest, TradeResult
from predictql.settings import Settings
from tests.api.test_lmsr_api import (
    FEE_BPS,
    balances,
    entries_total,
    live_market,
    market_row,
    ok,
    preview,
    trade,
    trader,
)

N = 50


@contextmanager
def peak_connections(db: Database) -> Iterator[dict[str, int]]:
    """How many pooled connections were checked out at once while the block ran."""
    seen = {"now": 0, "peak": 0}

    def checkout(*_: Any) -> None:
        seen["now"] += 1
        seen["peak"] = max(seen["peak"], seen["now"])

    def checkin(*_: Any) -> None:
        seen["now"] -= 1

    engine = db.engine.sync_engine
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield seen
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)


async def assert_ledger_balanced(db: Database) -> None:
    async with db.session() as session:
        report = await ledger.trial_balance(session)
    assert report.ok, report


async def test_one_user_cannot_overspend_with_simultaneous_trades(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    market = await live_market(db)
    user, token = await trader(db, settings, balance=10_500)
    responses = await asyncio.gather(*(trade(client, token, market.id or 0, "buy_yes", 1000) for _ in range(N)))

    succeeded = [r.json() for r in responses if r.status_code == 200]
    failed = [r for r in responses if r.status_code != 200]
    assert {(r.status_code, r.json()["error"]["code"]) for r in failed} == {(402, "INSUFFICIENT_BALANCE")}
    spent = sum(r["cost_or_payout_cents"] for r in succeeded)
    cash = (await balances(db, user)).cash
    assert cash == 10_500 - spent >= 0
    # each trade costs at most its 1000 budget and at least 990: exactly 10 fit, and no 11th would
    assert all(990 <= r["cost_or_payout_cents"] <= 1000 for r in succeeded)
    assert len(succeeded) == 10
    assert cash < ok(await preview(client, market.id, "buy_yes", 1000))["cost_or_payout_cents"]

    rows = await _trades(db, market.id or 0)
    assert len(rows) == 10 and sum(t.amount + t.fee for t in rows) == spent
    async with db.session() as session:
        held = await session.scalar(select(func.sum(Position.amount)).where(Position.user_id == user))
    assert held == sum(r["shares_delta"] for r in succeeded) == (await market_row(db, market.id or 0)).q_yes
    await assert_ledger_balanced(db)


async def test_one_user_on_many_markets_cannot_overspend(db: Database, settings: Settings) -> None:
    """Different markets take different market locks: only the ledger's conditional update stops this."""
    markets = [(await live_market(db)).id or 0 for _ in range(5)]
    user, _ = await trader(db, settings, balance=10_500, bonus=0)
    requests = [TradeRequest(markets[i % 5], "buy_no", "spend", 1000, use_bonus=i % 2 == 0) for i in range(N)]
    with peak_connections(db) as seen:
        results = await asyncio.gather(*(_run(db, user, request) for request in requests))
    if not db.is_sqlite:
        assert seen["peak"] > 1, "the trades did not run concurrently"
    done = [r for r in results if isinstance(r, TradeResult)]
    assert {type(r).__name__ for r in results if not isinstance(r, TradeResult)} == {"InsufficientFunds"}
    assert len(done) == 10
    assert (await balances(db, user)).cash == 10_500 - sum(r.cost_or_payout for r in done) >= 0
    await assert_ledger_balanced(db)


async def _trades(db: Database, market_id: int) -> list[Trade]:
    async with db.session() as session:
        return list(await session.scalars(select(Trade).where(Trade.market_id == market_id).order_by(col(Trade.id))))


async def _run(db: Database, user: int, request: TradeRequest) -> TradeResult | DomainError:
    try:
        async with db.transaction() as session:
            return await lmsr_trading.trade(session, Actor(user_id=user), request, fee_bps=FEE_BPS)
    except DomainError as error:
        return error


def _amm(result: TradeResult) -> int:
    """The AMM's side of a trade: a buyer's cost less the fee, or a seller's payout plus it."""
    return result.cost_or_payout - result.fee if result.is_buy else result.cost_or_payout + result.fee


async def test_many_users_on_one_market_lose_no_update(db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    people = [(await trader(db, settings, balance=50_000))[0] for _ in range(N)]
    rng = random.Random(7)
    buys = [
        TradeRequest(mid, rng.choice(["buy_yes", "buy_no"]), rng.choice(["spend", "shares"]), rng.randint(500, 5000))
        for _ in people
    ]
    with peak_connections(db) as seen:
        bought = await asyncio.gather(*(_run(db, user, request) for user, request in zip(people, buys, strict=True)))
        assert all(isinstance(r, TradeResult) for r in bought), [r for r in bought if not isinstance(r, TradeResult)]
        sells = [
            TradeRequest(mid, "sell_yes" if r.new_position_yes else "sell_no", "shares", r.shares // 2)
            for r in bought
            if isinstance(r, TradeResult)
        ]
        sold = await asyncio.gather(*(_run(db, user, request) for user, request in zip(people, sells, strict=True)))
    if not db.is_sqlite:
        assert seen["peak"] > 1, "the trades did not run concurrently"
    results = [r for r in (*bought, *sold) if isinstance(r, TradeResult)]
    assert len(results) == 2 * N

    after = await market_row(db, mid)
    by_token = {"YES": 0, "NO": 0}
    for request, result in zip((*buys, *sells), results, strict=True):
        by_token["YES" if "yes" in request.side else "NO"] += result.shares_delta
    assert (after.q_yes, after.q_no) == (by_token["YES"], by_token["NO"])
    assert after.volume == sum(_amm(r) for r in results) == sum(t.amount for t in await _trades(db, mid))
    assert await entries_total(db, ledger.market_amm(mid)) == sum(_amm(r) if r.is_buy else -_amm(r) for r in results)
    for user, first, second in zip(people, bought, sold, strict=True):
        assert isinstance(first, TradeResult) and isinstance(second, TradeResult)
        assert (await balances(db, user)).cash == 50_000 - first.cost_or_payout + second.cost_or_payout
    await assert_ledger_balanced(db)


async def test_crossing_trades_on_many_markets_do_not_deadlock(db: Database, settings: Settings) -> None:
    """Referrers trading while their referrals' fees credit them, on several markets, with bonus."""
    markets = [(await live_market(db)).id or 0 for _ in range(3)]
    people: list[int] = []
    for index in range(12):
        referrer = people[index - 1] if index % 4 else None  # chains of four
        people.append((await trader(db, settings, balance=200_000, bonus=2_000, referrer_id=referrer))[0])
    rng = random.Random(11)
    jobs = [
        (user, TradeRequest(rng.choice(markets), rng.choice(["buy_yes", "buy_no"]), "spend", 3000, rng.random() < 0.5))
        for user in people
        for _ in range(4)
    ]
    results = await asyncio.gather(*(_run(db, user, request) for user, request in jobs))
    assert all(isinstance(r, TradeResult) for r in results), [r for r in results if not isinstance(r, TradeResult)]
    closes = await asyncio.gather(*(_close(db, user, market_id) for user in people for market_id in markets))
    assert {type(r).__name__ for r in closes} <= {"CloseResult", "NotFound"}
    async with db.session() as session:
        still_open = await session.scalar(select(func.count()).select_from(Position).where(Position.status == "open"))
        q = (await session.execute(select(func.sum(Market.q_yes), func.sum(Market.q_no)))).one()
    assert still_open == 0 and tuple(q) == (0, 0)
    await assert_ledger_balanced(db)


async def _close(db: Database, user: int, market_id: int) -> object:
    try:
        async with db.transaction() as session:
            return await lmsr_trading.close_position(session, Actor(user_id=user), market_id=market_id, fee_bps=FEE_BPS)
    except DomainError as error:
        return error
