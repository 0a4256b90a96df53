"""Notifications at the service level: created by each trigger inside its transaction, and each
user's own to read, mark and delete."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import InvalidInput, NotFound
from predictql.models import Notification
from predictql.services import lmsr_trading, notifications, resolution
from predictql.services.lmsr_trading import TradeRequest
from predictql.services.notifications import Draft
from predictql.services.resolution import Verdict
from tests.markets.factories import create_market_setup, creator_actor
from tests.markets.test_orderbook_services import book_market, create_user, place


async def of(db: Database, user_id: int) -> list[Notification]:
    """A user's notifications, oldest first."""
    async with db.session() as session:
        query = select(Notification).where(col(Notification.user_id) == user_id).order_by(col(Notification.id))
        return list(await session.scalars(query))


async def buy(db: Database, user_id: int, market_id: int, side: str = "buy_yes", amount: int = 5_000) -> None:
    async with db.transaction() as session:
        await lmsr_trading.trade(
            session, Actor(user_id=user_id), TradeRequest(market_id, side, "spend", amount), fee_bps=200
        )


async def test_an_lmsr_trade_notifies_its_trader_only(db: Database) -> None:
    creator, _, (market,) = await create_market_setup(db, names=("Team A",))
    alice, bob = await create_user(db, balance=100_000), await create_user(db, balance=100_000)
    await buy(db, alice, market.id or 0)
    (note,) = await of(db, alice)
    assert (note.type, note.title, note.read, note.read_at) == ("trade_executed", "Trade Executed", False, None)
    assert (note.related_type, note.related_id) == ("market", market.id)
    assert note.message.startswith("Bought ") and "YES shares of 'Team A' for 50.00 RUB" in note.message
    assert await of(db, bob) == [] and await of(db, creator) == []


async def test_a_rolled_back_trade_leaves_no_notification(db: Database) -> None:
    _, _, (market,) = await create_market_setup(db)
    alice = await create_user(db, balance=100_000)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await lmsr_trading.trade(
                session, Actor(user_id=alice), TradeRequest(market.id or 0, "buy_yes", "spend", 5_000), fee_bps=200
            )
            assert len(list(await session.scalars(select(Notification)))) == 1  # written, not yet committed
            raise RuntimeError("abort after the trade")
    assert await of(db, alice) == []


async def test_order_fills_notify_each_order_once_per_placement(db: Database) -> None:
    _, market = await book_market(db)
    maker, taker = await create_user(db, balance=1_000_000), await create_user(db, balance=1_000_000)
    first = await place(db, maker, market, "buy", "YES", 6_120, 6000)
    second = await place(db, maker, market, "buy", "YES", 6_120, 6000)
    assert await of(db, maker) == []  # resting, nothing filled yet
    placed = await place(db, taker, market, "buy", "NO", 100_000, 4000)  # crosses both: two fills
    assert placed.order.filled > 0
    maker_notes, taker_notes = await of(db, maker), await of(db, taker)
    assert sorted(n.related_id or 0 for n in maker_notes) == sorted([first.order.id or 0, second.order.id or 0])
    assert [(n.type, n.related_type, n.related_id) for n in taker_notes] == [("order_filled", "order", placed.order.id)]
    assert {n.title for n in maker_notes} == {"Order Filled"}
    assert taker_notes[0].title == "Order Partially Filled" and "partially filled" in taker_notes[0].message


async def test_resolution_tells_winners_and_losers_then_that_the_event_closed(db: Database) -> None:
    creator, pool, (market,) = await create_market_setup(db)
    alice, bob, carol = [await create_user(db, balance=100_000) for _ in range(3)]
    await buy(db, alice, market.id or 0, "buy_yes")
    await buy(db, bob, market.id or 0, "buy_no")
    async with db.transaction() as session:
        await resolution.close_market(
            session, creator_actor(creator), market.event_id, pool.id or 0, market.id or 0, Verdict(won_side="YES")
        )
    won, lost = (await of(db, alice))[1:], (await of(db, bob))[1:]  # after each one's trade_executed
    assert [(n.type, n.title) for n in won] == [("bet_won", "Bet Won"), ("event_closed", "Event Resolved")]
    assert [(n.type, n.title) for n in lost] == [("bet_lost", "Bet Lost"), ("event_closed", "Event Resolved")]
    assert "won: " in won[0].message and (won[0].related_type, won[0].related_id) == ("market", market.id)
    assert won[1].message == "Event 'Test event' has been resolved"
    assert (won[1].related_type, won[1].related_id) == ("event", market.event_id)
    assert await of(db, carol) == [] and await of(db, creator) == []


async def test_cancelling_an_event_tells_each_holder_once(db: Database) -> None:
    creator, _, markets = await create_market_setup(db, probabilities=(0.5, 0.5), names=("A", "B"))
    alice, bob = await create_user(db, balance=100_000), await create_user(db, balance=100_000)
    for market in markets:
        await buy(db, alice, market.id or 0)
    async with db.transaction() as session:
        await resolution.cancel_event(session, creator_actor(creator), markets[0].event_id)
    types = [n.type for n in await of(db, alice)]
    assert types == ["trade_executed", "trade_executed", "event_cancelled"]
    assert (await of(db, alice))[-1].message.startswith("Event 'Test event' has been cancelled")
    assert await of(db, bob) == []


async def test_each_user_sees_and_changes_only_their_own(db: Database) -> None:
    alice, bob = await create_user(db), await create_user(db)
    async with db.transaction() as session:
        drafts = [Draft(alice, "bet_won", "Bet Won", f"m{i}") for i in range(3)] + [Draft(bob, "bet_lost", "x", "y")]
        rows = await notifications.create_many(session, drafts)
    a, b = Actor(user_id=alice), Actor(user_id=bob)
    async with db.transaction() as session:
        assert [n.message for n in await notifications.list_notifications(session, a)] == ["m2", "m1", "m0"]
        assert [n.message for n in await notifications.list_notifications(session, a, limit=1, offset=1)] == ["m1"]
        for other in (rows[0].id or 0, 999_999):
            with pytest.raises(NotFound):
                await notifications.mark_read(session, b, notification_id=other)
            with pytest.raises(NotFound):
                await notifications.delete(session, b, notification_id=other)
        read = await notifications.mark_read(session, a, notification_id=rows[0].id or 0)
        assert read.read and read.read_at is not None
        assert await notifications.unread_count(session, a) == 2
        assert [n.message for n in await notifications.unread(session, a)] == ["m2", "m1"]
        assert await notifications.mark_all_read(session, a) == 2
        assert await notifications.unread_count(session, a) == 0 and await notifications.unread_count(session, b) == 1
        await notifications.delete(session, a, notification_id=rows[1].id or 0)
        with pytest.raises(InvalidInput):
            await notifications.list_notifications(session, a, limit=0)
    assert [n.message for n in await of(db, alice)] == ["m0", "m2"]
    assert len(await of(db, bob)) == 1
