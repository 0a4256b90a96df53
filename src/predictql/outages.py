"""Is a failure the database being out of reach? Then the answer is 503 ``SERVICE_UNAVAILABLE`` with
``Retry-After``, never a 500: the request was fine and the same request will work once the store is
back. One classifier, used where REST (``rest_compat.routing``), GraphQL (``schema.errors``) and the
app's last-resort handler map unexpected exceptions.

Outages: PostgreSQL refusing or dropping connections, shutting down or starting up, a connect or
pool wait or statement past its timeout (a frozen server), too many connections; SQLite locked by
another process past its busy timeout, or its file unreadable.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from asyncpg import exceptions as pg  # type: ignore[import-untyped]
from sqlalchemy import exc as sa

from predictql.errors import Unavailable

RETRY_AFTER_SECONDS = 5
# SQLSTATE classes and codes: connection exception, admin/crash shutdown, cannot connect now,
# query canceled (statement_timeout), too many connections, out of memory/disk.
_PG_STATES = ("08", "57P01", "57P02", "57P03", "57014", "53")
_SQLITE_MESSAGES = ("database is locked", "database table is locked", "unable to open database", "disk i/o error")
# asyncpg's interface errors that mean the connection is gone or still busy with a timed-out query.
_PG_INTERFACE = ("connection is closed", "connection was closed", "another operation is in progress")


def unavailable(exc: BaseException) -> Unavailable | None:
    """The ``Unavailable`` to answer with, or None when ``exc`` is not an outage (a real bug)."""
    if any(_is_outage(cause) for cause in _causes(exc)):
        return Unavailable("the database is not available; retry later", retry_after=RETRY_AFTER_SECONDS)
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        stack += [current.__cause__, current.__context__, orig if isinstance(orig, BaseException) else None]


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError | sa.TimeoutError | pg.PostgresConnectionError):
        return True
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, pg.InterfaceError):
        return any(text in str(exc) for text in _PG_INTERFACE)
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and state.startswith(_PG_STATES):
        return True
    return isinstance(exc, sqlite3.OperationalError) and str(exc).lower().startswith(_SQLITE_MESSAGES)
