"""The global id a by-id root field and every history argument takes (``mkt_101``)."""

from __future__ import annotations

from predictql.schema.ids import Kind, encode


def gid(kind: Kind, row_id: int | None) -> str:
    assert row_id is not None
    return encode(kind, row_id)
