"""The ``Node`` interface and the helpers that write global ids into GraphQL types (issue 11 point 1).

Every entity type implements ``Node``; its ``id`` (and every other id field) holds a readable global
id from ``schema.ids`` (``mkt_101``), never a bare row id. ``node(id)`` resolves any of them
(``resolvers/nodes.py``).
"""

from __future__ import annotations

import strawberry

from predictql.schema.ids import Kind, encode

ID_HELP = "Global id: a kind prefix and the row id (usr_3, evt_42, mkt_101, ...); treat it as opaque."


@strawberry.interface(description="An object with a global id; node(id) and nodes(ids) fetch any of them.")
class Node:
    id: strawberry.ID = strawberry.field(description=ID_HELP)


def gid(kind: Kind, row_id: int | None) -> strawberry.ID:
    """The global id of a row (which must have been flushed: ``row_id`` is set)."""
    assert row_id is not None
    return strawberry.ID(encode(kind, row_id))


def opt_gid(kind: Kind, row_id: int | None) -> strawberry.ID | None:
    """The global id of an optional reference; None stays None."""
    return None if row_id is None else strawberry.ID(encode(kind, row_id))
