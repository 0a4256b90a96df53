"""Rows of the hot write path without the ORM's per-object costs.

A batch of the market writer writes its trades, price points, positions, orders and ledger rows
with Core multi-row statements (no unit of work, no identity map). What it hands on (results,
stream messages) still wants model instances: ``build`` makes one the way the ORM makes a row it
loads (the class's instance without ``__init__``: no validation, no copies of field defaults),
holding every column. The instance is transient: it is never added to a session, so changing it
writes nothing; the caller writes it with Core (``add``, ``save``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, insert, update
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


async def add(session: AsyncSession, rows: Sequence[SQLModel]) -> None:
    """Insert rows of one model in one multi-row ``INSERT ... RETURNING id``; each gets its id."""
    if not rows:
        return
    model = type(rows[0])
    names = [name for name in columns(model) if name != "id"]
    values = [{name: getattr(row, name) for name in names} for row in rows]
    found = table(model)
    ids = await session.scalars(insert(found).returning(found.c.id, sort_by_parameter_order=True), values)
    for row, id_ in zip(rows, ids, strict=True):
        row.id = id_


async def save(session: AsyncSession, rows: Sequence[SQLModel], names: tuple[str, ...]) -> None:
    """Write the columns ``names`` of rows of one model, by id: one statement (an executemany)."""
    if not rows:
        return
    await session.execute(
        _update(type(rows[0]), names),
        [{"_id": row.id, **{f"_{name}": getattr(row, name) for name in names}} for row in rows],  # type: ignore[attr-defined]
    )


@cache
def _update(model: type[SQLModel], names: tuple[str, ...]) -> Any:
    found = table(model)
    return update(found).where(found.c.id == bindparam("_id")).values({name: bindparam(f"_{name}") for name in names})
