"""Opaque keyset cursors ``base64({"id": N})``, as the Intotes feed examples show them."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from predictql.errors import InvalidInput
from predictql.inputs import INT64_MAX
from predictql.jsonutil import loads

T = TypeVar("T")
Q = TypeVar("Q", bound=Select[Any])
MAX_CURSOR = 100  # ours are about 20 characters


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": row_id}).encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The row id a cursor points past; ``invalid cursor`` for anything else, a nested or
    oversized document and an id past int64 included (the database would refuse it)."""
    if len(cursor) > MAX_CURSOR:
        raise InvalidInput("invalid cursor")
    try:
        value = loads(base64.urlsafe_b64decode(cursor.encode()))["id"]
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error):
        raise InvalidInput("invalid cursor") from None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT64_MAX:
        raise InvalidInput("invalid cursor")
    return value


MAX_PAGE = 100  # the bound of every connection's first/last
DEFAULT_PAGE = 20


@dataclass(frozen=True, slots=True)
class PageArgs:
    """Which page of a newest-first list: ``first`` after a cursor, or ``last`` before one.

    ``with_total`` asks for the list's length as well (one more statement, only when wanted).
    """

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None
    with_total: bool = False

    @property
    def backward(self) -> bool:
        return self.last is not None

    @property
    def size(self) -> int:
        return self.last if self.last is not None else self.first if self.first is not None else DEFAULT_PAGE

    def checked(self, bound: int = MAX_PAGE) -> PageArgs:
        """Itself when valid; ``InvalidInput`` for both directions at once or a size out of 1..bound."""
        if self.first is not None and self.last is not None:
            raise InvalidInput("give first or last, not both")
        if self.after is not None and self.before is not None:
            raise InvalidInput("give after or before, not both")
        for name, value in (("first", self.first), ("last", self.last)):
            if value is not None and not 1 <= value <= bound:
                raise InvalidInput(f"{name} must be 1-{bound}")
        return self

    def id_bounds(self) -> tuple[int | None, int | None]:
        """(ids below, ids above): the rows the cursors leave on this side."""
        below = decode_cursor(self.after) if self.after else None
        above = decode_cursor(self.before) if self.before else None
        return below, above


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None  # past the last item, when more follow
    has_more: bool
    has_previous: bool = False  # rows precede the first item (newer ones)
    total: int | None = None  # the whole list's length, when asked for (PageArgs.with_total)


def page_of(rows: list[T], limit: int, row_id: Callable[[T], int | None]) -> Page[T]:
    """A page from ``rows`` read with ``LIMIT limit + 1``: the extra row only says more follow."""
    has_more = len(rows) > limit
    items = rows[:limit]
    last = row_id(items[-1]) if items and has_more else None
    return Page(items, encode_cursor(last) if last is not None else None, has_more)


def window(rows: list[T], args: PageArgs, row_id: Callable[[T], int | None], total: int | None = None) -> Page[T]:
    """A newest-first page from ``rows`` read with ``LIMIT size + 1`` in the direction of ``args``
    (newest first going forward, oldest first going backward). The extra row says more follow that
    way; the other way is known from the cursor (a page after a cursor has rows before it), as Relay
    allows for a cheap ``pageInfo``."""
    size = args.size
    more = len(rows) > size
    items = rows[:size]
    if args.backward:
        items.reverse()
        return Page(items, _cursor(items, row_id) if args.before else None, args.before is not None, more, total)
    return Page(items, _cursor(items, row_id) if more else None, more, args.after is not None, total)


def _cursor(items: Sequence[T], row_id: Callable[[T], int | None]) -> str | None:
    last = row_id(items[-1]) if items else None
    return encode_cursor(last) if last is not None else None


def keyset(query: Any, id_column: Any, args: PageArgs) -> Any:
    """``query`` narrowed to the rows past the cursors and ordered for a newest-first page on
    ``id_column`` (``LIMIT size + 1``; see ``window``)."""
    below, above = args.id_bounds()
    if below is not None:
        query = query.where(id_column < below)
    if above is not None:
        query = query.where(id_column > above)
    order = id_column.asc() if args.backward else id_column.desc()
    return query.order_by(order).limit(args.size + 1)


async def count(session: AsyncSession, query: Any) -> int:
    """How many rows ``query`` (unordered, unlimited) selects."""
    return int(await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)


def list_page(rows: list[T], args: PageArgs, row_id: Callable[[T], int | None]) -> Page[T]:
    """A page of an already ordered, short list (a user's watchlist): ``after`` / ``before`` name a
    row of it by id; a cursor whose row has left the list is ``invalid cursor``."""
    args.checked()
    ids = [row_id(row) for row in rows]
    start, end = 0, len(rows)
    for cursor, after in ((args.after, True), (args.before, False)):
        if cursor is not None:
            wanted = decode_cursor(cursor)
            if wanted not in ids:
                raise InvalidInput("invalid cursor")
            start, end = (ids.index(wanted) + 1, end) if after else (start, ids.index(wanted))
    size = args.size
    if args.backward:
        items = rows[max(start, end - size) : end]
        return Page(items, None, end < len(rows), end - len(items) > 0, len(rows))
    items = rows[start : start + size]
    return Page(items, None, start + len(items) < end, start > 0, len(rows))


def where_given(query: Q, *filters: tuple[Any, Any]) -> Q:
    """``query`` narrowed, for each (column, value) whose value is not None, to the rows where the
    column equals it: a list's optional filters (a filter not given lets every row through)."""
    for column, value in filters:
        if value is not None:
            query = query.where(col(column) == value)
    return query


async def keyset_page(
    session: AsyncSession, query: Any, id_column: Any, args: PageArgs, *, bound: int = MAX_PAGE, rows: bool = False
) -> Page[Any]:
    """One newest-first page of ``query`` (a select of one entity), keyset-paged on ``id_column``.
    ``rows``: ``query`` selects columns (an entity's, ``events.pool_rows_of``), the page holds its rows."""
    args.checked(bound)
    total = await count(session, query) if args.with_total else None
    statement = keyset(query, id_column, args)
    found = list((await session.execute(statement)).all() if rows else await session.scalars(statement))
    return window(found, args, lambda row: row.id, total)


async def pages_by_parent(
    session: AsyncSession,
    model: Any,
    parent_column: Any,
    parents: Sequence[int],
    args: PageArgs,
    where: Sequence[Any] = (),
) -> dict[int, Page[Any]]:
    """The same page of ``model`` rows for each parent id, newest first, in one statement (plus one
    grouped count when ``args.with_total``): ``row_number()`` over each parent's rows in page
    order keeps the first ``size + 1`` of each, so the cost does not grow with the parents."""
    args.checked()
    id_column = model.id
    below, above = args.id_bounds()
    conditions = [parent_column.in_(parents), *where]
    if below is not None:
        conditions.append(id_column < below)
    if above is not None:
        conditions.append(id_column > above)
    order = id_column.asc() if args.backward else id_column.desc()
    rank = func.row_number().over(partition_by=parent_column, order_by=order).label("rank")
    ranked = select(id_column.label("row_id"), rank).where(*conditions).subquery()
    query = (
        select(model)
        .join(ranked, ranked.c.row_id == id_column)
        .where(ranked.c.rank <= args.size + 1)
        .order_by(parent_column, order)
    )
    found: dict[int, list[Any]] = {parent: [] for parent in parents}
    for row in await session.scalars(query):
        found[getattr(row, parent_column.key)].append(row)
    totals: dict[int, int] = {}
    if args.with_total:
        counted = select(parent_column, func.count()).where(parent_column.in_(parents), *where).group_by(parent_column)
        totals = {parent: int(n) for parent, n in await session.execute(counted)}
    return {
        parent: window(rows, args, lambda row: row.id, totals.get(parent, 0) if args.with_total else None)
        for parent, rows in found.items()
    }
