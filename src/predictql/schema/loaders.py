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
from predictql.models import Event, Market, Order, Pool, Position, Trade, User
from predictql.pricing.orderbook import BookSnapshot
from predictql.services import events, order_lifecycle, watchlist
from predictql.services.cursors import Page, PageArgs, pages_by_parent
from predictql.settings import Settings

Row = TypeVar("Row", Event, Pool, Market, Order, User)
PageKey = tuple[int, PageArgs]  # (parent id, which page)


class Loaders:
    def __init__(self, db: Database, actor: Actor, settings: Settings) -> None:
        self._db = db
        self._actor = actor
        self._settings = settings
        self.user_by_id = DataLoader[int, User | None](load_fn=self._users)
        self.order_by_id = DataLoader[int, Order | None](load_fn=self._orders)
        # Per-parent connections: every parent's page in one statement (pages_by_parent).
        self.trades_by_market_id = DataLoader[PageKey, Page[Trade]](load_fn=self._trades_by_market_id)
        self.positions_by_user_id = DataLoader[tuple[int, str | None, PageArgs], Page[Position]](
            load_fn=self._positions_by_user_id
        )
        # Keyed by (market id, depth): the book in YES prices.
        self.book_by_market_id = DataLoader[tuple[int, int], BookSnapshot](load_fn=self._books)
        self.event_by_id = DataLoader[int, Event | None](load_fn=self._events)
        self.pool_by_id = DataLoader[int, Pool | None](load_fn=self._pools)
        self.market_by_id = DataLoader[int, Market | None](load_fn=self._markets)
        self.pools_by_event_id = DataLoader[int, list[Pool]](load_fn=self._pools_by_event_id)
        self.markets_by_pool_id = DataLoader[int, list[Market]](load_fn=self._markets_by_pool_id)
        # Keyed by event id: whether the signed-in user watches it (False for everyone when anonymous).
        self.watched_event_ids = DataLoader[int, bool](load_fn=self._watched)

    def prime_events(self, rows: Sequence[Event]) -> None:
        """Rows a root resolver already loaded: nested ``event`` fields need no query."""
        self.event_by_id.prime_many({row.id: row for row in rows if row.id is not None})

    async def _by_id(self, model: type[Row], keys: list[int]) -> list[Row | None]:
        async with self._db.session() as session:
            rows: Any = await session.scalars(select(model).where(col(model.id).in_(keys)))
            found = {row.id: row for row in rows}
        return [found.get(key) for key in keys]

    async def _users(self, keys: list[int]) -> list[User | None]:
        return await self._by_id(User, keys)

    async def _orders(self, keys: list[int]) -> list[Order | None]:
        return await self._by_id(Order, keys)

    async def _trades_by_market_id(self, keys: list[PageKey]) -> list[Page[Trade]]:
        found: dict[PageKey, Page[Trade]] = {}
        async with self._db.session() as session:
            for args in dict.fromkeys(args for _, args in keys):  # one statement per distinct page asked for
                parents = [parent for parent, asked in keys if asked == args]
                pages = await pages_by_parent(session, Trade, col(Trade.market_id), parents, args)
                found.update({(parent, args): page for parent, page in pages.items()})
        return [found[key] for key in keys]

    async def _positions_by_user_id(self, keys: list[tuple[int, str | None, PageArgs]]) -> list[Page[Position]]:
        found: dict[tuple[int, str | None, PageArgs], Page[Position]] = {}
        async with self._db.session() as session:
            for status, args in dict.fromkeys((status, args) for _, status, args in keys):
                parents = [parent for parent, s, a in keys if (s, a) == (status, args)]
                where = [col(Position.status) == status] if status else []
                pages = await pages_by_parent(session, Position, col(Position.user_id), parents, args, where)
                found.update({(parent, status, args): page for parent, page in pages.items()})
        return [found[key] for key in keys]

    async def _books(self, keys: list[tuple[int, int]]) -> list[BookSnapshot]:
        found: dict[tuple[int, int], BookSnapshot] = {}
        async with self._db.session() as session:
            for depth in dict.fromkeys(depth for _, depth in keys):
                ids = [market_id for market_id, d in keys if d == depth]
                books = await order_lifecycle.order_books(session, ids, depth=depth, fee_bps=self._settings.fee_bps)
                found.update({(market_id, depth): book for market_id, book in books.items()})
        return [found[key] for key in keys]

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
