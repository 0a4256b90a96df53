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

# The one price type: every price or probability the schema shows is a ``Price`` (basis points).
Price = NewType("Price", int)

PRICE_DESCRIPTION = (
    "A token's price in basis points of probability: an integer 0..10000 (5500 = 55 % = 0.55 kopecks per "
    "unit; a unit pays 1 kopeck if its side wins). A YES price and its NO price sum to 10000. The one price "
    "type of the schema: trades, orders, book levels, candles, charts and market prices all use it. Inputs "
    "must be integers; each input field states its allowed range (e.g. a limit price 1..9999)."
)


def _parse_price(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Price must be an integer number of basis points (0..10000)")
    if not -(2**31) <= value < 2**31:
        raise ValueError("Price out of range")
    return value


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
    ),
    Price: strawberry.scalar(
        name="Price",
        serialize=int,
        parse_value=_parse_price,
        description=PRICE_DESCRIPTION,
    ),
}
