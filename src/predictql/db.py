"""Engine, sessions and the one transaction boundary.

``Database.transaction()`` is the only place that commits. Services queue side effects on the
session's ``CommitEffects`` (``emit``/``after_commit``); the commit hands that object to
``_after_commit``, so they run only after the commit succeeds, and a rollback drops them: no
subscriber ever sees an event for data that does not exist.

SQLite writers are serialized in-process (embedded mode is one process); PostgreSQL relies on row
locks taken by the services (``SELECT ... FOR UPDATE``) and conditional balance updates.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import BigInteger, DateTime, Integer, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from predictql.commit_effects import AfterCommit, CommitEffects, effects, take_effects
from predictql.errors import DomainError
from predictql.jsonutil import loads_column

log = logging.getLogger("predictql.db")

# int64 primary keys; SQLite only autoincrements a column declared exactly INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Publisher(Protocol):
    async def publish(self, channel: str, message: str) -> None: ...


def emit(session: AsyncSession, channel: str, message: str) -> None:
    """Queue a bus message; published after this session's transaction commits."""
    effects(session).messages.append((channel, message))


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the transaction has committed (mail, cache invalidation)."""
    effects(session).callbacks.append(callback)


def _sqlite_pragmas(busy_ms: int) -> Callable[[Any, ConnectionPoolEntry], None]:
    def on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", f"busy_timeout={busy_ms}", "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return on_connect


def make_engine(
    url: str, *, pool_size: int = 10, connect_timeout: float | None = None, statement_timeout: float | None = None
) -> AsyncEngine:
    """The engine; with timeouts (the server's), a dead or frozen database fails fast (then 503)
    instead of holding every request for minutes. Tools and migrations run without them."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, json_deserializer=loads_column)
        busy = 10.0 if statement_timeout is None else statement_timeout
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(int(busy * 1000)))
        return engine
    options: dict[str, Any] = {}
    connect: dict[str, Any] = {}
    if _plain_loopback(url):
        # asyncpg's default (sslmode "prefer") asks for TLS on every new connection, building an
        # SSLContext and paying a round trip even when the server answers no: on the loopback, and
        # with neither the URL nor PGSSLMODE asking for it, connect in plain text.
        connect["ssl"] = False
    if connect_timeout is not None:
        connect["timeout"] = connect_timeout
    if statement_timeout is not None:
        # The server cancels a long statement (lock waits included); the client gives up one second
        # later on a server that cannot even do that (stopped, or the network gone). A pooled
        # connection frees up when a statement ends: waiting for one is bounded alike.
        connect["server_settings"] = {"statement_timeout": str(int(statement_timeout * 1000))}
        connect["command_timeout"] = statement_timeout + 1
        options["pool_timeout"] = statement_timeout
    # No pre-ping: it costs a round trip per checkout (several per request). A connection the
    # server dropped fails its statement once; SQLAlchemy then invalidates the pool.
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=3600,
        connect_args=connect,
        json_deserializer=loads_column,
        **options,
    )


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _plain_loopback(url: str) -> bool:
    """A PostgreSQL URL on the loopback that asks for no TLS (nor does the environment)."""
    parsed = make_url(url)
    asks = {"ssl", "sslmode", "sslrootcert", "sslcert"} & set(parsed.query) or os.environ.get("PGSSLMODE")
    return parsed.get_backend_name() == "postgresql" and parsed.host in LOOPBACK and not asks


class Unit:
    """One request's writes, held uncommitted until what answers them is written beside them.

    Inside ``Database.unit()`` every ``transaction()`` joins one database transaction (each in its
    own savepoint, so a failed one undoes only itself) and ``session()`` reads through it, seeing
    those writes. Nothing commits until ``Database.commit_unit``: the work and its stored response
    (an idempotency record) commit together or not at all, so a crash in between leaves neither.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.session: AsyncSession | None = None
        self.stack = AsyncExitStack()
        self.has_work = False  # some transaction() body finished: there is something to commit
        self.closed = False  # a task spawned inside the unit that outlives it writes on its own
        # The one session serves the request's concurrent readers (sibling GraphQL fields) in turn.
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def using(self) -> AsyncIterator[AsyncSession]:
        assert self.session is not None
        task = asyncio.current_task()
        if self._owner is task:  # re-entered by the task already using it (a read inside a write)
            yield self.session
            return
        async with self._lock:
            self._owner = task
            try:
                yield self.session
            finally:
                self._owner = None


_unit: ContextVar[Unit | None] = ContextVar("pq_unit", default=None)


class Database:
    def __init__(self, engine: AsyncEngine, publisher: Publisher | None = None) -> None:
        self.engine = engine
        self.publisher = publisher
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # Reads on PostgreSQL run in autocommit: no BEGIN/ROLLBACK round trips around each read
        # (measured: a one-query read went from ~1.1 ms to ~0.5 ms of server time). Each statement
        # still sees a consistent snapshot; reads that need one across statements use transaction().
        reader = engine if self.is_sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_sessions = async_sessionmaker(reader, expire_on_commit=False, autoflush=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # Run at the start of every write transaction (the idempotency claim lives here).
        self.begin_hooks: list[Callable[[AsyncSession], Awaitable[None]]] = []
        # Run last inside every write transaction that commits (emitted messages are numbered here).
        self.commit_hooks: list[Callable[[AsyncSession], Awaitable[None]]] = []
        # Bumped after every commit: caches of read results compare it to know they are current.
        self.version = 0
        # Awaited after every commit, before the request answers (the shared cache's generation).
        self.committed_hooks: list[Callable[[], Awaitable[None]]] = []

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session: nothing it does is committed."""
        unit = self._current_unit()
        if unit is not None and unit.session is not None:
            async with unit.using() as session:
                yield session
            return
        async with self.read_sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write unit: commit on success, then publish queued events and run after-commit hooks."""
        unit = self._current_unit()
        if unit is not None:
            async with self._in_unit(unit) as session:
                yield session
            return
        failure: DomainError | None = None
        async with self.sessions() as session:
            async with self._locked(), session.begin():
                try:
                    for hook in self.begin_hooks:
                        await hook(session)
                    yield session
                except DomainError as exc:
                    if not exc.commit:
                        raise
                    failure = exc  # keep what was done (a wrong-code counter): commit, then raise
                for hook in self.commit_hooks:
                    await hook(session)
            self.version += 1
            await self._after_commit(take_effects(session))
        if failure is not None:
            raise failure

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        """Hold this context's writes until ``commit_unit``; leaving without it rolls them back."""
        unit = Unit(self)
        token = _unit.set(unit)
        try:
            yield unit
        finally:
            _unit.reset(token)
            unit.closed = True
            await self._close_unit(unit, rollback=True)

    def in_unit(self) -> bool:
        """Whether this context's writes are held in a ``unit()`` (they commit with its response)."""
        return self._current_unit() is not None

    def _current_unit(self) -> Unit | None:
        unit = _unit.get()
        return unit if unit is not None and unit.db is self and not unit.closed else None

    async def commit_unit(self, unit: Unit, last: Callable[[AsyncSession], Awaitable[None]]) -> bool:
        """Write ``last`` into the held transaction and commit it all; False when nothing was written."""
        if unit.session is None or not unit.has_work:
            return False
        async with unit.using() as session:
            await last(session)
            for hook in self.commit_hooks:
                await hook(session)
            await session.commit()
        self.version += 1
        committed = take_effects(session)
        await self._close_unit(unit, rollback=False)
        await self._after_commit(committed)
        return True

    @asynccontextmanager
    async def _in_unit(self, unit: Unit) -> AsyncIterator[AsyncSession]:
        if unit.session is None:
            await self._open_unit(unit)
        async with unit.using() as session:
            queued = effects(session)
            saved = queued.snapshot()  # what a body that fails queued must not publish
            savepoint = await session.begin_nested()
            try:
                yield session
                await session.flush()  # the request's later reads in this session see the writes
            except BaseException as exc:
                if isinstance(exc, DomainError) and exc.commit:
                    await session.flush()
                    await savepoint.commit()
                    unit.has_work = True
                else:
                    await savepoint.rollback()
                    queued.restore(saved)
                raise
            await savepoint.commit()
            unit.has_work = True

    async def _open_unit(self, unit: Unit) -> None:
        session = await unit.stack.enter_async_context(self.sessions())
        await unit.stack.enter_async_context(self._locked())
        await session.begin()
        if self.is_sqlite:
            # pysqlite begins only before DML: a SAVEPOINT first would open (and its RELEASE commit)
            # a transaction of its own. Begin explicitly so the savepoints nest inside this one.
            await (await session.connection()).exec_driver_sql("BEGIN")
        unit.session = session
        try:
            for hook in self.begin_hooks:
                await hook(session)
        except BaseException:
            await self._close_unit(unit, rollback=True)
            raise

    async def _close_unit(self, unit: Unit, *, rollback: bool) -> None:
        session, unit.session = unit.session, None
        if session is None:
            return
        try:
            if rollback:
                await session.rollback()
        except Exception:  # a lost connection: the server has rolled back already
            log.warning("rollback of a held unit failed", exc_info=True)
        finally:
            await unit.stack.aclose()

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    async def _after_commit(self, committed_effects: CommitEffects) -> None:
        """What the commit set off: invalidate caches, publish the (numbered) messages, run callbacks."""
        for committed in self.committed_hooks:
            await committed()  # first: a cache elsewhere must not outlive this commit's answer
        if self.publisher is not None:
            for channel, message in committed_effects.messages:
                try:
                    await self.publisher.publish(channel, message)
                except Exception:  # the data is committed; a lost live event is recoverable by seq
                    log.exception("publish failed on %s", channel)
        for hook in committed_effects.callbacks:
            try:
                await hook()
            except Exception:
                log.exception("after-commit hook failed")

    async def dispose(self) -> None:
        await self.engine.dispose()
