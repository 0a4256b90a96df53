"""Plain leaf fields completed inline (``graphql_server/leaf_fields.py``) give exactly what
graphql-core's own path gives: the same data, the same errors at the same paths, in the same order."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from predictql.graphql_server.leaf_fields import LeafFieldsExecutor, leaf_plans
from predictql.graphql_server.root import build_schema
from predictql.schema.scalars import SCALARS, Long


@strawberry.enum
class Color(Enum):
    RED = "red"


@strawberry.type
class Thing:
    name: str
    label: str | None
    count: Long
    ratio: float
    flag: bool
    color: Color
    broken: str  # holds None: a non-null field without a value

    @strawberry.field
    def computed(self) -> int:
        return self.count + 1

    @strawberry.field
    async def later(self) -> str:
        return str(self.name).upper()


def _thing(**changes: Any) -> Thing:
    values: dict[str, Any] = {
        "name": "a",
        "label": None,
        "count": Long(5),
        "ratio": 0.25,
        "flag": True,
        "color": Color.RED,
        "broken": "fine",
    }
    values.update(changes)
    return Thing(**values)


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing | None]:
        return [
            _thing(),
            _thing(name="b", label="x", broken=None),  # the non-null error nulls this item
            _thing(ratio=float("nan")),  # Float refuses it: an error at things.2.ratio
            _thing(name=3),  # not a string: String coerces it as graphql-core would
        ]


QUERY = "{ things { later name label count ratio flag color broken computed __typename alias: name } }"


def _run(executor: type[StrawberryGraphQLCoreExecutionContext]) -> dict[str, Any]:
    schema = strawberry.Schema(
        query=Query, config=StrawberryConfig(scalar_map=SCALARS), execution_context_class=executor
    )
    result = asyncio.run(schema.execute(QUERY))
    return {"data": result.data, "errors": [error.formatted for error in result.errors or []]}


def test_inline_leaves_answer_exactly_as_graphql_core_does() -> None:
    ours, theirs = _run(LeafFieldsExecutor), _run(StrawberryGraphQLCoreExecutionContext)
    assert ours == theirs
    assert list(ours["data"]["things"][0]) == [
        "later",
        "name",
        "label",
        "count",
        "ratio",
        "flag",
        "color",
        "broken",
        "computed",
        "__typename",
        "alias",
    ]
    assert ours["data"]["things"][1] is None
    assert {tuple(error["path"]) for error in ours["errors"]} == {("things", 1, "broken"), ("things", 2, "ratio")}


def test_only_plain_attribute_leaves_are_planned() -> None:
    schema = build_schema()._schema
    market = leaf_plans(schema.type_map["Market"])  # type: ignore[arg-type]
    assert {"id", "name", "yesProbability", "volume", "resolvedAt", "winningOutcome"} <= set(market)
    assert not {"pool", "event", "trades", "orderbook", "priceHistory"} & set(market)  # resolvers, objects
    event = leaf_plans(schema.type_map["Event"])  # type: ignore[arg-type]
    assert "name" in event and "status" not in event and "tags" not in event  # a resolver; a list
