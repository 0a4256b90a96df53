"""Per-request DataLoaders, named by what they return and their key (STYLE 6).

Each batch opens its own short read session and runs one query: sibling fields resolve
concurrently, and an ``AsyncSession`` must not be shared by concurrent tasks (PITFALLS).
Nothing is cached beyond the ``Loaders`` object, which the context builds per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from strawberry.dataloader import DataLoader

from predictql.auth import Actor
from predictql.db import Database
from predictql.models import (
    AlertFiring,
    ApiToken,
    Asset,
    AuditEntry,
    CardMessage,
    CardOrder,
    ChatMessage,
    ChatSession,
    Comment,
    Event,
    EventSuggestion,
    Market,
    Notification,
    Order,
    P2PAd,
    P2PMessage,
    P2POrder,
    Pool,
    Position,
    PriceAlert,
    Trade,
    User,
    Withdrawal,
)
from predictql.pricing.orderbook import BookSnapshot
from predictql.services import comments, events, ledger, order_lifecycle, p2p_profiles, positions, users, watchlist
from predictql.services.cursors import Page, PageArgs, pages_by_parent
from predictql.services.ledger import Balances
from predictql.services.users import MoneyMovement
from predictql.settings import Settings

Row = TypeVar(
    "Row",
    Event,
    Pool,
    Market,
    User,
    Order,
    Trade,
    Position,
    Notification,
    ApiToken,
    EventSuggestion,
    CardOrder,
    CardMessage,
    Withdrawal,
    AuditEntry,
    ChatSession,
    ChatMessage,
    Comment,
    PriceAlert,
    AlertFiring,
    P2PAd,
    P2POrder,
    P2PMessage,
    Asset,
)
PageKey = tuple[int, PageArgs]  # (parent id, which page)


T = TypeVar("T")
R = TypeVar("R")


def then(loaded: Awaitable[T], make: Callable[[T], R]) -> R:
    """``make(value)`` at once when the loader already holds the value, else an awaitable of it.

    A field whose resolver is ``async def`` costs a coroutine, graphql-core's awaiting of it (and
    a task per item when its siblings in a list are awaitable too) even when its row is already
    in the request's loader. A plain ``def`` resolver returning ``then(loader.load(key), ...)``
    completes synchronously in that case (a whole feed page of them once ``prefetch_feed`` ran);
    otherwise it returns an awaitable, which graphql-core awaits as it would the coroutine. The
    value is typed as ``make``'s result for Strawberry, which reads the resolver's annotation.
    """
    if isinstance(loaded, asyncio.Future) and loaded.done() and not loaded.cancelled() and loaded.exception() is None:
        return make(loaded.result())

    async def later() -> R:
        return make(await loaded)

    return cast(R, later())


def _missing(loader: DataLoader[int, Any], keys: list[int]) -> list[int]:
    """The keys ``loader`` holds no value (nor a pending load) for yet."""
    return [key for key in keys if loader.cache_map.get(key) is None]


class Loaders:
    def __init__(self, db: Database, actor: Actor, settings: Settings) -> None:
        self._db = db
        self._actor = actor
        self._settings = settings
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
        # Rows by id for node(id) and the by-id root fields; who may see a row is the resolver's check.
        self.user_by_id = DataLoader[int, User | None](load_fn=lambda keys: self._by_id(User, keys))
        self.order_by_id = DataLoader[int, Order | None](load_fn=lambda keys: self._by_id(Order, keys))
        self.trade_by_id = DataLoader[int, Trade | None](load_fn=lambda keys: self._by_id(Trade, keys))
        self.position_by_id = DataLoader[int, Position | None](load_fn=lambda keys: self._by_id(Position, keys))
        self.notification_by_id = DataLoader[int, Notification | None](
            load_fn=lambda keys: self._by_id(Notification, keys)
        )
        self.suggestion_by_id = DataLoader[int, EventSuggestion | None](
            load_fn=lambda keys: self._by_id(EventSuggestion, keys)
        )
        self.api_token_by_id = DataLoader[int, ApiToken | None](load_fn=lambda keys: self._by_id(ApiToken, keys))
        # Money in and out; who may see a row is the resolver's check (owner, or an operator).
        self.card_order_by_id = DataLoader[int, CardOrder | None](load_fn=lambda keys: self._by_id(CardOrder, keys))
        self.card_message_by_id = DataLoader[int, CardMessage | None](
            load_fn=lambda keys: self._by_id(CardMessage, keys)
        )
        self.withdrawal_by_id = DataLoader[int, Withdrawal | None](load_fn=lambda keys: self._by_id(Withdrawal, keys))
        self.audit_entry_by_id = DataLoader[int, AuditEntry | None](load_fn=lambda keys: self._by_id(AuditEntry, keys))
        # The signed-in user's own rows only (private: no one else's balances or money movements).
        self.balances_by_user_id = DataLoader[int, Balances](load_fn=self._balances)
        self.my_money_movement_by_id = DataLoader[int, MoneyMovement | None](load_fn=self._my_money_movements)
        self.pools_by_event_id = DataLoader[int, list[Pool]](load_fn=self._pools_by_event_id)
        self.markets_by_pool_id = DataLoader[int, list[Market]](load_fn=self._markets_by_pool_id)
        # Keyed by event id: whether the signed-in user watches it (False for everyone when anonymous).
        self.watched_event_ids = DataLoader[int, bool](load_fn=self._watched)
        self.summary_by_user_id = DataLoader[int, positions.Summary](load_fn=self._summaries)
        # Support chat: rows by id (who may see them is the resolver's check), messages per session.
        self.chat_session_by_id = DataLoader[int, ChatSession | None](
            load_fn=lambda keys: self._by_id(ChatSession, keys)
        )
        self.chat_message_by_id = DataLoader[int, ChatMessage | None](
            load_fn=lambda keys: self._by_id(ChatMessage, keys)
        )
        self.support_messages_by_session_id = DataLoader[PageKey, Page[ChatMessage]](
            load_fn=self._support_messages_by_session_id
        )
        # Comments and price alerts: rows by id, a comment's replies (one statement per page asked
        # for), and the open positions of (event id, user id) pairs (a commenter's holdings).
        self.comment_by_id = DataLoader[int, Comment | None](load_fn=lambda keys: self._by_id(Comment, keys))
        self.price_alert_by_id = DataLoader[int, PriceAlert | None](load_fn=lambda keys: self._by_id(PriceAlert, keys))
        self.alert_firing_by_id = DataLoader[int, AlertFiring | None](
            load_fn=lambda keys: self._by_id(AlertFiring, keys)
        )
        self.replies_by_comment_id = DataLoader[PageKey, Page[Comment]](load_fn=self._replies_by_comment_id)
        # Keyed by (event id, "newest" | "oldest", page): the event's top-level comments.
        self.comments_by_event_id = DataLoader[tuple[int, str, PageArgs], Page[Comment]](
            load_fn=self._comments_by_event_id
        )
        self.positions_by_event_user = DataLoader[tuple[int, int], list[Position]](load_fn=self._positions_by_pair)
        # P2P: rows by id (who may see one is the resolver's check) and traders' public stats.
        self.p2p_ad_by_id = DataLoader[int, P2PAd | None](load_fn=lambda keys: self._by_id(P2PAd, keys))
        self.p2p_order_by_id = DataLoader[int, P2POrder | None](load_fn=lambda keys: self._by_id(P2POrder, keys))
        self.p2p_message_by_id = DataLoader[int, P2PMessage | None](load_fn=lambda keys: self._by_id(P2PMessage, keys))
        self.p2p_stats_by_user_id = DataLoader[int, tuple[int, float]](load_fn=self._p2p_stats)
        self.asset_by_id = DataLoader[int, Asset | None](load_fn=lambda keys: self._by_id(Asset, keys))

    def prime_events(self, rows: Sequence[Event]) -> None:
        """Rows a root resolver already loaded: nested ``event`` fields need no query."""
        self.event_by_id.prime_many({row.id: row for row in rows if row.id is not None})

    async def _p2p_stats(self, keys: list[int]) -> list[tuple[int, float]]:
        async with self._db.session() as session:
            found = await p2p_profiles.of_users(session, keys)
        return [found[key] for key in keys]

    async def _by_id(self, model: type[Row], keys: list[int]) -> list[Row | None]:
        async with self._db.session() as session:
            rows: Any = await session.scalars(select(model).where(col(model.id).in_(keys)))
            found = {row.id: row for row in rows}
        return [found.get(key) for key in keys]

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

    async def _balances(self, keys: list[int]) -> list[Balances]:
        async with self._db.session() as session:
            return [await ledger.balances(session, key) for key in keys]

    async def _my_money_movements(self, keys: list[int]) -> list[MoneyMovement | None]:
        if self._actor.user_id is None:
            return [None for _ in keys]
        async with self._db.session() as session:
            found = {item.id: item for item in await users.money_movements(session, self._actor)}
        return [found.get(key) for key in keys]

    async def _events(self, keys: list[int]) -> list[Event | None]:
        return await self._by_id(Event, keys)

    async def _pools(self, keys: list[int]) -> list[Pool | None]:
        return await self._by_id(Pool, keys)

    async def _markets(self, keys: list[int]) -> list[Market | None]:
        return await self._by_id(Market, keys)

    async def _pools_by_event_id(self, keys: list[int]) -> list[list[Pool]]:
        async with self._db.session() as session:
            found = await events.pool_rows_of(session, keys)
        self._prime_pools(found)
        return [found[key] for key in keys]

    async def _markets_by_pool_id(self, keys: list[int]) -> list[list[Market]]:
        async with self._db.session() as session:
            found = await events.market_rows_of(session, keys)
        self._prime_markets(found)
        return [found[key] for key in keys]

    async def load_feed(self, session: AsyncSession, event_ids: list[int], *, markets: bool) -> None:
        """The pools of a page of events (and, with ``markets``, their markets) in ``session``, the
        page's own read session: the two statements ``pools_by_event_id`` and
        ``markets_by_pool_id`` would batch, without a session (a pooled connection's checkout,
        pre-ping, BEGIN and ROLLBACK) each. Keys a loader already holds are not read again."""
        self._prime_pools(await events.pool_rows_of(session, _missing(self.pools_by_event_id, event_ids)))
        if not markets:
            return
        held = await self.pools_by_event_id.load_many(event_ids)  # primed now: no statement
        pool_ids = [pool.id for rows in held for pool in rows if pool.id is not None]
        self._prime_markets(await events.market_rows_of(session, _missing(self.markets_by_pool_id, pool_ids)))

    def _prime_pools(self, found: dict[int, list[Pool]]) -> None:
        self.pools_by_event_id.prime_many(found)
        self.pool_by_id.prime_many({pool.id: pool for pools in found.values() for pool in pools if pool.id})

    def _prime_markets(self, found: dict[int, list[Market]]) -> None:
        self.markets_by_pool_id.prime_many(found)
        self.market_by_id.prime_many({m.id: m for markets in found.values() for m in markets if m.id})

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

    async def _support_messages_by_session_id(self, keys: list[PageKey]) -> list[Page[ChatMessage]]:
        found: dict[PageKey, Page[ChatMessage]] = {}
        async with self._db.session() as session:
            for args in dict.fromkeys(args for _, args in keys):
                parents = [parent for parent, asked in keys if asked == args]
                pages = await pages_by_parent(session, ChatMessage, col(ChatMessage.session_id), parents, args)
                found.update({(parent, args): page for parent, page in pages.items()})
        return [found[key] for key in keys]

    async def _replies_by_comment_id(self, keys: list[PageKey]) -> list[Page[Comment]]:
        found: dict[PageKey, Page[Comment]] = {}
        async with self._db.session() as session:
            for args in dict.fromkeys(args for _, args in keys):
                parents = [parent for parent, asked in keys if asked == args]
                pages = await pages_by_parent(session, Comment, col(Comment.parent_id), parents, args)
                found.update({(parent, args): page for parent, page in pages.items()})
        return [found[key] for key in keys]

    async def _comments_by_event_id(self, keys: list[tuple[int, str, PageArgs]]) -> list[Page[Comment]]:
        found: dict[tuple[int, str, PageArgs], Page[Comment]] = {}
        async with self._db.session() as session:
            for order, args in dict.fromkeys((order, args) for _, order, args in keys):
                events_asked = [event_id for event_id, o, a in keys if (o, a) == (order, args)]
                pages = await comments.pages_by_event(session, events_asked, args, order)
                found.update({(event_id, order, args): page for event_id, page in pages.items()})
        return [found[key] for key in keys]

    async def _positions_by_pair(self, keys: list[tuple[int, int]]) -> list[list[Position]]:
        async with self._db.session() as session:
            found = await comments.positions_in_events(session, keys)
        return [found[key] for key in keys]
