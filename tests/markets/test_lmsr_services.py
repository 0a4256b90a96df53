"""The LMSR trade path and settlement at the service level, on the real database."""

from __future__ import annotations

import pytest

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import Conflict, InsufficientFunds, InvalidInput
from predictql.services import ledger, lmsr_trading, resolution
from predictql.services.lmsr_trading import TradeRequest
from predictql.services.resolution import Verdict
from tests.markets.factories import create_market_setup, creator_actor
from tests.support import create_user

FEE = 200


async def _trade(
    db: Database, user_id: int, market_id: int, side: str, amount: int, amount_type: str = "spend"
) -> lmsr_trading.TradeResult:
    async with db.transaction() as session:
        return await lmsr_trading.trade(
            session, Actor(user_id=user_id), TradeRequest(market_id, side, amount_type, amount), fee_bps=FEE
        )


async def _balances(db: Database, user_id: int) -> ledger.Balances:
    async with db.session() as session:
        return await ledger.balances(session, user_id)


async def test_buy_preview_equals_trade_and_moves_money(db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    user = await create_user(db, balance=10_000)
    async with db.session() as session:
        quote = await lmsr_trading.preview(session, TradeRequest(market.id or 0, "buy_yes", "spend", 1000), fee_bps=FEE)
    result = await _trade(db, user, market.id or 0, "buy_yes", 1000)
    assert (result.cost_or_payout, result.shares) == (quote.total, quote.shares)
    assert result.cost_or_payout <= 1000 and result.new_position_yes == result.shares
    assert (await _balances(db, user)).cash == 10_000 - result.cost_or_payout
    async with db.session() as session:
        assert (await ledger.trial_balance(session)).ok


async def test_overspend_is_refused_and_nothing_moves(db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    user = await create_user(db, balance=500)
    with pytest.raises(InsufficientFunds):
        await _trade(db, user, market.id or 0, "buy_yes", 100_000, "shares")
    assert (await _balances(db, user)).cash == 500


async def test_settlement_pays_winners_once(db: Database) -> None:
    creator, pool, (market,) = await create_market_setup(db)
    yes_buyer = await create_user(db, balance=10_000)
    no_buyer = await create_user(db, balance=10_000)
    yes = await _trade(db, yes_buyer, market.id or 0, "buy_yes", 2000)
    no = await _trade(db, no_buyer, market.id or 0, "buy_no", 2000)
    async with db.transaction() as session:
        await resolution.close_pool(
            session, creator_actor(creator), pool.event_id, pool.id or 0, Verdict(won_side="YES")
        )
    assert (await _balances(db, yes_buyer)).cash == 10_000 - yes.cost_or_payout + yes.shares
    assert (await _balances(db, no_buyer)).cash == 10_000 - no.cost_or_payout
    with pytest.raises(Conflict):
        async with db.transaction() as session:
            await resolution.close_pool(
                session, creator_actor(creator), pool.event_id, pool.id or 0, Verdict(won_side="NO")
            )
    async with db.session() as session:
        assert (await ledger.trial_balance(session)).ok


async def test_cancel_refunds_purchase_price(db: Database) -> None:
    creator, pool, (market,) = await create_market_setup(db)
    user = await create_user(db, balance=10_000)
    result = await _trade(db, user, market.id or 0, "buy_yes", 3000)
    async with db.transaction() as session:
        await resolution.cancel_event(session, creator_actor(creator), pool.event_id)
    assert (await _balances(db, user)).cash == 10_000 - result.fee
    with pytest.raises(Conflict):
        await _trade(db, user, market.id or 0, "buy_yes", 10)
    with pytest.raises(InvalidInput):
        await _trade(db, user, market.id or 0, "sell_yes", 10, "spend")
