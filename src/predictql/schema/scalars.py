"""Custom scalars. GraphQL ``Int`` is 32-bit; ids and kopeck amounts are int64."""

from __future__ import annotations

from typing import NewType

import strawberry


def _parse_long(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("Long must be an integer")
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise ValueError("Long out of range")
    return number


Long = NewType("Long", int)

SCALARS = {
    Long: strawberry.scalar(
        name="Long",
        serialize=int,
        parse_value=_parse_long,
        description="A 64-bit integer: kopecks for money, share units for positions.",
    )
}
