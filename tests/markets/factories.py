"""Plain factory functions for market tests, going through the real services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.models import Market, Pool
from predictql.services import events, pools
from predictql.services.events import EventFields
from predictql.services.pools import PoolFields
from tests.support import create_user


def creator_actor(user_id: int) -> Actor:
    return Actor(user_id=user_id, is_creator=True)


async def create_market_setup(
    db: Database,
    *,
    creator_id: int | None = None,
    probabilities: tuple[float, ...] = (0.65,),
    names: tuple[str, ...] | None = None,
    b: int = 1_000_000,
    **pool_overrides: Any,
) -> tuple[int, Pool, list[Market]]:
    """An active event with one live pool; returns (creator id, pool, markets by outcome)."""
    creator_id = creator_id or await create_user(db, is_creator=True)
    actor = creator_actor(creator_id)
    names = names or tuple(f"Outcome {i}" for i in range(len(probabilities)))
    async with db.transaction() as session:
        event = await events.create_event(session, actor, EventFields(name="Test event", tags=["test"]))
        assert event.id is not None
        event.is_active = True
        fields = PoolFields(
            name="Main Pool",
            finish_at=utcnow() + timedelta(days=1),
            live_at=utcnow() - timedelta(minutes=1),
            market_names=list(names),
            market_probabilities=list(probabilities),
            lmsr_b_kopecks=b,
            **pool_overrides,
        )
        pool = await pools.create_pool(session, actor, event.id, fields)
        markets = (await events.markets_of(session, [pool.id or 0]))[pool.id or 0]
    return creator_id, pool, markets
