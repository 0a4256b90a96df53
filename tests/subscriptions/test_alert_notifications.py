"""A price alert that fires reaches its owner live on ``myNotifications`` (and nobody else)."""

from __future__ import annotations

from decimal import Decimal

from predictql.auth import Actor
from predictql.db import Database
from predictql.services import alerts
from predictql.services.alerts import AlertSpec
from predictql.settings import Settings
from tests.alerts.test_alert_services import swing
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import data
from tests.subscriptions.test_notification_subscription import MINE
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, create_user, gid


async def test_a_fired_alert_is_on_the_owners_notification_stream(live: Live, db: Database, settings: Settings) -> None:
    _, _, (market,) = await create_market_setup(db, probabilities=(0.40,), b=100_000, names=("Rain",))
    owner, token = await trader(db, settings)
    _, other_token = await trader(db, settings)
    async with db.transaction() as session:
        spec = AlertSpec("above", Decimal(5000), market_id=market.id)
        await alerts.create(session, Actor(user_id=owner), spec, max_active=20)
    whale = await create_user(db, balance=10_000_000)
    async with (
        GraphQLSocket(live.app, params={"token": token}) as ws,
        GraphQLSocket(live.app, params={"token": other_token}) as other,
    ):
        op, other_op = await ws.subscribe(MINE, {"from": 0}), await other.subscribe(MINE, {"from": 0})
        await swing(live.db, whale, market.id or 0, "buy_yes", 60_000)
        note = data(await ws.next(op), "myNotifications")
        mkt = gid(Kind.MARKET, market.id or 0)
        assert (note["kind"], note["type"], note["relatedId"]) == ("LIVE", "PRICE_ALERT", mkt)
        assert "YES of 'Rain' rose above 50.00%" in note["message"]
        await other.nothing(0.3)
        await ws.complete(op)
        await other.complete(other_op)
