"""Every GraphQL query and mutation root field, fuzzed through variables typed from the schema:
valid world ids and values mixed with the input classes that crash servers (null for ``ID!``,
``Long`` past 2^63, ``Int`` 3.5, NaN and Infinity, NUL and lone surrogates, 100,000-item lists,
deep JSON, zone-less and overflowing ``DateTime``). No answer is a 5xx or carries INTERNAL_ERROR,
every error has a code, and nothing is logged as unexpected.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
    is_leaf_type,
)
from hypothesis import strategies as st

from predictql.db import Database
from predictql.graphql_server.root import build_schema
from predictql.settings import Settings
from tests.inputs.nasty import (
    INT64_EDGES,
    check_graphql,
    check_logs,
    drawn,
    nasty_json,
    nasty_text,
    unexpected_errors,
)
from tests.inputs.world import World, build_world
from tests.support import Kind, gid

SCHEMA = build_schema(Settings(environment="test", jwt_secret="x" * 40))._schema
NON_FINITE = [math.nan, math.inf, -math.inf]
WORDS = [
    "x",
    "buy_yes",
    "sell_no",
    "spend",
    "shares",
    "YES",
    "NO",
    "lmsr",
    "orderbook",
    "limit",
    "market",
    "buy",
    "GTC",
    "FOK",
    "creator",
    "en",
    "dark",
    "pending",
    "started",
]
FIELDS = [("query", name, field) for name, field in SCHEMA.query_type.fields.items()] + [
    ("mutation", name, field)
    for name, field in SCHEMA.mutation_type.fields.items()  # type: ignore[union-attr]
]


def _scalar(name: str, world: World) -> st.SearchStrategy[Any]:
    ids = [
        gid(Kind.EVENT, world.event_id),
        gid(Kind.POOL, world.pool_id),
        gid(Kind.MARKET, world.market_id),
        gid(Kind.MARKET, world.book_market_id),
        gid(Kind.ORDER, world.order_id),
        gid(Kind.NOTIFICATION, world.notification_id),
        gid(Kind.USER, world.user_id),
        gid(Kind.API_TOKEN, world.api_token_id),
        str(world.market_id),  # a bare row id: INVALID_ID
    ]
    valid = {
        "ID": st.sampled_from(ids),
        "Int": st.integers(-1, 100),
        "Long": st.integers(-1, 10_000),
        "Price": st.integers(-1, 10_001),
        "Float": st.sampled_from([0.5, 0.25, 0.0]),
        "String": st.sampled_from(WORDS),
        "Boolean": st.booleans(),
        "DateTime": st.sampled_from(["2030-01-01T00:00:00Z", "2026-01-01T00:00:00+03:00"]),
        "JSON": st.sampled_from([{}, {"volume_min_kopecks": 1}]),
    }[name]
    nasty = st.one_of(nasty_json, st.sampled_from(NON_FINITE), st.sampled_from(INT64_EDGES), nasty_text)
    return st.one_of(valid, valid, nasty)


def value_of(kind: GraphQLInputType, world: World) -> st.SearchStrategy[Any]:
    if isinstance(kind, GraphQLNonNull):
        inner = value_of(kind.of_type, world)
        return st.one_of(inner, inner, inner, st.none())
    if isinstance(kind, GraphQLList):
        items = value_of(kind.of_type, world)
        return st.one_of(st.lists(items, max_size=3), st.just(["t"] * 100_000), items, st.none())
    if isinstance(kind, GraphQLInputObjectType):
        fields = {name: value_of(field.type, world) for name, field in kind.fields.items()}
        return st.fixed_dictionaries({}, optional=fields)
    if isinstance(kind, GraphQLEnumType):
        return st.one_of(st.sampled_from(list(kind.values)), nasty_text)
    assert isinstance(kind, GraphQLScalarType)
    return st.one_of(_scalar(kind.name, world), st.none())


def operation(kind: str, name: str, field: GraphQLField) -> str:
    names = list(field.args)
    declared = ", ".join(f"${arg}: {field.args[arg].type}" for arg in names)
    passed = ", ".join(f"{arg}: ${arg}" for arg in names)
    selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
    head = f"{kind}({declared})" if names else kind
    return f"{head} {{ {name}{f'({passed})' if names else ''}{selection} }}"


@st.composite
def variables(draw: st.DrawFn, field: GraphQLField, world: World) -> dict[str, Any]:
    chosen = {}
    for arg, definition in field.args.items():
        if draw(st.integers(0, 5)) > 0:  # now and then leave one out (a required one: coercion error)
            chosen[arg] = draw(value_of(definition.type, world))
    return chosen


@pytest.mark.parametrize(("kind", "name", "field"), FIELDS, ids=[f"{k} {n}" for k, n, _ in FIELDS])
async def test_no_input_crashes_a_graphql_root_field(
    client: httpx.AsyncClient, db: Database, kind: str, name: str, field: GraphQLField
) -> None:
    world = await build_world(client, db)
    document = operation(kind, name, field)
    examples = drawn(variables(field, world)) if field.args else [{}]
    with unexpected_errors() as logged:
        for values in examples:
            body = json.dumps({"query": document, "variables": values})  # NaN, Infinity, \\ud800 as JSON allows
            response = await client.post(
                "/graphql", content=body, headers={**world.headers(), "content-type": "application/json"}
            )
            check_graphql(response, (document, values))
            check_logs(logged, (document, values))
