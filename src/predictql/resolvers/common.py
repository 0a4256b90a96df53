"""Small helpers every resolver module shares."""

from __future__ import annotations

import strawberry

from predictql.errors import InvalidInput
from predictql.inputs import INT64_MAX, plain_int

# The `after` argument of every connection field.
AFTER = strawberry.argument(
    description="The endCursor (or an edge's cursor) to continue after; null for the first page."
)


def parse_id(value: strawberry.ID | str, name: str = "id") -> int:
    """Strictly ASCII digits, as REST path ids: "1_0", " 1 " and "١" are refused, not read as 10, 1, 1."""
    number = plain_int(value)
    if number is None:
        raise InvalidInput(f"{name} must be a numeric id", code="invalid_id")
    if not 0 < number <= INT64_MAX:
        raise InvalidInput(f"{name} out of range", code="invalid_id")
    return number
