"""Opaque keyset cursors ``base64({"id": N})``, as the Intotes feed examples show them."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from predictql.errors import InvalidInput
from predictql.inputs import INT64_MAX
from predictql.jsonutil import loads

T = TypeVar("T")
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


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None  # past the last item, when more follow
    has_more: bool


def page_of(rows: list[T], limit: int, row_id: Callable[[T], int | None]) -> Page[T]:
    """A page from ``rows`` read with ``LIMIT limit + 1``: the extra row only says more follow."""
    has_more = len(rows) > limit
    items = rows[:limit]
    last = row_id(items[-1]) if items and has_more else None
    return Page(items, encode_cursor(last) if last is not None else None, has_more)
