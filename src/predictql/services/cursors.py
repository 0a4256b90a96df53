"""Opaque keyset cursors ``base64({"id": N})``, as the Intotes feed examples show them."""

from __future__ import annotations

import base64
import binascii
import json

from predictql.errors import InvalidInput


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": row_id}).encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The row id a cursor points past; ``invalid cursor`` for anything else."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))["id"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidInput("invalid cursor") from None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput("invalid cursor")
    return value
