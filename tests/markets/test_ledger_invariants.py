"""Ledger invariants after a long random scenario: deposits, buys, sells (with and without bonus),
closes, a cancelled event and a resolved multi-outcome pool, through the real services.

Whatever happened, every transaction balances, all entries sum to zero, cached balances equal their
entries, no user is negative, every fee collected was distributed, the AMM never lost more than its
LMSR bound, and each open market's q equals what its holders hold.
"""

from __future__ import annotations

import math
import random

from sqlalchemy import func
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import DomainError
from predictql.models import LedgerAccount, LedgerEntry, Market, Position
from predictql.pricing import lmsr
from predictql.services import ledger, lmsr_trading, resolution, users
from predictql.services.lmsr_trading import TradeRequest
from predictql.services.resolution import Verdict
from predictql.settings import Settings
from tests.api.test_lmsr_api import FEE_BPS, entries_total, trader
from tests.markets.factories import create_market_setup, creator_actor

STEPS = 240


class Scenario:
    def __init__(self, db: Database, rng: random.Random) -> None:
        self.db, self.rng = db, rng
        self.users: list[int] = []
        self.markets: list[int] = []
        self.live: list[int] = []
        self.failures: dict[str, int] = {}

    async def attempt(self, label: str, work: object) -> None:
        try:
            await work  # type: ignore[misc]
        except DomainError as error:  # refused work rolls back; the ledger must not notice
            self.failures[f"{label}:{error.code}"] = self.failures.get(f"{label}:{error.code}", 0) + 1

    async def deposit(self) -> None:
        async with self.db.transaction() as session:
            bonus = self.rng.random() < 0.3
            user, amount = self.rng.choice(self.users), self.rng.randint(1, 20_000)
            await users.deposit(session, user_id=user, amount=amount, bonus=bonus)

    def market(self) -> int:
        """Mostly a market still trading; sometimes any (a refused trade must leave no trace)."""
        return self.rng.choice(self.live if self.live and self.rng.random() < 0.85 else self.markets)

    async def holding(self) -> tuple[int, int, str, int] | None:
        """(user, market, token, units) of a random open position."""
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(Position.user_id, Position.market_id, Position.token, Position.amount)
                    .where(Position.status == "open")
                    .order_by(col(Position.id))
                )
            ).all()
        return tuple(self.rng.choice(rows)) if rows else None  # type: ignore[return-value]

    async def trade(self, user: int, request: TradeRequest) -> None:
        async with self.db.transaction() as session:
            await lmsr_trading.trade(session, Actor(user_id=user), request, fee_bps=FEE_BPS)

    async def buy(self) -> None:
        side, kind = self.rng.choice(["buy_yes", "buy_no"]), self.rng.choice(["spend", "shares"])
        request = TradeRequest(self.market(), side, kind, self.rng.randint(1, 15_000), self.rng.random() < 0.4)
        await self.trade(self.rng.choice(self.users), request)

    async def sell(self) -> None:
        found = await self.holding()
        if found is None or self.rng.random() < 0.1:  # now and then, something not held
            user, market_id, token, units = self.rng.choice(self.users), self.market(), "YES", 5_000
        else:
            user, market_id, token, units = found
        units = self.rng.choice([units, units + 1, self.rng.randint(1, units)])  # all, too many, some
        await self.trade(user, TradeRequest(market_id, f"sell_{token.lower()}", "shares", units))

    async def close(self) -> None:
        found = await self.holding()
        user, market_id = (found[0], found[1]) if found else (self.rng.choice(self.users), self.market())
        async with self.db.transaction() as session:
            await lmsr_trading.close_position(session, Actor(user_id=user), market_id=market_id, fee_bps=FEE_BPS)

    async def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.1:
            await self.attempt("deposit", self.deposit())
        elif roll < 0.55:
            await self.attempt("buy", self.buy())
        elif roll < 0.88:
            await self.attempt("sell", self.sell())
        else:
            await self.attempt("close", self.close())


async def test_ledger_balances_after_a_long_random_scenario(db: Database, settings: Settings) -> None:
    rng = random.Random(20260415)
    scenario = Scenario(db, rng)
    for index in range(10):
        referrer = scenario.users[index - 1] if index % 4 else None
        user, _ = await trader(
            db, settings, balance=rng.randint(0, 60_000), bonus=rng.randint(0, 3_000), referrer_id=referrer
        )
        scenario.users.append(user)
    creator, resolved_pool, three = await create_market_setup(db, probabilities=(0.5, 0.3, 0.2), b=200_000)
    _, cancelled_pool, (doomed,) = await create_market_setup(db, creator_id=creator, probabilities=(0.4,), b=50_000)
    _, _, (open_market,) = await create_market_setup(db, creator_id=creator, probabilities=(0.7,))
    scenario.markets = [m.id or 0 for m in (*three, doomed, open_market)]
    scenario.live = list(scenario.markets)

    for step in range(STEPS):
        await scenario.step()
        if step == STEPS // 2:
            async with db.transaction() as session:
                await resolution.cancel_event(session, creator_actor(creator), cancelled_pool.event_id)
            scenario.live.remove(doomed.id or 0)
        if step == 3 * STEPS // 4:
            async with db.transaction() as session:
                await resolution.close_pool(
                    session, creator_actor(creator), resolved_pool.event_id, resolved_pool.id or 0, Verdict(outcome=1)
                )
            scenario.live = [open_market.id or 0]
    # the scenario did exercise the refusals, not only the happy path
    assert {"buy:INSUFFICIENT_BALANCE", "sell:INVALID_AMOUNT", "sell:POSITION_NOT_FOUND"} <= set(scenario.failures)
    assert any(key.endswith("MARKET_RESOLVED") for key in scenario.failures)
    assert sum(scenario.failures.values()) < STEPS // 4

    async with db.session() as session:
        report = await ledger.trial_balance(session)
        assert report.ok, report
        assert await session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))) == 0
        unbalanced = await session.execute(
            select(LedgerEntry.transaction_id)
            .group_by(col(LedgerEntry.transaction_id))
            .having((func.sum(LedgerEntry.amount) != 0) | (func.count() < 2))
        )
        assert unbalanced.all() == []
        negative = await session.scalar(
            select(func.count())
            .select_from(LedgerAccount)
            .where(col(LedgerAccount.kind).in_(["user_cash", "user_bonus"]), LedgerAccount.balance < 0)
        )
        assert negative == 0
        markets = {m.id: m for m in await session.scalars(select(Market))}
        rows = await session.execute(
            select(Position.market_id, Position.token, func.sum(Position.amount))
            .where(Position.status == "open")
            .group_by(col(Position.market_id), col(Position.token))
        )
        held = {(market_id, token): int(amount) for market_id, token, amount in rows}
    assert await entries_total(db, ledger.FEES) == 0  # every fee was split the moment it was collected
    assert await entries_total(db, ledger.REVENUE) > 0

    for market_id in scenario.markets:
        market = markets[market_id]
        amm = await entries_total(db, ledger.market_amm(market_id))
        if market.resolved and market_id != doomed.id:
            assert amm >= -math.ceil(lmsr.max_loss(market.lmsr_b, market.p0)), market_id
        if not market.resolved:  # open markets: q is exactly what holders hold
            assert (market.q_yes, market.q_no) == (held.get((market_id, "YES"), 0), held.get((market_id, "NO"), 0))
        else:
            assert not any(key[0] == market_id for key in held)
    assert markets[doomed.id].resolved and markets[open_market.id or 0].q_yes + markets[open_market.id or 0].q_no > 0
