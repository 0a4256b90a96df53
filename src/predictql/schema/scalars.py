"""Custom scalars. GraphQL ``Int`` is 32-bit; ids and kopeck amounts are int64."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NewType

import strawberry

from predictql.inputs import INT64_MAX, INT64_MIN, plain_int
from predictql.jsonutil import parse_timestamp, rfc3339


def _parse_long(value: object) -> int:
    # A string is read strictly ("1_0", " 1 " and non-ASCII digits are not numbers here).
    number = plain_int(value) if isinstance(value, str) else value
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError("Long must be an integer")
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError("Long out of range (64-bit)")
    return number


Long = NewType("Long", int)

def _parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an RFC 3339 string")
    return parse_timestamp(value)  # without an offset: UTC, as on REST


SCALARS: dict[object, Any] = {
    datetime: strawberry.scalar(
        name="DateTime",
        serialize=rfc3339,
        parse_value=_parse_datetime,
        description="An RFC 3339 UTC timestamp, e.g. 2026-01-15T10:30:00Z; an input without an offset is UTC.",
    ),
    Long: strawberry.scalar(
        name="Long",
        serialize=int,
        parse_value=_parse_long,
        description="A 64-bit integer: kopecks for money, share units for positions.",
    )
}
