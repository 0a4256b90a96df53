"""Every user-defined type, field, argument, input field and enum value of the built schema is documented.

The descriptions are the API's documentation (GraphQL.md "Every type, field, argument and enum value
has a description"); this walks the graphql-core schema the server builds and lists what lacks one,
and what is deprecated without saying why (a duplicate kept for a while names its replacement).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DEFAULT_DEPRECATION_REASON,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
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


def _elements(schema: GraphQLSchema) -> Iterator[tuple[str, Any]]:
    """Every user type, field, argument, input field and enum value, with its dotted path
    (`Type`, `Type.field`, `Type.field(arg)`, `Input.field`, `Enum.VALUE`)."""
    for named in _user_types(schema):
        yield named.name, named
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in named.fields.items():
                yield f"{named.name}.{field_name}", field
                for arg_name, arg in field.args.items():
                    yield f"{named.name}.{field_name}({arg_name})", arg
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                yield f"{named.name}.{field_name}", input_field
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                yield f"{named.name}.{value_name}", value
        # a union or a scalar has only its own description


def undocumented(schema: GraphQLSchema) -> list[str]:
    """The paths of the elements that have no description."""
    return [path for path, element in _elements(schema) if _blank(element.description)]


def deprecated_without_reason(schema: GraphQLSchema) -> list[str]:
    """The paths of the deprecated elements whose reason is empty or graphql's default ("No longer supported")."""
    return [
        path
        for path, element in _elements(schema)
        if getattr(element, "deprecation_reason", None) is not None
        and (_blank(element.deprecation_reason) or element.deprecation_reason == DEFAULT_DEPRECATION_REASON)
    ]


def test_every_type_field_argument_and_enum_value_has_a_description() -> None:
    schema = build_schema(Settings(environment="test", jwt_secret="x" * 40))._schema
    missing = undocumented(schema)
    assert not missing, f"{len(missing)} schema elements lack a description:\n" + "\n".join(missing)


def test_every_deprecated_element_says_why_and_what_to_use() -> None:
    schema = build_schema(Settings(environment="test", jwt_secret="x" * 40))._schema
    assert deprecated_without_reason(schema) == []


def test_a_deprecation_without_a_reason_is_reported() -> None:
    sdl = build_sdl(
        """
        "q" type Query { "a" a: Int @deprecated "b" b: Int @deprecated(reason: "Use c.") "c" c: Int
          "d" d("x" x: Int @deprecated(reason: "")): Int }
        "e" enum E { "x" X @deprecated "y" Y }
        "i" input I { "f" f: Int @deprecated }
        "m" type Mutation { "u" u("i" i: I, "e" e: E): Int }
        """
    )
    assert sorted(deprecated_without_reason(sdl)) == ["E.X", "I.f", "Query.a", "Query.d(x)"]


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
