"""Column helpers shared by every table module."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from predictql.db import BigId, UTCDateTime, utcnow

# Stable constraint names, so migrations and autogenerate agree on both engines.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def id_field() -> Any:
    return Field(default=None, primary_key=True, sa_type=BigId)


def fk(target: str, *, nullable: bool = False, index: bool = True, ondelete: Any = None) -> Any:
    options: dict[str, Any] = {"foreign_key": target, "sa_type": BigInteger, "nullable": nullable, "index": index}
    if ondelete is not None:
        options["ondelete"] = ondelete
    return Field(default=None, **options) if nullable else Field(**options)


def money(default: int = 0) -> Any:
    return Field(default=default, sa_type=BigInteger, nullable=False)


def created_at() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def when(*, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)


__all__ = ["created_at", "datetime", "fk", "id_field", "money", "when"]
