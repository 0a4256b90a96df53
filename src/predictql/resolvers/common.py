"""Small helpers every resolver module shares."""

from __future__ import annotations

import strawberry

from predictql.errors import InvalidInput


def parse_id(value: strawberry.ID | str, name: str = "id") -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a numeric id", code="invalid_id") from None
    if not 0 < number < 2**63:
        raise InvalidInput(f"{name} out of range", code="invalid_id")
    return number
