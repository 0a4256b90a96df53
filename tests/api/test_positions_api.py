"""Positions routes of the REST ``trading`` group, the trades feed, the profile's positions, and the
PnL chart: average price, realized PnL, cursor pages, closing a position."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import update
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database
from predictql.models import Event, Position
from predictql.pricing import lmsr
from predictql.rest_compat.presenters import user_info
from predictql.services import lmsr_trading, positions, resolution, users
from predictql.services.lmsr_trading import TradeRequest
from predictql.services.pools import state_of
from predictql.services.resolution import Verdict
from predictql.settings import Settings
from tests.api.test_lmsr_api import (
    FEE_BPS,
    balances,
    error,
    live_market,
    market_row,
    ok,
    set_market,
    trade,
    trader,
    trades_of,
)
from tests.markets.factories import create_market_setup, creator_actor
from tests.support import bearer

MY = "/api/v1/market/positions/my"
COMPLETED = "/api/v1/market/positions/completed"
LATEST = "/api/v1/market/trades/latest"


def close_path(market_id: int) -> str:
    return f"/api/v1/market/positions/{market_id}/close"


async def test_open_positions_show_names_avg_price_and_unrealized_pnl(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    market = await live_market(db)
    user, token = await trader(db, settings, balance=100_000)
    ok(await trade(client, token, market.id or 0, "buy_yes", 2000, "shares"))
    ok(await trade(client, token, market.id or 0, "buy_yes", 3000, "shares"))
    ok(await trade(client, token, market.id or 0, "buy_no", 1000, "shares"))
    first, second, no_buy = await trades_of(db, user)
    avg = (first.amount + second.amount) * 10_000 // 5000

    listed = ok(await client.get(MY, headers=bearer(token)))
    yes, no = sorted(listed, key=lambda p: p["token_type"], reverse=True)
    yes_bps, no_bps = lmsr.price_bps(state_of(await market_row(db, market.id or 0)))
    assert yes == {
        "id": yes["id"],
        "user_id": user,
        "market_id": market.id,
        "token_type": "YES",
        "amount": 5000,
        "avg_price": avg,
        "use_bonus": False,
        "created_at": yes["created_at"],
        "event_id": market.event_id,
        "event_name": "Test event",
        "pool_id": market.pool_id,
        "pool_name": "Main Pool",
        "market_name": "Outcome 0",
        "side": "YES",
        "side_ru": "ДА",
        "unrealized_pnl": (yes_bps - avg) * 5000 // 10_000,
    }
    assert (no["side"], no["side_ru"], no["avg_price"]) == ("NO", "НЕТ", no_buy.amount * 10_000 // 1000)
    assert no["unrealized_pnl"] == (no_bps - no["avg_price"]) * 1000 // 10_000

    ok(await trade(client, token, market.id or 0, "sell_yes", 1500, "shares"))
    after = {p["token_type"]: p for p in ok(await client.get(MY, headers=bearer(token)))}
    assert (after["YES"]["amount"], after["YES"]["avg_price"]) == (3500, avg)  # unchanged on a partial sell


async def test_realized_pnl_and_close_position(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    user, token = await trader(db, settings, balance=100_000)
    bought = ok(await trade(client, token, mid, "buy_yes", 3000, "shares"))
    ok(await trade(client, token, mid, "buy_no", 800, "shares"))
    sold = ok(await trade(client, token, mid, "sell_yes", 1000, "shares"))
    async with db.session() as session:
        (held,) = await session.scalars(select(Position).where(Position.user_id == user, Position.token == "YES"))
    cost_share = bought["cost_or_payout_cents"] * 1000 // 3000
    assert held.realized_pnl == sold["cost_or_payout_cents"] - cost_share  # fees included on both legs

    cash = (await balances(db, user)).cash
    assert ok(await client.post(close_path(mid), headers=bearer(token))) == {"message": "Position closed successfully"}
    rows = await trades_of(db, user)
    closing = rows[-2:]
    assert [(t.side, t.token, t.shares) for t in closing] == [("sell", "YES", 2000), ("sell", "NO", 800)]
    assert (await balances(db, user)).cash == cash + sum(t.amount - t.fee for t in closing)
    assert ok(await client.get(MY, headers=bearer(token))) == []
    market_after = await market_row(db, mid)
    assert (market_after.q_yes, market_after.q_no) == (0, 0)

    page = ok(await client.get(COMPLETED, headers=bearer(token)))
    by_token = {p["token_type"]: p for p in page["positions"]}
    yes_proceeds = sold["cost_or_payout_cents"] + closing[0].amount - closing[0].fee
    assert by_token["YES"]["pnl"] == yes_proceeds - bought["cost_or_payout_cents"]
    assert by_token["YES"]["won_side"] is None and by_token["YES"]["amount"] == 2000
    assert by_token["YES"]["avg_price"] == rows[0].amount * 10_000 // 3000
    assert set(by_token["NO"]) == {
        "id",
        "user_id",
        "market_id",
        "token_type",
        "amount",
        "avg_price",
        "use_bonus",
        "pnl",
        "won_side",
        "closed_at",
        "event_id",
        "event_name",
        "pool_id",
        "pool_name",
        "market_name",
        "side",
        "side_ru",
    }  # ClosedPositionWithDetails, exactly

    assert error(await client.post(close_path(mid), headers=bearer(token))) == (404, "POSITION_NOT_FOUND")


async def test_close_position_errors(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    _, token = await trader(db, settings, balance=10_000)
    assert error(await client.post(close_path(mid), headers=bearer(token))) == (404, "POSITION_NOT_FOUND")
    assert error(await client.post(close_path(mid + 999), headers=bearer(token))) == (404, "POSITION_NOT_FOUND")
    assert error(await client.post(close_path(mid))) == (401, "UNAUTHORIZED")
    assert error(await client.post("/api/v1/market/positions/abc/close", headers=bearer(token)))[0] == 400
    ok(await trade(client, token, mid, "buy_no", 1000))
    await set_market(db, mid, paused=True)
    assert error(await client.post(close_path(mid), headers=bearer(token))) == (409, "MARKET_PAUSED")
    assert len(ok(await client.get(MY, headers=bearer(token)))) == 1


async def _trade(db: Database, user: int, market_id: int, side: str, amount: int, kind: str = "shares") -> None:
    async with db.transaction() as session:
        await lmsr_trading.trade(
            session, Actor(user_id=user), TradeRequest(market_id, side, kind, amount), fee_bps=FEE_BPS
        )


async def _close(db: Database, user: int, market_id: int) -> None:
    async with db.transaction() as session:
        await lmsr_trading.close_position(session, Actor(user_id=user), market_id=market_id, fee_bps=FEE_BPS)


async def test_completed_positions_cursor_walk(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    user, token = await trader(db, settings, balance=1_000_000)
    for units in (1000, 2000, 3000):
        await _trade(db, user, market.id or 0, "buy_yes", units)
        await _close(db, user, market.id or 0)
    creator, pool, (settled,) = await create_market_setup(db)
    await _trade(db, user, settled.id or 0, "buy_yes", 500)
    await _trade(db, user, settled.id or 0, "buy_no", 700)
    async with db.transaction() as session:  # closes both positions in the same instant
        await resolution.close_pool(session, creator_actor(creator), pool.event_id, pool.id or 0, Verdict("YES"))

    seen, cursor, pages = [], None, []
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = ok(await client.get(COMPLETED, params=params, headers=bearer(token)))
        pages.append((len(page["positions"]), page["has_more"]))
        seen += page["positions"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            assert cursor is None
            break
    assert pages == [(2, True), (2, True), (1, False)]
    assert len({p["id"] for p in seen}) == 5
    closed = [datetime.fromisoformat(p["closed_at"]) for p in seen]
    assert closed == sorted(closed, reverse=True)
    assert [p["won_side"] for p in seen[:2]] == [0, 0]  # the settled pair, most recent
    assert {p["token_type"]: p["pnl"] for p in seen[:2]}["NO"] < 0
    assert all(p["won_side"] is None for p in seen[2:])
    assert [p["amount"] for p in seen[2:]] == [3000, 2000, 1000]

    everything = ok(await client.get(COMPLETED, params={"limit": 100}, headers=bearer(token)))
    assert [p["id"] for p in everything["positions"]] == [p["id"] for p in seen]
    assert everything["has_more"] is False and everything["next_cursor"] is None
    assert error(await client.get(COMPLETED, params={"cursor": "%%%"}, headers=bearer(token))) == (
        400,
        "INVALID_REQUEST",
    )
    assert error(await client.get(COMPLETED, params={"limit": 0}, headers=bearer(token))) == (400, "INVALID_REQUEST")
    assert error(await client.get(COMPLETED)) == (401, "UNAUTHORIZED")
    assert error(await client.get(MY)) == (401, "UNAUTHORIZED")


async def test_latest_trades_feed(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    alice, _ = await trader(db, settings, balance=1_000_000, nickname="alice")
    shy, _ = await trader(db, settings, balance=100_000, hidden=True)
    for _ in range(51):
        await _trade(db, alice, market.id or 0, "buy_yes", 100)
    await _trade(db, shy, market.id or 0, "buy_no", 200)
    hidden_market = await live_market(db)
    await _trade(db, alice, hidden_market.id or 0, "buy_yes", 999)
    async with db.transaction() as session:
        await session.execute(update(Event).where(col(Event.id) == hidden_market.event_id).values(is_active=False))

    feed = ok(await client.get(LATEST))
    assert len(feed) == 50
    latest = (await trades_of(db, shy))[0]
    assert feed[0] == {
        "amount": latest.amount,
        "name": "Anonymous",
        "token": "NO",
        "event": "Test event",
        "market": "Outcome 0",
        "avatar": None,
    }
    assert all(item["name"] == "alice" and item["token"] == "YES" for item in feed[1:])
    assert 999 not in {item["amount"] for item in feed}


async def test_profile_shows_positions_unless_hidden(db: Database, settings: Settings) -> None:
    market = await live_market(db)
    user, _ = await trader(db, settings, balance=100_000)
    viewer, _ = await trader(db, settings)
    await _trade(db, user, market.id or 0, "buy_yes", 4000)
    await _trade(db, user, market.id or 0, "buy_no", 1000)
    await _close(db, user, market.id or 0)
    await _trade(db, user, market.id or 0, "buy_yes", 2000)

    async def info_as(caller: int) -> dict[str, object]:
        async with db.session() as session:
            profile = await users.profile(session, Actor(user_id=caller), user_id=user)
            return user_info(profile, await positions.activity(session, Actor(user_id=caller), user=profile.user))

    mine = await info_as(user)
    assert [p["amount"] for p in mine["positions"]] == [2000]  # type: ignore[index]
    assert len(mine["closed_positions"]) == 2 and mine["closed_positions_has_more"] is False  # type: ignore[arg-type]
    assert mine["total_predictions"] == 3
    wins = [p["pnl"] for p in mine["closed_positions"]]  # type: ignore[union-attr]
    assert mine["biggest_win"] == max(0, *wins)
    public = await info_as(viewer)
    assert public["positions"] == mine["positions"] and "balance" not in public

    async with db.transaction() as session:
        await users.update_me(session, Actor(user_id=user), profile_hidden=True)
    hidden = await info_as(viewer)
    assert (hidden["positions"], hidden["closed_positions"], hidden["total_predictions"]) == ([], [], 0)
    assert (await info_as(user))["positions"] == mine["positions"]


async def test_auth_me_lists_positions(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    _, token = await trader(db, settings, balance=10_000)
    ok(await trade(client, token, market.id or 0, "buy_yes", 1000))
    me = ok(await client.get("/api/v1/auth/me", headers=bearer(token)))["user"]
    assert len(me["positions"]) == 1 and me["total_predictions"] == 1


async def _close_on(db: Database, user: int, when: datetime) -> None:
    """Backdate the user's most recently closed position."""
    async with db.transaction() as session:
        newest = await session.scalar(
            select(Position.id)
            .where(Position.user_id == user, Position.status == "closed")
            .order_by(col(Position.id).desc())
            .limit(1)
        )
        await session.execute(update(Position).where(col(Position.id) == newest).values(closed_at=when))


async def test_pnl_chart(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    user, token = await trader(db, settings, balance=1_000_000)
    mover, mover_token = await trader(db, settings, balance=1_000_000)
    assert ok(await client.get("/api/v1/users/me/pnl/chart", headers=bearer(token))) == {"points": []}
    days = [
        datetime(2025, 7, 2, 9, tzinfo=UTC),
        datetime(2025, 7, 2, 23, 59, tzinfo=UTC),
        datetime(2025, 7, 5, tzinfo=UTC),
    ]
    for day, (side, move) in zip(
        days, [("buy_yes", "buy_yes"), ("buy_yes", "buy_no"), ("buy_no", "buy_no")], strict=True
    ):
        await _trade(db, user, mid, side, 50_000)
        await _trade(db, mover, mid, move, 200_000)  # moves the price for or against the user
        await _close(db, user, mid)
        await _close_on(db, user, day)
    async with db.session() as session:
        pnls = list(
            await session.scalars(
                select(Position.realized_pnl).where(Position.user_id == user).order_by(col(Position.id))
            )
        )
    assert pnls[0] > 0 and pnls[1] < 0 and pnls[2] > 0

    chart = ok(await client.get("/api/v1/users/me/pnl/chart", headers=bearer(token)))
    assert chart == {
        "points": [
            {"timestamp": "2025-07-01T00:00:00Z", "pnl": 0.0},
            {"timestamp": "2025-07-02T00:00:00Z", "pnl": round((pnls[0] + pnls[1]) / 100, 2)},
            {"timestamp": "2025-07-05T00:00:00Z", "pnl": round(sum(pnls) / 100, 2)},
        ]
    }
    assert ok(await client.get(f"/api/v1/users/{user}/pnl/chart")) == chart
    assert ok(await client.get(f"/api/v1/users/{user}/pnl/chart", headers=bearer(mover_token))) == chart

    async with db.transaction() as session:
        await users.update_me(session, Actor(user_id=user), profile_hidden=True)
    assert ok(await client.get(f"/api/v1/users/{user}/pnl/chart", headers=bearer(mover_token))) == {"points": []}
    assert ok(await client.get(f"/api/v1/users/{user}/pnl/chart", headers=bearer(token))) == chart
    assert error(await client.get(f"/api/v1/users/{user + 999}/pnl/chart")) == (404, "user_not_found")
    assert error(await client.get("/api/v1/users/abc/pnl/chart")) == (400, "invalid_id")
    assert error(await client.get("/api/v1/users/me/pnl/chart")) == (401, "unauthorized")
