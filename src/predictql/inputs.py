"""What any client value must be before it reaches a service, a database or a JSON encoder.

One sanitizer for both faces: the REST body and parameter parser, the GraphQL input guard and the
services that store client JSON call it. Each rule exists because the value once crashed a route:
PostgreSQL refuses NUL in text and integers past int64, a lone surrogate cannot be encoded to UTF-8
(by asyncpg, SQLite or orjson), and deep nesting exhausts recursive encoders (orjson stops at 255
levels, so one deep stored ``metadata`` broke every read that served it).
"""

from __future__ import annotations

import math
import re
from typing import Any

from predictql.errors import InvalidInput
from predictql.jsonutil import dumps

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32  # no request shape of ours nests deeper than a handful of levels
MAX_ITEMS = 1000  # per list or object; domain limits (20 tags, 10 outcomes) are tighter still
STORED_DEPTH = 8  # stored client JSON (pool metadata) is read back by everyone: keep it small
STORED_BYTES = 16 * 1024
MAX_PARAM = 2000  # characters in one path or query parameter
_PLAIN_INT = re.compile(r"-?[0-9]{1,20}")


def plain_int(raw: object) -> int | None:
    """ASCII digits with an optional minus only: ``int()`` alone also takes "1_000", " 7" and "٣".
    Callers check the range (an id is 1..2^63-1)."""
    if not isinstance(raw, str) or not _PLAIN_INT.fullmatch(raw):
        return None
    return int(raw)


def text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (a lone surrogate is not)"
    return None


def check_text(text: str, where: str, *, code: str = "INVALID_REQUEST") -> str:
    problem = text_problem(text)
    if problem is not None:
        raise InvalidInput(f"{where} {problem}", code=code)
    return text


def _problem(value: object, depth: int, max_depth: int) -> str | None:
    if depth > max_depth:
        return f"nests deeper than {max_depth} levels"
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if INT64_MIN <= value <= INT64_MAX else "has an integer outside the 64-bit range"
    if isinstance(value, float):
        return None if math.isfinite(value) else "has a number that is not finite"
    if isinstance(value, list | dict) and len(value) > MAX_ITEMS:
        return f"has more than {MAX_ITEMS} items in one list or object"
    return None


def check_json(value: Any, where: str, *, max_depth: int = MAX_DEPTH, code: str = "INVALID_REQUEST") -> Any:
    """Every string, number, list and key of ``value`` (walked without recursion) is storable."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        problem = _problem(item, depth, max_depth)
        if problem is not None:
            raise InvalidInput(f"{where} {problem}", code=code)
        if isinstance(item, dict):
            stack.extend((key, depth + 1) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return value


def check_stored_json(value: Any, where: str, *, code: str = "INVALID_REQUEST") -> Any:
    """Client JSON that is stored and served back: bounded in depth and encoded size too."""
    check_json(value, where, max_depth=STORED_DEPTH, code=code)
    if len(dumps(value)) > STORED_BYTES:
        raise InvalidInput(f"{where} is larger than {STORED_BYTES} bytes as JSON", code=code)
    return value
