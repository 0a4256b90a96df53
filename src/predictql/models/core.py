"""Rows of the hot write path without the ORM's per-object costs.

A batch of the market writer writes its trades, price points, positions, orders and ledger rows
with Core multi-row statements (no unit of work, no identity map). What it hands on (results,
stream messages) still wants model instances: ``build`` makes one the way the ORM makes a row it
loads (the class's instance without ``__init__``: no validation, no copies of field defaults),
holding every column. The instance is transient: it is never added to a session, so changing it
writes nothing; the caller writes it with Core (``add``, ``save``, ``insert_many``).

On PostgreSQL, ``insert_many`` and ``save`` send one array per column and ``unnest`` them: one
statement executed once whatever the number of rows (an executemany is executed by the server once
per row); on SQLite they are the executemany.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, TextClause, any_, bindparam, insert, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ClassManager, configure_mappers
from sqlmodel import SQLModel

Model = TypeVar("Model", bound=SQLModel)


def table(model: type[SQLModel]) -> Table:
    """The model's table, for Core statements."""
    found: Table = model.__table__  # type: ignore[attr-defined]
    return found


@cache
def columns(model: type[SQLModel]) -> tuple[str, ...]:
    """The model's column names, in table order."""
    return tuple(table(model).columns.keys())


@cache
def _defaults(model: type[SQLModel]) -> dict[str, Any]:
    """Each column's scalar default (None when it has none or a computed one)."""
    out: dict[str, Any] = {}
    for column in table(model).columns:
        default = column.default
        out[column.key] = default.arg if default is not None and default.is_scalar else None  # type: ignore[attr-defined]
    return out


@cache
def _manager(model: type[SQLModel]) -> ClassManager[Any]:
    configure_mappers()  # the instrumented attributes must be set up before an instance is read
    manager: ClassManager[Any] = model._sa_class_manager  # type: ignore[attr-defined]
    return manager


def build(model: type[Model], values: dict[str, Any]) -> Model:
    """A transient ``model`` instance holding ``values``; columns not given hold their scalar
    default (None for ``id`` and for computed defaults such as ``created_at``: give those)."""
    instance: Model = _manager(model).new_instance()
    instance.__dict__.update(_defaults(model))
    instance.__dict__.update(values)
    return instance


def put(instance: SQLModel, **values: Any) -> None:
    """Set columns of a transient instance (``build``) as ``build`` does, without the ORM's attribute
    events (~7 us each): nothing tracks it, its writer writes it with ``save``."""
    instance.__dict__.update(values)


def values_of(instance: SQLModel) -> dict[str, Any]:
    """Every column of ``instance`` (for a Core statement or a copy); the id included."""
    return {name: getattr(instance, name) for name in columns(type(instance))}


def _rows_values(rows: Sequence[SQLModel], names: Sequence[str]) -> list[dict[str, Any]]:
    """The columns ``names`` of each row, as ``getattr`` reads them: from the instance's ``__dict__``
    when it holds the column (a row ``build`` made always does, a loaded one unless expired), which
    is what the ORM's attribute returns then, at a third of its cost (~0.2 us a column)."""
    out = []
    for row in rows:
        held = row.__dict__
        out.append({name: held[name] if name in held else getattr(row, name) for name in names})
    return out


def _rows_arrays(rows: Sequence[SQLModel], names: Sequence[str]) -> dict[str, list[Any]]:
    """``_rows_values`` as one list per column."""
    values = _rows_values(rows, names)
    return {name: [row[name] for row in values] for name in names}


def _once(rows: Sequence[SQLModel]) -> list[SQLModel]:
    """Each row once (by id, as it is now: a row named twice is written once, with its last state)."""
    return list({row.id: row for row in rows}.values())  # type: ignore[attr-defined]


async def add(session: AsyncSession, rows: Sequence[SQLModel]) -> None:
    """Insert rows of one model in one multi-row ``INSERT ... RETURNING id``; each gets its id
    (``put``: the rows are transient, ``build``'s, outside the session)."""
    if not rows:
        return
    model = type(rows[0])
    names = [name for name in columns(model) if name != "id"]
    ids = await insert_ids(session, model, _rows_values(rows, names))
    for row, id_ in zip(rows, ids, strict=True):
        row.__dict__["id"] = id_


async def add_with(
    session: AsyncSession,
    rows: Sequence[SQLModel],
    model: type[SQLModel],
    beside: Sequence[dict[str, Any]],
    *,
    saving: Sequence[tuple[Sequence[SQLModel], tuple[str, ...]]] = (),
) -> None:
    """``add(rows)`` and ``insert_many(model, beside)`` together: on PostgreSQL one statement (the
    rows ``beside`` inserted by a data-modifying ``WITH``), a round trip fewer; else (SQLite, nothing
    on one side, a default only a statement can compute: no arrays) both. ``saving``: ``save(rows,
    names)`` of each (rows of one model, column names; none of ``rows``' model), in the same
    statement on PostgreSQL (one ``WITH ... UPDATE`` each)."""
    saved = [(_once(some), names) for some, names in saving if some]
    if rows and beside and on_postgresql(session):
        first = type(rows[0])
        names = [name for name in columns(first) if name != "id"]
        arrays = _arrays(session, first, _rows_values(rows, names))
        extra = _arrays(session, model, beside)
        if arrays is not None and extra is not None:
            shapes = tuple((type(some[0]), names) for some, names in saved)
            statement = _unnest_insert_with(first, tuple(arrays), model, tuple(extra), shapes)
            params = {**arrays, **{f"w_{name}": values for name, values in extra.items()}}
            for index, (some, saved_names) in enumerate(saved):
                params.update({f"s{index}_{name}": v for name, v in _rows_arrays(some, ("id", *saved_names)).items()})
            ids = sorted(int(id_) for id_ in await session.scalars(statement, params))  # as in ``insert_ids``
            for row, id_ in zip(rows, ids, strict=True):
                row.__dict__["id"] = id_  # as ``add`` does
            return
    await add(session, rows)
    await insert_many(session, model, beside)
    for some, saved_names in saved:
        await save(session, some, saved_names)


@cache
def _unnest_insert_with(
    model: type[SQLModel],
    names: tuple[str, ...],
    other: type[SQLModel],
    other_names: tuple[str, ...],
    saved: tuple[tuple[type[SQLModel], tuple[str, ...]], ...] = (),
) -> TextClause:
    """``_unnest_insert(model, names, True)`` preceded by ``WITH w AS (INSERT INTO other ...)``,
    the other's arrays bound as ``w_<column>``, and by ``s<i> AS (UPDATE ...)`` for each of
    ``saved`` (``_unnest_update``'s, its arrays bound as ``s<i>_<column>``)."""
    main = _unnest_insert(model, names, True)
    found = table(other)
    quote = _PG.identifier_preparer.quote
    listed = ", ".join(quote(name) for name in other_names)
    arrays = ", ".join(f":w_{name}" for name in other_names)
    parts = [f"w AS (INSERT INTO {quote(found.name)} ({listed}) SELECT * FROM unnest({arrays}))"]
    binds = [
        *(bindparam(name, type_=postgresql.ARRAY(table(model).c[name].type)) for name in names),
        *(bindparam(f"w_{name}", type_=postgresql.ARRAY(found.c[name].type)) for name in other_names),
    ]
    for index, (saved_model, saved_names) in enumerate(saved):
        target = table(saved_model)
        parts.append(f"s{index} AS ({_update_text(saved_model, saved_names, f's{index}_')})")
        every = ("id", *saved_names)
        binds += [bindparam(f"s{index}_{name}", type_=postgresql.ARRAY(target.c[name].type)) for name in every]
    return text(f"WITH {', '.join(parts)} {main.text}").bindparams(*binds)


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]  # only to quote names


async def insert_ids(session: AsyncSession, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> list[int]:
    """``insert_many``, returning the new rows' ids in the order of ``rows``."""
    if not rows:
        return []
    arrays = _arrays(session, model, rows)
    if arrays is None:
        found = table(model)
        statement = insert(found).returning(found.c.id, sort_by_parameter_order=True)
        return [int(id_) for id_ in await session.scalars(statement, list(rows))]
    # The ids are handed out in the SELECT's order (ORDER BY its ordinality): sorted, they are the
    # rows' in order. SQLAlchemy's "insertmanyvalues" relies on the same for PostgreSQL.
    return sorted(int(id_) for id_ in await session.scalars(_unnest_insert(model, tuple(arrays), True), arrays))


async def insert_many(session: AsyncSession, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows of ``model`` (dicts with the same keys; no ids wanted back) in one statement.
    A column a row does not give takes its Python-side default, computed once for the statement."""
    if not rows:
        return
    arrays = _arrays(session, model, rows)
    if arrays is None:
        await session.execute(insert(table(model)), list(rows))
        return
    await session.execute(_unnest_insert(model, tuple(arrays), False), arrays)


def on_postgresql(session: AsyncSession) -> bool:
    """Whether ``session`` talks to PostgreSQL (the batch statements with one array per column)."""
    return session.get_bind().dialect.name == "postgresql"


def one_of(session: AsyncSession, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``among(column, values)`` for ``session``'s database."""
    return among(column, list(values), postgres=on_postgresql(session))


def among(column: Any, values: Any, *, postgres: bool) -> ColumnElement[bool]:
    """``column IN values``. On PostgreSQL ``column = ANY(:array)``: one statement text whatever the
    number of values, so a batch's read is prepared once per connection (an IN list is a new text,
    hence a new prepare, and a parse and plan, per batch size); on SQLite the IN list. ``values``: a
    list, or a parameter's name (for a statement built once)."""
    result: ColumnElement[bool]
    if isinstance(values, str):
        if postgres:
            result = column == any_(bindparam(values, type_=postgresql.ARRAY(column.type)))
        else:
            result = column.in_(bindparam(values, expanding=True))
    elif postgres:
        result = column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    else:
        result = column.in_(list(values))
    return result


def _arrays(session: AsyncSession, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """On PostgreSQL, column -> its values in ``rows``, a column not given filled with its Python
    default; None on SQLite (an executemany) or when a default only the statement can compute."""
    if not on_postgresql(session):
        return None
    names = tuple(rows[0])
    defaults = _python_defaults(model, names)
    if defaults is None:
        return None
    arrays: dict[str, Any] = {name: [row[name] for row in rows] for name in names}
    for name, value in defaults.items():
        arrays[name] = [value() if callable(value) else value] * len(rows)
    return arrays


def _python_defaults(model: type[SQLModel], given: tuple[str, ...]) -> dict[str, Any] | None:
    """Column -> its Python-side default (a scalar, or a function of no argument) of the columns
    not ``given`` that have one (a server-side default or an autoincrement id is left to the
    server); None when one of them has a default only the statement can compute."""
    out: dict[str, Any] = {}
    for column in table(model).columns:
        default = column.default
        if column.key in given or default is None:
            continue
        if not (default.is_scalar or default.is_callable):
            return None
        arg = default.arg  # type: ignore[attr-defined]
        out[column.key] = (lambda arg=arg: arg(None)) if default.is_callable else arg
    return out


@cache
def _unnest_insert(model: type[SQLModel], names: tuple[str, ...], returning: bool) -> TextClause:
    found = table(model)
    quote = _PG.identifier_preparer.quote
    listed = ", ".join(quote(name) for name in names)
    arrays = ", ".join(f":{name}" for name in names)
    source = (
        f"SELECT {listed} FROM unnest({arrays}) WITH ORDINALITY AS v({listed}, _ordinal) ORDER BY _ordinal RETURNING id"
        if returning
        else f"SELECT * FROM unnest({arrays})"
    )
    return text(f"INSERT INTO {quote(found.name)} ({listed}) {source}").bindparams(
        *(bindparam(name, type_=postgresql.ARRAY(found.c[name].type)) for name in names)
    )


async def save(session: AsyncSession, rows: Sequence[SQLModel], names: tuple[str, ...]) -> None:
    """Write the columns ``names`` of rows of one model, by id: one statement."""
    if not rows:
        return
    model = type(rows[0])
    if on_postgresql(session):
        rows = _once(rows)
        arrays = _rows_arrays(rows, ("id", *names))
        await session.execute(_unnest_update(model, names), arrays)
        return
    await session.execute(
        _update(model, names),
        [{"_id": row.id, **{f"_{name}": getattr(row, name) for name in names}} for row in rows],  # type: ignore[attr-defined]
    )


@cache
def _update(model: type[SQLModel], names: tuple[str, ...]) -> Any:
    found = table(model)
    return update(found).where(found.c.id == bindparam("_id")).values({name: bindparam(f"_{name}") for name in names})


@cache
def _unnest_update(model: type[SQLModel], names: tuple[str, ...]) -> TextClause:
    found = table(model)
    every = ("id", *names)
    return text(_update_text(model, names)).bindparams(
        *(bindparam(name, type_=postgresql.ARRAY(found.c[name].type)) for name in every)
    )


def _update_text(model: type[SQLModel], names: tuple[str, ...], prefix: str = "") -> str:
    """``UPDATE`` of the columns ``names`` by id from one array per column (``:<prefix><column>``)."""
    found = table(model)
    quote = _PG.identifier_preparer.quote
    every = ("id", *names)
    arrays = ", ".join(f":{prefix}{name}" for name in every)
    return (
        f"UPDATE {quote(found.name)} SET {', '.join(f'{quote(name)} = v.{quote(name)}' for name in names)} "
        f"FROM unnest({arrays}) AS v({', '.join(quote(name) for name in every)}) WHERE {quote(found.name)}.id = v.id"
    )
