"""JSON encoding in one place: orjson, RFC 3339 UTC timestamps with a trailing Z (rule 11)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS | orjson.OPT_NON_STR_KEYS


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Client timestamps past these overflow Python's datetime once a service adds a day or a chart
# bucket to them (0001-01-01T00:00+01:00 is before year 1 in UTC already).
MIN_YEAR, MAX_YEAR = 1970, 9998


def as_utc(value: datetime) -> datetime:
    """A client timestamp in UTC; one without an offset *is* UTC (rule 11), on REST and GraphQL
    alike. ValueError outside years MIN_YEAR..MAX_YEAR."""
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp out of range") from None
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"timestamp year must be {MIN_YEAR}..{MAX_YEAR}")
    return utc


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 / ISO 8601 timestamp (``Z``, an offset, or none = UTC); ValueError otherwise."""
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def dumps_str(value: Any) -> str:
    """For WebSocket text frames (bytes would become binary frames)."""
    return dumps(value).decode()


loads = orjson.loads


def loads_column(text: str | bytes) -> Any:
    """A JSON column's value as the database returns it (the engines' ``json_deserializer``):
    orjson, several times faster than the standard library on the feed's tags and pool metadata;
    what orjson refuses and ``json.dumps`` may have written (an integer beyond 64 bits, NaN) is
    read by the standard library as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
