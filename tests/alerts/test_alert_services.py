"""Price alerts through the real services: a crossing fires once, in the transaction that makes it;
repeating alerts re-arm only after the price went back; the per-user limit; whose alert is whose;
asset alerts through ``asset_price_moved``; concurrent trades on one market fire nothing twice."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import Conflict, DomainError, NotFound
from predictql.models import AlertFiring, Market, Notification, PriceAlert
from predictql.services import alerts, lmsr_trading, pools
from predictql.services.alerts import AlertSpec
from predictql.services.lmsr_trading import TradeRequest
from predictql.services.prices import market_price
from tests.conftest import BACKEND
from tests.markets.factories import create_market_setup, creator_actor
from tests.markets.test_concurrency import peak_connections
from tests.markets.test_orderbook_services import place
from tests.support import create_user

B = 100_000  # a shallow market: a few hundred roubles move YES across 50 %


async def new_alert(db: Database, user: int, **spec: object) -> PriceAlert:
    values: dict[str, object] = {"direction": "above", "level": Decimal(5000), **spec}
    async with db.transaction() as session:
        return await alerts.create(session, Actor(user_id=user), AlertSpec(**values), max_active=20)  # type: ignore[arg-type]


async def swing(db: Database, user: int, market_id: int, side: str, amount: int, kind: str = "spend") -> int:
    """Trade, and return the YES price after it."""
    async with db.transaction() as session:
        result = await lmsr_trading.trade(
            session, Actor(user_id=user), TradeRequest(market_id, side, kind, amount), fee_bps=200
        )
    return market_price(result.market).yes


async def to_price(db: Database, user: int, market_id: int, target: int) -> int:
    """Buy or sell YES until the price is past ``target`` (above it going up, below it going down)."""
    async with db.session() as session:
        market = await session.get(Market, market_id)
        assert market is not None
        price = market_price(market).yes
    for _ in range(40):
        if price < target:
            price = await swing(db, user, market_id, "buy_yes", 2_000)
            if price > target:
                return price
        else:
            price = await swing(db, user, market_id, "buy_no", 2_000)
            if price < target:
                return price
    raise AssertionError(f"price stuck at {price}")


async def firings(db: Database, alert_id: int) -> list[AlertFiring]:
    async with db.session() as session:
        query = select(AlertFiring).where(col(AlertFiring.alert_id) == alert_id).order_by(col(AlertFiring.id))
        return list(await session.scalars(query))


async def alert_row(db: Database, alert_id: int) -> PriceAlert:
    async with db.session() as session:
        row = await session.get(PriceAlert, alert_id)
        assert row is not None
        return row


async def market_at_40(db: Database) -> int:
    _, _, (market,) = await create_market_setup(db, probabilities=(0.40,), b=B)
    return market.id or 0


async def test_one_trade_from_40_to_60_fires_an_above_50_alert_once(db: Database) -> None:
    market_id = await market_at_40(db)
    owner = await create_user(db)
    whale = await create_user(db, balance=10_000_000)
    alert = await new_alert(db, owner, market_id=market_id)
    below = await new_alert(db, owner, market_id=market_id, direction="below", level=Decimal(3000))

    price = await swing(db, whale, market_id, "buy_yes", 60_000)
    assert price >= 6000
    (fired,) = await firings(db, alert.id or 0)
    assert (fired.price_before, fired.price, fired.level) == (Decimal(4000), Decimal(price), Decimal(5000))
    assert (await alert_row(db, alert.id or 0)).status == "fired"
    assert await firings(db, below.id or 0) == []
    async with db.session() as session:
        (note,) = list(await session.scalars(select(Notification).where(col(Notification.user_id) == owner)))
    assert (note.type, note.related_type, note.related_id) == ("price_alert", "market", market_id)
    assert "rose above 50.00%" in note.message

    # a one-shot alert is done: back down and up again fires nothing more
    await to_price(db, whale, market_id, 4500)
    await to_price(db, whale, market_id, 5500)
    assert len(await firings(db, alert.id or 0)) == 1


async def test_a_repeating_alert_rearms_only_after_the_price_went_back(db: Database) -> None:
    market_id = await market_at_40(db)
    owner = await create_user(db)
    whale = await create_user(db, balance=10_000_000)
    alert = await new_alert(db, owner, market_id=market_id, repeating=True)

    await to_price(db, whale, market_id, 5000)  # up across: fires
    await to_price(db, whale, market_id, 5600)  # further up: no crossing
    assert len(await firings(db, alert.id or 0)) == 1
    await to_price(db, whale, market_id, 4800)  # back below: re-armed, nothing fires
    assert len(await firings(db, alert.id or 0)) == 1
    await to_price(db, whale, market_id, 5200)  # across again: fires again
    logged = await firings(db, alert.id or 0)
    assert len(logged) == 2 and all(f.price_before is not None and f.price_before < 5000 <= f.price for f in logged)
    row = await alert_row(db, alert.id or 0)
    assert (row.status, row.fire_count) == ("active", 2)


async def test_an_alert_created_past_its_level_waits_for_a_crossing(db: Database) -> None:
    market_id = await market_at_40(db)
    owner = await create_user(db)
    whale = await create_user(db, balance=10_000_000)
    alert = await new_alert(db, owner, market_id=market_id, direction="below", level=Decimal(5000))
    await swing(db, whale, market_id, "buy_no", 2_000)  # 40 % -> lower: already below, no crossing
    assert await firings(db, alert.id or 0) == []
    await to_price(db, whale, market_id, 5100)
    assert await firings(db, alert.id or 0) == []
    await to_price(db, whale, market_id, 4900)
    assert len(await firings(db, alert.id or 0)) == 1


async def test_order_book_fills_fire_alerts(db: Database) -> None:
    _, _, (market,) = await create_market_setup(db, probabilities=(0.40,), market_type="orderbook")
    owner = await create_user(db)
    maker, taker = await create_user(db, balance=1_000_000), await create_user(db, balance=1_000_000)
    alert = await new_alert(db, owner, market_id=market.id)
    await place(db, maker, market, "buy", "NO", 10_000, 4000)  # a YES ask at 6000
    await place(db, taker, market, "buy", "YES", 5_000, 6000)
    (fired,) = await firings(db, alert.id or 0)
    assert (fired.price_before, fired.price) == (Decimal(4000), Decimal(6000))


async def test_a_rolled_back_trade_fires_nothing(db: Database) -> None:
    market_id = await market_at_40(db)
    owner = await create_user(db)
    alert = await new_alert(db, owner, market_id=market_id)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            market = await session.get(Market, market_id, with_for_update=True)
            assert market is not None
            market.p0 = 0.7
            assert await alerts.market_price_moved(session, market, 4000)
            raise RuntimeError("the trade failed after the price moved")
    assert await firings(db, alert.id or 0) == []
    assert (await alert_row(db, alert.id or 0)).status == "active"


async def test_the_active_alert_limit(db: Database) -> None:
    market_id = await market_at_40(db)
    owner = await create_user(db)
    whale = await create_user(db, balance=10_000_000)
    actor = Actor(user_id=owner)
    made = []
    for level in (5000, 7000):
        async with db.transaction() as session:
            spec = AlertSpec("above", Decimal(level), market_id=market_id)
            made.append(await alerts.create(session, actor, spec, max_active=2))
    with pytest.raises(Conflict) as refused:
        async with db.transaction() as session:
            await alerts.create(session, actor, AlertSpec("above", Decimal(8000), market_id=market_id), max_active=2)
    assert refused.value.code == "ALERT_LIMIT_REACHED"
    await to_price(db, whale, market_id, 5000)  # the first fires once and stops counting
    async with db.transaction() as session:
        await alerts.create(session, actor, AlertSpec("above", Decimal(8000), market_id=market_id), max_active=2)
        listed = await alerts.list_alerts(session, actor)
    assert [row.status for row in listed] == ["active", "active", "fired"]


async def test_bad_alerts_are_refused(db: Database) -> None:
    market_id = await market_at_40(db)
    owner = await create_user(db)
    for spec, code in [
        (AlertSpec("sideways", Decimal(5000), market_id=market_id), "INVALID_REQUEST"),
        (AlertSpec("above", Decimal(0), market_id=market_id), "INVALID_PRICE"),
        (AlertSpec("above", Decimal(10000), market_id=market_id), "INVALID_PRICE"),
        (AlertSpec("above", Decimal("50.5"), market_id=market_id), "INVALID_PRICE"),
        (AlertSpec("above", Decimal(5000), market_id=market_id + 1000), "MARKET_NOT_FOUND"),
        (AlertSpec("above", Decimal(5000)), "INVALID_REQUEST"),
        (AlertSpec("above", Decimal(5000), market_id=market_id, symbol="BTCUSDT"), "INVALID_REQUEST"),
        (AlertSpec("above", Decimal(5), symbol="btc usdt"), "INVALID_REQUEST"),
        (AlertSpec("above", Decimal(-5), symbol="BTCUSDT"), "INVALID_PRICE"),
    ]:
        with pytest.raises(DomainError) as refused:
            async with db.transaction() as session:
                await alerts.create(session, Actor(user_id=owner), spec, max_active=20)
        assert refused.value.code == code, spec


async def test_nobody_sees_or_deletes_another_users_alert(db: Database) -> None:
    market_id = await market_at_40(db)
    alice, bob = await create_user(db), await create_user(db)
    alert = await new_alert(db, alice, market_id=market_id)
    async with db.transaction() as session:
        assert await alerts.list_alerts(session, Actor(user_id=bob)) == []
        with pytest.raises(NotFound):
            await alerts.delete(session, Actor(user_id=bob), alert_id=alert.id or 0)
    async with db.transaction() as session:
        await alerts.delete(session, Actor(user_id=alice), alert_id=alert.id or 0)
    async with db.transaction() as session:
        assert await alerts.list_alerts(session, Actor(user_id=alice)) == []
        with pytest.raises(NotFound):  # deleting twice
            await alerts.delete(session, Actor(user_id=alice), alert_id=alert.id or 0)


async def asset_move(db: Database, before: str | None, after: str) -> list[AlertFiring]:
    async with db.transaction() as session:
        return await alerts.asset_price_moved(
            session, "BTCUSDT", Decimal(before) if before is not None else None, Decimal(after)
        )


async def test_asset_alerts_fire_once_per_crossing(db: Database) -> None:
    owner = await create_user(db)
    once = await new_alert(db, owner, symbol="BTCUSDT", level=Decimal("50000.5"))
    again = await new_alert(db, owner, symbol="BTCUSDT", level=Decimal("50000.5"), repeating=True)
    down = await new_alert(db, owner, symbol="BTCUSDT", direction="below", level=Decimal(48000))
    other = await new_alert(db, owner, symbol="ETHUSDT", level=Decimal(1))

    assert await asset_move(db, None, "60000") == []  # a first price crosses nothing
    assert await asset_move(db, "60000", "49000") == []  # down across 50000.5: not a below-48000 crossing
    fired = await asset_move(db, "49000", "50000.5")  # up to exactly the level: crossed
    assert sorted(f.alert_id for f in fired) == sorted([once.id or 0, again.id or 0])
    assert await asset_move(db, "50000.5", "51000") == []
    assert [f.alert_id for f in await asset_move(db, "51000", "47000")] == [down.id]  # below 48000
    (refired,) = await asset_move(db, "47000", "50001")
    assert refired.alert_id == again.id and refired.price == Decimal(50001)
    assert await firings(db, other.id or 0) == []
    async with db.session() as session:
        notes = list(await session.scalars(select(Notification).where(col(Notification.user_id) == owner)))
    assert len(notes) == 4 and all(n.type == "price_alert" and n.related_type is None for n in notes)
    assert "BTCUSDT rose above 50000.5: now 50000.5" in {n.message for n in notes}


async def test_concurrent_trades_fire_each_crossing_once(db: Database) -> None:
    """On PostgreSQL the trades really run side by side; the market row lock makes each one see the
    price the previous one left, so the crossing is seen by exactly one of them."""
    market_id = await market_at_40(db)
    owner = await create_user(db)
    traders = [await create_user(db, balance=1_000_000) for _ in range(12)]
    once = await new_alert(db, owner, market_id=market_id)
    repeating = await new_alert(db, owner, market_id=market_id, repeating=True, level=Decimal(5500))
    never = await new_alert(db, owner, market_id=market_id, direction="below", level=Decimal(3900))

    with peak_connections(db) as seen:
        results = await asyncio.gather(*(swing(db, user, market_id, "buy_yes", 8_000) for user in traders))
    if BACKEND == "postgresql":
        assert seen["peak"] > 1, "the trades did not overlap"
    assert max(results) > 5500
    assert len(await firings(db, once.id or 0)) == 1
    assert len(await firings(db, repeating.id or 0)) == 1
    assert await firings(db, never.id or 0) == []


async def test_a_creator_retargeting_the_pool_fires_alerts(db: Database) -> None:
    creator, pool, (market,) = await create_market_setup(db, probabilities=(0.40,), b=B)
    owner = await create_user(db)
    alert = await new_alert(db, owner, market_id=market.id)
    async with db.transaction() as session:
        await pools.set_probabilities(session, creator_actor(creator), pool.event_id, pool.id or 0, [0.6])
    (fired,) = await firings(db, alert.id or 0)
    assert (fired.price_before, fired.price) == (Decimal(4000), Decimal(6000))


async def test_parallel_creates_cannot_pass_the_limit(db: Database) -> None:
    owner = await create_user(db)

    async def make(n: int) -> bool:
        try:
            async with db.transaction() as session:
                spec = AlertSpec("above", Decimal(100 + n), symbol="BTCUSDT")
                await alerts.create(session, Actor(user_id=owner), spec, max_active=3)
        except Conflict as error:
            assert error.code == "ALERT_LIMIT_REACHED"
            return False
        return True

    with peak_connections(db) as seen:
        made = await asyncio.gather(*(make(n) for n in range(10)))
    if BACKEND == "postgresql":
        assert seen["peak"] > 1, "the creates did not overlap"
    assert made.count(True) == 3
    async with db.session() as session:
        assert len(await alerts.list_alerts(session, Actor(user_id=owner))) == 3


async def test_recorded_asset_prices_fire_asset_alerts(db: Database) -> None:
    """The operator feed and the exchange connectors record prices through ``assets.record_price``,
    which moves the asset alerts: one crossing, one firing, whoever records the price."""
    from predictql.services import assets

    owner = await create_user(db)
    alert = await new_alert(db, owner, symbol="BTCUSDT", level=Decimal(60000))

    async def record(price: str) -> None:
        async with db.transaction() as session:
            await assets.set_price(session, None, symbol="BTCUSDT", price=price, record_seconds=0.001)

    await record("59000")  # the first price crosses nothing
    assert await firings(db, alert.id or 0) == []
    await record("61000.25")
    await record("62000")  # still above: no second firing
    (fired,) = await firings(db, alert.id or 0)
    assert fired.price == Decimal("61000.25")
