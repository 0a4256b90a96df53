"""The GraphQL request path's per-request shortcuts give what Strawberry's own path gives, and an
execution leaves nothing for the cyclic GC (bench/RESULTS.md, branch ``httpcost``)."""

from __future__ import annotations

import gc
from typing import Any

from graphql import GraphQLInputObjectType
from graphql.execution import Executor
from strawberry.types.arguments import convert_argument

from predictql.graphql_server.plain_inputs import DEFINITION
from predictql.graphql_server.root import build_schema
from predictql.resolvers.trading import LmsrTradeInput
from predictql.schema.enums import AmountType, LmsrSide
from predictql.settings import Settings
from tests.conftest import JWT_SECRET


def _schema() -> Any:
    return build_schema(Settings(jwt_secret=JWT_SECRET, environment="test"))


async def test_an_execution_leaves_no_executor_to_the_cyclic_gc() -> None:
    """graphql-core's executor keeps bound methods of itself: a cycle that held each request's
    context, request and response until a collection. Ours reach it weakly: freed at once."""
    schema = _schema()
    await schema.execute("{ __typename }")  # caches warm
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            result = await schema.execute("{ __typename probe: __typename }")
            assert result.data == {"__typename": "Query", "probe": "Query"}
        del result
        gc.collect()
        left = [found for found in gc.garbage if isinstance(found, Executor)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []


def test_plain_inputs_are_built_as_strawberry_converts_them() -> None:
    schema = _schema()
    graphql_type = schema._schema.type_map["LmsrTradeInput"]
    assert isinstance(graphql_type, GraphQLInputObjectType)
    definition = graphql_type.extensions[DEFINITION]
    assert definition.from_input is not None  # scalars and enums only: built directly
    config, registry = schema.config, schema.schema_converter.scalar_registry
    for value in (
        {"marketId": "mkt_7", "side": LmsrSide.BUY_NO, "amountType": AmountType.SHARES, "amount": 5, "useBonus": True},
        {"marketId": "mkt_7", "side": LmsrSide.BUY_YES, "amountType": AmountType.SPEND, "amount": 1000},  # default
    ):
        built = convert_argument(value, LmsrTradeInput, registry, config)
        builder, definition.from_input = definition.from_input, None
        try:
            strawberrys = convert_argument(value, LmsrTradeInput, registry, config)
        finally:
            definition.from_input = builder
        assert isinstance(built, LmsrTradeInput) and vars(built) == vars(strawberrys)


def test_inputs_with_lists_or_nested_inputs_keep_strawberrys_conversion() -> None:
    schema = _schema()
    kept = {
        name
        for name, graphql_type in schema._schema.type_map.items()
        if isinstance(graphql_type, GraphQLInputObjectType) and graphql_type.extensions[DEFINITION].from_input is None
    }
    assert {"CreatePoolInput", "CreateEventFullInput", "SetPoolProbabilitiesInput"} <= kept
