"""The id a by-id root field takes today: plain ("101") before the prefixed-id conversion of the
schema (issue 11 point 1), prefixed ("mkt_101") after it. New history arguments are prefixed."""

from __future__ import annotations

from predictql.errors import InvalidInput
from predictql.schema.ids import Kind, encode


def gid(kind: Kind, row_id: int | None) -> str:
    assert row_id is not None
    try:
        from predictql.resolvers.common import parse_id

        parse_id(encode(kind, row_id))
    except (ImportError, InvalidInput):
        return str(row_id)
    return encode(kind, row_id)
