"""The feed reads its events, pools and markets as Core rows (``services.events.pool_rows_of``,
``feed.page(read_only=True)``), not ORM instances: the answer is byte for byte what the ORM
instances give, for every field of ``Event``, ``Pool`` and ``Market`` and rows in every state the
fields distinguish (resolved, order book with a last price, closed pool, metadata, tags, nulls)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from predictql.db import Database, utcnow
from predictql.models import Event as EventRow
from predictql.models import Market as MarketRow
from predictql.models import Pool as PoolRow
from predictql.services import cursors, events, pools
from predictql.services.events import EventFields
from predictql.services.pools import PoolFields
from tests.markets.factories import creator_actor
from tests.support import create_user

EVENT = (
    "id creatorId name nameRu tags imageUrl isActive createdAt closedAt cancelledAt versusNames versusImages "
    "hasDraw mainPoolId isLoopEvent loopIntervalMinutes assetSymbol status totalVolume isWatched"
)
POOL = "id eventId name nameRu rules rulesRu margin liveAt finishAt wonSide createdAt closedAt metadata"
MARKET = (
    "id poolId eventId name nameRu outcomeIndex marketType yesProbability noProbability yesPrice noPrice b "
    "liquidityKopecks qYes qNo volume paused resolved winningOutcome yesName noName resolvedAt"
)
FEED = f"""{{ events(first: 10) {{ edges {{ cursor node {{ {EVENT} mainPool {{ {POOL} }}
  pools {{ {POOL} markets {{ {MARKET} pool {{ id }} }} }} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""


async def seed(db: Database) -> None:
    actor = creator_actor(await create_user(db, is_creator=True))
    async with db.transaction() as session:
        for n in range(3):
            fields = EventFields(
                name=f"Event {n}",
                tags=["x", f"t{n}"],
                versus_names=["a", "b"] if n else [],
                image_url="https://i/e.png",
            )
            event = await events.create_event(session, actor, fields)
            assert event.id is not None
            event.is_active = True
            for p in range(2):
                spec = PoolFields(
                    name=f"Pool {p}",
                    name_ru="Пул",
                    live_at=utcnow() - timedelta(hours=1) if p else utcnow() + timedelta(hours=1),
                    finish_at=utcnow() + timedelta(days=1),
                    market_names=["A", "B"],
                    market_probabilities=[0.37, 0.63],
                    market_type="orderbook" if n == 2 else "lmsr",
                    extra_metadata={"volume_min_kopecks": 100, "nested": {"k": [1, 2.5, None]}},
                )
                await pools.create_pool(session, actor, event.id, spec)
    async with db.transaction() as session:
        first = await session.scalar(MarketRow.__table__.select().with_only_columns(MarketRow.__table__.c.id).limit(1))  # type: ignore[attr-defined]
        await session.execute(
            update(MarketRow)
            .where(MarketRow.id == first)  # type: ignore[arg-type]
            .values(resolved=True, winning_outcome="NO", resolved_at=utcnow(), q_yes=12_345, volume=999)
        )
        await session.execute(update(MarketRow).where(MarketRow.market_type == "orderbook").values(last_price=6_130))  # type: ignore[arg-type]
        await session.execute(update(MarketRow).where(MarketRow.market_type == "lmsr").values(q_no=4_000, paused=True))  # type: ignore[arg-type]
        pool_id = await session.scalar(PoolRow.__table__.select().with_only_columns(PoolRow.__table__.c.id).limit(1))  # type: ignore[attr-defined]
        await session.execute(update(PoolRow).where(PoolRow.id == pool_id).values(won_side=1, closed_at=utcnow()))  # type: ignore[arg-type]
        await session.execute(update(EventRow).values(asset_symbol="BTC", loop_interval_minutes=5))


async def test_core_rows_answer_the_bytes_orm_instances_answer(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(db)
    response = await client.post("/graphql", json={"query": FEED})
    assert response.status_code == 200 and b'"errors"' not in response.content, response.text
    body = response.json()["data"]["events"]["edges"]
    assert len(body) == 3 and all(len(edge["node"]["pools"]) == 2 for edge in body)
    markets: list[Any] = [m for edge in body for pool in edge["node"]["pools"] for m in pool["markets"]]
    assert {m["marketType"] for m in markets} == {"LMSR", "ORDERBOOK"} and any(m["resolved"] for m in markets)

    # The same reads through ORM instances, as before the feed took Core rows.
    async def orm_page(session: Any, query: Any, id_column: Any, args: Any, **kwargs: Any) -> Any:
        entity = query.with_only_columns(EventRow) if kwargs.pop("rows", False) else query
        return await keyset_page(session, entity, id_column, args, **kwargs)

    keyset_page, called = cursors.keyset_page, []

    def orm(read: Any) -> Any:
        async def reading(*args: Any) -> Any:
            called.append(read.__name__)
            return await read(*args)

        return reading

    monkeypatch.setattr(events, "pool_rows_of", orm(events.pools_of))
    monkeypatch.setattr(events, "market_rows_of", orm(events.markets_of))
    monkeypatch.setattr("predictql.services.feed.keyset_page", orm_page)
    with_orm = await client.post("/graphql", json={"query": FEED})
    assert called == ["pools_of", "markets_of"]
    assert with_orm.content == response.content
