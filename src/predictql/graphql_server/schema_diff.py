"""Breaking and dangerous changes between two SDL files, for CI to print (it never fails on them).

    python -m predictql.graphql_server.schema_diff OLD.graphql NEW.graphql

Uses graphql-core's ``find_breaking_changes`` / ``find_dangerous_changes``. The exit status is 0 whatever
the report says (the schema may change freely for now; the report is for the reader), and 2 only on
bad usage or an SDL that does not parse.
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphql import GraphQLError, GraphQLSchema, build_schema, find_breaking_changes, find_dangerous_changes


def report(old: GraphQLSchema, new: GraphQLSchema) -> list[str]:
    """One line per change, breaking ones first: ``BREAKING FIELD_REMOVED: Query.x was removed.``"""
    breaking = [f"BREAKING {c.type.name}: {c.description}" for c in find_breaking_changes(old, new)]
    dangerous = [f"DANGEROUS {c.type.name}: {c.description}" for c in find_dangerous_changes(old, new)]
    return breaking + dangerous


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m predictql.graphql_server.schema_diff OLD.graphql NEW.graphql", file=sys.stderr)
        return 2
    try:
        old, new = (build_schema(Path(path).read_text()) for path in args)
    except (OSError, GraphQLError) as error:
        print(f"schema diff: {error}", file=sys.stderr)
        return 2
    lines = report(old, new)
    print("\n".join(lines) if lines else "no breaking or dangerous changes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
