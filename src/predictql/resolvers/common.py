"""Small helpers every resolver module shares."""

from __future__ import annotations

import base64
import binascii

import strawberry

from predictql.errors import InvalidInput
from predictql.inputs import INT64_MAX, plain_int


def parse_id(value: strawberry.ID | str, name: str = "id") -> int:
    """Strictly ASCII digits, as REST path ids: "1_0", " 1 " and "١" are refused, not read as 10, 1, 1."""
    number = plain_int(value)
    if number is None:
        raise InvalidInput(f"{name} must be a numeric id", code="invalid_id")
    if not 0 < number <= INT64_MAX:
        raise InvalidInput(f"{name} out of range", code="invalid_id")
    return number


def decode_base64(value: str, name: str = "contentBase64", code: str = "INVALID_REQUEST") -> bytes:
    """A file sent inside a GraphQL document; strict (no whitespace, no missing padding)."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{name} is not valid base64", code=code) from None
