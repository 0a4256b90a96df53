"""REST group ``lmsr``: preview and trade, fees and rounding (rules 4 and 7), bonus use, every error.

The helpers at the top are shared by the positions, referrals, GraphQL and market tests.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, update
from sqlmodel import col, select

from predictql.db import Database, utcnow
from predictql.models import Event, LedgerAccount, LedgerEntry, Market, Pool, Trade
from predictql.pricing import lmsr
from predictql.services import accounts, ledger, resolution, sessions, users
from predictql.services.pools import state_of
from predictql.services.resolution import Verdict
from predictql.settings import Settings
from tests.conftest import make_settings
from tests.markets.factories import create_market_setup, creator_actor
from tests.support import bearer, lifespan_client, unique_email

FEE_BPS = 200
PREVIEW = "/api/v1/lmsr/preview"
TRADE = "/api/v1/lmsr/trade"


async def trader(
    db: Database,
    settings: Settings,
    *,
    balance: int = 0,
    bonus: int = 0,
    referrer_id: int | None = None,
    nickname: str | None = None,
    hidden: bool = False,
) -> tuple[int, str]:
    """A verified, funded user and an access token, without Argon2 (too slow for many users)."""
    async with db.transaction() as session:
        user = await accounts.create_user(
            session, email=unique_email("trader"), password=None, verified=True, referrer_id=referrer_id
        )
        assert user.id is not None
        user.nickname, user.profile_hidden = nickname, hidden
        if balance:
            await users.deposit(session, user_id=user.id, amount=balance)
        if bonus:
            await users.deposit(session, user_id=user.id, amount=bonus, bonus=True)
        pair = await sessions.open_session(session, settings, user.id)
    return user.id, pair.access_token


async def live_market(db: Database, **overrides: Any) -> Market:
    """One live LMSR market (YES at 0.65 unless told otherwise) of an active event."""
    _, _, markets = await create_market_setup(db, **overrides)
    return markets[0]


async def market_row(db: Database, market_id: int) -> Market:
    async with db.session() as session:
        market = await session.get(Market, market_id)
    assert market is not None
    return market


async def set_market(db: Database, market_id: int, **values: Any) -> None:
    async with db.transaction() as session:
        await session.execute(update(Market).where(col(Market.id) == market_id).values(**values))


async def balances(db: Database, user_id: int) -> ledger.Balances:
    async with db.session() as session:
        return await ledger.balances(session, user_id)


async def trades_of(db: Database, user_id: int) -> list[Trade]:
    async with db.session() as session:
        return list(await session.scalars(select(Trade).where(Trade.user_id == user_id).order_by(col(Trade.id))))


async def entries_total(db: Database, code: str) -> int:
    """An account's balance as the sum of its entries (platform accounts keep no cached balance)."""
    async with db.session() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0))
            .join(LedgerAccount, col(LedgerAccount.id) == LedgerEntry.account_id)
            .where(LedgerAccount.code == code)
        )
    return int(total or 0)


async def trade(
    client: httpx.AsyncClient,
    token: str | None,
    market_id: int,
    side: str,
    amount: Any,
    amount_type: str = "spend",
    **extra: Any,
) -> httpx.Response:
    body = {"market_id": market_id, "side": side, "amount_type": amount_type, "amount": amount, **extra}
    return await client.post(TRADE, json=body, headers=bearer(token) if token else {})


async def preview(
    client: httpx.AsyncClient, market_id: Any, side: str, amount: Any, amount_type: str = "spend"
) -> httpx.Response:
    params = {"market_id": market_id, "side": side, "amount_type": amount_type, "amount": amount}
    return await client.get(PREVIEW, params=params)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def fee_on(amount: int, bps: int = FEE_BPS) -> int:
    return -(-amount * bps // 10_000)


async def test_preview_equals_the_trade_that_follows(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    market = await live_market(db)
    user, token = await trader(db, settings, balance=100_000)
    quoted = ok(await preview(client, market.id, "buy_yes", 1000))
    assert quoted["shares_delta"] > 0 and 0 < quoted["cost_or_payout_cents"] <= 1000
    done = ok(await trade(client, token, market.id or 0, "buy_yes", 1000))
    assert done == {**quoted, "new_position_yes": quoted["shares_delta"], "new_position_no": 0}
    assert (await balances(db, user)).cash == 100_000 - done["cost_or_payout_cents"]

    # A quote of the same size now differs: the first trade moved the price.
    assert ok(await preview(client, market.id, "buy_yes", 1000))["shares_delta"] < quoted["shares_delta"]

    by_shares = ok(await preview(client, market.id, "buy_no", 700, "shares"))
    assert by_shares["shares_delta"] == 700
    assert ok(await trade(client, token, market.id or 0, "buy_no", 700, "shares")) == {
        **by_shares,
        "new_position_yes": done["shares_delta"],
        "new_position_no": 700,
    }
    sell = ok(await preview(client, market.id, "sell_yes", 500, "shares"))
    assert sell["shares_delta"] == -500
    assert ok(await trade(client, token, market.id or 0, "sell_yes", 500, "shares")) == {
        **sell,
        "new_position_yes": done["shares_delta"] - 500,
        "new_position_no": 700,
    }


async def test_fee_on_every_trade_rounds_for_the_platform(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    market = await live_market(db)
    user, token = await trader(db, settings, balance=100_000)
    before = state_of(await market_row(db, market.id or 0))
    bought = ok(await trade(client, token, market.id or 0, "buy_yes", 3333, "shares"))
    exact_buy = lmsr.cost_delta(before, lmsr.Side.BUY_YES, 3333)
    middle = state_of(await market_row(db, market.id or 0))
    sold = ok(await trade(client, token, market.id or 0, "sell_yes", 1111, "shares"))
    exact_sell = -lmsr.cost_delta(middle, lmsr.Side.SELL_YES, 1111)

    buy_row, sell_row = await trades_of(db, user)
    # buy: price rounded up, fee rounded up on it: the user pays price * 1.02 rounded up (or a kopeck more)
    assert buy_row.amount == math.ceil(exact_buy) and buy_row.fee == fee_on(buy_row.amount) > 0
    assert bought["cost_or_payout_cents"] == buy_row.amount + buy_row.fee
    assert exact_buy * 1.02 <= bought["cost_or_payout_cents"] < exact_buy * 1.02 + 2
    # sell: price rounded down, fee rounded up: the user receives price * 0.98 rounded down (or a kopeck less)
    assert sell_row.amount == math.floor(exact_sell) and sell_row.fee == fee_on(sell_row.amount) > 0
    assert sold["cost_or_payout_cents"] == sell_row.amount - sell_row.fee
    assert exact_sell * 0.98 - 2 < sold["cost_or_payout_cents"] <= exact_sell * 0.98
    assert (await balances(db, user)).cash == 100_000 - bought["cost_or_payout_cents"] + sold["cost_or_payout_cents"]
    async with db.session() as session:
        assert (await ledger.trial_balance(session)).ok
    assert await entries_total(db, ledger.REVENUE) == buy_row.fee + sell_row.fee  # no referrer: all to platform
    assert await entries_total(db, ledger.FEES) == 0  # every fee collected is distributed at once


async def test_fee_comes_from_settings(db: Database, settings: Settings) -> None:
    market = await live_market(db)
    custom = make_settings(settings.database_url, settings.data_dir, fee_bps=500)
    user, token = await trader(db, custom, balance=50_000)
    async with lifespan_client(custom) as http:
        ok(await trade(http, token, market.id or 0, "buy_yes", 4000, "shares"))
    (row,) = await trades_of(db, user)
    assert row.fee == fee_on(row.amount, 500)


async def test_use_bonus_spends_bonus_first_then_cash(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    market = await live_market(db)
    user, token = await trader(db, settings, balance=10_000, bonus=300)
    plain = ok(await trade(client, token, market.id or 0, "buy_yes", 500))
    assert await balances(db, user) == ledger.Balances(10_000 - plain["cost_or_payout_cents"], 300)

    cash = (await balances(db, user)).cash
    mixed = ok(await trade(client, token, market.id or 0, "buy_yes", 1000, use_bonus=True))
    assert await balances(db, user) == ledger.Balances(cash - (mixed["cost_or_payout_cents"] - 300), 0)

    small = ok(await trade(client, token, market.id or 0, "buy_no", 100))
    assert small["cost_or_payout_cents"] <= 100
    _, only_bonus = await trader(db, settings, bonus=1000)
    spent = ok(await trade(client, only_bonus, market.id or 0, "buy_no", 600, use_bonus=True))
    assert spent["cost_or_payout_cents"] <= 600
    assert error(await trade(client, only_bonus, market.id or 0, "buy_no", 600)) == (402, "INSUFFICIENT_BALANCE")


async def test_bonus_paid_positions_refund_to_bonus_on_cancel(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    creator, pool, (market,) = await create_market_setup(db)
    user, token = await trader(db, settings, balance=5_000, bonus=400)
    ok(await trade(client, token, market.id or 0, "buy_yes", 2000, use_bonus=True))
    async with db.transaction() as session:
        await resolution.cancel_event(session, creator_actor(creator), pool.event_id)
    (row,) = await trades_of(db, user)
    # the price part is refunded, bonus to bonus and cash to cash; the fee is not
    assert row.amount > 400
    assert await balances(db, user) == ledger.Balances(5_000 - row.fee, 400)


async def test_trade_errors(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    user, token = await trader(db, settings, balance=1_000)
    cases = [
        ((mid, "buy_yes", 0), (400, "INVALID_AMOUNT")),
        ((mid, "buy_yes", -5), (400, "INVALID_AMOUNT")),
        ((mid, "buy_yes", 10.5), (400, "INVALID_AMOUNT")),
        ((mid, "buy_yes", "100"), (400, "INVALID_AMOUNT")),
        ((mid, "buy_yes", 1), (400, "INVALID_AMOUNT")),  # one kopeck buys no unit once the fee is added
        ((mid, "buy_maybe", 100), (400, "INVALID_SIDE")),
        ((mid, "buy_yes", 10**16), (400, "INVALID_AMOUNT")),
        ((mid + 999, "buy_yes", 100), (404, "MARKET_NOT_FOUND")),
        ((mid, "buy_yes", 5000), (402, "INSUFFICIENT_BALANCE")),
    ]
    for (market_id, side, amount), expected in cases:
        assert error(await trade(client, token, market_id, side, amount)) == expected, (side, amount)
    assert error(await trade(client, token, mid, "sell_yes", 10, "shares")) == (404, "POSITION_NOT_FOUND")
    assert error(await trade(client, token, mid, "sell_yes", 10, "spend")) == (400, "INVALID_AMOUNT")
    assert error(await trade(client, token, mid, "buy_yes", 10, "budget")) == (400, "INVALID_AMOUNT")
    body = {"market_id": mid, "amount_type": "spend", "amount": 5}
    no_side = await client.post(TRADE, json=body, headers=bearer(token))
    assert error(no_side) == (400, "INVALID_SIDE")
    assert error(await trade(client, None, mid, "buy_yes", 100)) == (401, "UNAUTHORIZED")
    ok(await trade(client, token, mid, "buy_yes", 100))
    assert error(await trade(client, token, mid, "sell_yes", 10**6, "shares")) == (400, "INVALID_AMOUNT")
    assert len(await trades_of(db, user)) == 1  # nothing but the one good trade was recorded


async def test_preview_errors(client: httpx.AsyncClient, db: Database) -> None:
    market = await live_market(db)
    assert error(await preview(client, market.id, "buy_yes", 0)) == (400, "INVALID_AMOUNT")
    assert error(await preview(client, market.id, "buy_yes", "ten")) == (400, "INVALID_AMOUNT")
    assert error(await preview(client, market.id, "hold", 100)) == (400, "INVALID_SIDE")
    assert error(await client.get(PREVIEW, params={"market_id": market.id, "amount": 5})) == (400, "INVALID_SIDE")
    assert error(await preview(client, (market.id or 0) + 999, "buy_yes", 100)) == (404, "MARKET_NOT_FOUND")
    # a preview needs no position: selling is quoted for anyone
    assert ok(await preview(client, market.id, "sell_no", 100, "shares"))["shares_delta"] == -100


async def test_paused_resolved_and_closed_markets(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    creator, pool, (market,) = await create_market_setup(db)
    mid = market.id or 0
    _, token = await trader(db, settings, balance=10_000)
    ok(await trade(client, token, mid, "buy_yes", 500))
    await set_market(db, mid, paused=True)
    assert error(await trade(client, token, mid, "buy_yes", 500)) == (409, "MARKET_PAUSED")
    assert error(await trade(client, token, mid, "sell_yes", 10, "shares")) == (409, "MARKET_PAUSED")
    assert error(await preview(client, mid, "buy_yes", 500)) == (409, "MARKET_PAUSED")
    await set_market(db, mid, paused=False)
    async with db.transaction() as session:
        await resolution.close_pool(
            session, creator_actor(creator), pool.event_id, pool.id or 0, Verdict(won_side="NO")
        )
    assert error(await trade(client, token, mid, "buy_yes", 500)) == (409, "MARKET_RESOLVED")
    assert error(await preview(client, mid, "buy_yes", 500)) == (409, "MARKET_RESOLVED")


@pytest.mark.parametrize("window", ["not_live_yet", "finished"])
async def test_outside_the_trading_window_is_paused(
    client: httpx.AsyncClient, db: Database, settings: Settings, window: str
) -> None:
    _, pool, (market,) = await create_market_setup(db)
    _, token = await trader(db, settings, balance=10_000)
    hour = timedelta(hours=1)
    times = {"live_at": utcnow() + hour} if window == "not_live_yet" else {"finish_at": utcnow() - hour}
    async with db.transaction() as session:
        await session.execute(update(Pool).where(col(Pool.id) == pool.id).values(**times))
    assert error(await trade(client, token, market.id or 0, "buy_yes", 500)) == (409, "MARKET_PAUSED")


async def test_hidden_event_cannot_be_bought_but_can_be_sold(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    market = await live_market(db)
    _, token = await trader(db, settings, balance=10_000)
    ok(await trade(client, token, market.id or 0, "buy_yes", 500))
    async with db.transaction() as session:
        await session.execute(update(Event).where(col(Event.id) == market.event_id).values(is_active=False))
    assert error(await trade(client, token, market.id or 0, "buy_yes", 500)) == (404, "MARKET_NOT_FOUND")
    assert error(await preview(client, market.id, "buy_yes", 500)) == (404, "MARKET_NOT_FOUND")
    assert ok(await trade(client, token, market.id or 0, "sell_yes", 100, "shares"))["shares_delta"] == -100


async def test_read_only_api_token_cannot_trade(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    user, token = await trader(db, settings, balance=10_000)
    created = await client.post("/api/v1/users/me/api-tokens", json={"name": "bot"}, headers=bearer(token))
    assert created.status_code == 201, created.text
    response = await trade(client, created.json()["token"], market.id or 0, "buy_yes", 500)
    assert error(response) == (403, "token_read_only")
    assert await trades_of(db, user) == []


@pytest.mark.parametrize("side", ["buy_yes", "buy_no"])
async def test_spend_buys_the_most_units_the_budget_allows(client: httpx.AsyncClient, db: Database, side: str) -> None:
    market = await live_market(db)
    quoted = ok(await preview(client, market.id, side, 2500))
    one_more = ok(await preview(client, market.id, side, quoted["shares_delta"] + 1, "shares"))
    assert quoted["cost_or_payout_cents"] <= 2500 < one_more["cost_or_payout_cents"]


async def test_a_retried_trade_with_the_same_idempotency_key_executes_once(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    market = await live_market(db)
    user, token = await trader(db, settings, balance=10_000)
    headers = {**bearer(token), "Idempotency-Key": "trade-1"}
    body = {"market_id": market.id, "side": "buy_yes", "amount_type": "spend", "amount": 1000}
    first = await client.post(TRADE, json=body, headers=headers)
    again = await client.post(TRADE, json=body, headers=headers)
    assert ok(first) == ok(again) and again.headers.get("Idempotent-Replayed") == "true"
    assert len(await trades_of(db, user)) == 1
    assert (await balances(db, user)).cash == 10_000 - first.json()["cost_or_payout_cents"]
