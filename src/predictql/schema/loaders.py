"""Per-request DataLoaders, named by what they return and their key (STYLE 6).

Each batch opens its own short read session and runs one query: sibling fields resolve
concurrently, and an ``AsyncSession`` must not be shared by concurrent tasks (PITFALLS).
Nothing is cached beyond the ``Loaders`` object, which the context builds per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlmodel import col, select
from strawberry.dataloader import DataLoader

from predictql.auth import Actor
from predictql.db import Database
from predictql.models import Event, Market, Pool
from predictql.services import events, positions, watchlist

Row = TypeVar("Row", Event, Pool, Market)


class Loaders:
    def __init__(self, db: Database, actor: Actor) -> None:
        self._db = db
        self._actor = actor
        self.event_by_id = DataLoader[int, Event | None](load_fn=self._events)
        self.pool_by_id = DataLoader[int, Pool | None](load_fn=self._pools)
        self.market_by_id = DataLoader[int, Market | None](load_fn=self._markets)
        self.pools_by_event_id = DataLoader[int, list[Pool]](load_fn=self._pools_by_event_id)
        self.markets_by_pool_id = DataLoader[int, list[Market]](load_fn=self._markets_by_pool_id)
        # Keyed by event id: whether the signed-in user watches it (False for everyone when anonymous).
        self.watched_event_ids = DataLoader[int, bool](load_fn=self._watched)
        self.summary_by_user_id = DataLoader[int, positions.Summary](load_fn=self._summaries)

    def prime_events(self, rows: Sequence[Event]) -> None:
        """Rows a root resolver already loaded: nested ``event`` fields need no query."""
        self.event_by_id.prime_many({row.id: row for row in rows if row.id is not None})

    async def _by_id(self, model: type[Row], keys: list[int]) -> list[Row | None]:
        async with self._db.session() as session:
            rows: Any = await session.scalars(select(model).where(col(model.id).in_(keys)))
            found = {row.id: row for row in rows}
        return [found.get(key) for key in keys]

    async def _events(self, keys: list[int]) -> list[Event | None]:
        return await self._by_id(Event, keys)

    async def _pools(self, keys: list[int]) -> list[Pool | None]:
        return await self._by_id(Pool, keys)

    async def _markets(self, keys: list[int]) -> list[Market | None]:
        return await self._by_id(Market, keys)

    async def _pools_by_event_id(self, keys: list[int]) -> list[list[Pool]]:
        async with self._db.session() as session:
            found = await events.pools_of(session, keys)
        self.pool_by_id.prime_many({pool.id: pool for pools in found.values() for pool in pools if pool.id})
        return [found[key] for key in keys]

    async def _markets_by_pool_id(self, keys: list[int]) -> list[list[Market]]:
        async with self._db.session() as session:
            found = await events.markets_of(session, keys)
        self.market_by_id.prime_many({m.id: m for markets in found.values() for m in markets if m.id})
        return [found[key] for key in keys]

    async def _watched(self, keys: list[int]) -> list[bool]:
        if self._actor.user_id is None:
            return [False for _ in keys]
        async with self._db.session() as session:
            watched = await watchlist.watched_ids(session, self._actor, keys) or set()
        return [key in watched for key in keys]

    async def _summaries(self, keys: list[int]) -> list[positions.Summary]:
        async with self._db.session() as session:
            found = await positions.summaries(session, keys)
        return [found[key] for key in keys]
