"""Every user-defined type, field, argument, input field and enum value of the built schema is documented.

The descriptions are the API's documentation (GraphQL.md "Every type, field, argument and enum value
has a description"); this walks the graphql-core schema the server builds and lists what lacks one.
"""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
)
from graphql import (
    build_schema as build_sdl,
)

from predictql.graphql_server.root import build_schema
from predictql.settings import Settings

# graphql-core's own types and scalars are documented upstream.
BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def _user_types(schema: GraphQLSchema) -> list[GraphQLNamedType]:
    return [t for name, t in sorted(schema.type_map.items()) if not name.startswith("__") and name not in BUILT_IN]


def _blank(description: str | None) -> bool:
    return not (description or "").strip()


def undocumented(schema: GraphQLSchema) -> list[str]:
    """Dotted paths (`Type`, `Type.field`, `Type.field(arg)`, `Enum.VALUE`) that have no description."""
    missing: list[str] = []
    for named in _user_types(schema):
        if _blank(named.description):
            missing.append(named.name)
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in named.fields.items():
                if _blank(field.description):
                    missing.append(f"{named.name}.{field_name}")
                missing.extend(
                    f"{named.name}.{field_name}({arg_name})"
                    for arg_name, arg in field.args.items()
                    if _blank(arg.description)
                )
        elif isinstance(named, GraphQLInputObjectType):
            missing.extend(f"{named.name}.{n}" for n, f in named.fields.items() if _blank(f.description))
        elif isinstance(named, GraphQLEnumType):
            missing.extend(f"{named.name}.{n}" for n, v in named.values.items() if _blank(v.description))
        elif isinstance(named, GraphQLUnionType):
            pass  # a union has only its own description, checked above
    return missing


def test_every_type_field_argument_and_enum_value_has_a_description() -> None:
    schema = build_schema(Settings(environment="test", jwt_secret="x" * 40))._schema
    missing = undocumented(schema)
    assert not missing, f"{len(missing)} schema elements lack a description:\n" + "\n".join(missing)


def test_the_walk_finds_every_kind_of_undocumented_element() -> None:
    """The check can fail: each kind of element left bare in a small schema is reported."""
    bare = build_sdl(
        """
        "documented" type Query { "documented" ok(
            "documented" a: Int): Int
          bare(b: Int): Bare }
        type Bare { x: Int }
        "documented" enum Side { "documented" YES NO }
        input Filter { f: Int }
        union Either = Bare
        "documented" scalar Long
        "documented" type Mutation { "documented" use(filter: Filter, side: Side, e: Long): Either }
        """
    )
    assert sorted(undocumented(bare)) == sorted(
        [
            "Bare",
            "Bare.x",
            "Either",
            "Filter",
            "Filter.f",
            "Mutation.use(e)",
            "Mutation.use(filter)",
            "Mutation.use(side)",
            "Query.bare",
            "Query.bare(b)",
            "Side.NO",
        ]
    )
