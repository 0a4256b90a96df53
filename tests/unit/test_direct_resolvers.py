"""``graphql_server/direct_resolvers.py``: a plain ``def`` resolver of (self, info) called directly
answers what Strawberry's wrapper answers (values, ``info``, errors and their paths); anything with
arguments, an extension, ``async`` or a ``root`` parameter keeps Strawberry's resolver."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension

from predictql.graphql_server.direct_resolvers import call_directly
from predictql.graphql_server.root import build_schema
from predictql.settings import Settings


class Upper(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        return str(next_(source, info, **kwargs)).upper()


@strawberry.type
class Item:
    name: str

    @strawberry.field
    def label(self, info: strawberry.Info) -> str:
        return f"{self.name}@{info.path.key}:{info.context['tag']}:{info.field_name}"

    @strawberry.field
    def plain(self) -> int:
        return len(self.name)

    @strawberry.field
    def broken(self, info: strawberry.Info) -> str | None:
        raise ValueError(f"no {self.name}")

    @strawberry.field
    def with_argument(self, times: int = 2) -> str:
        return self.name * times

    @strawberry.field
    async def later(self) -> str:
        return self.name

    @strawberry.field(extensions=[Upper()])
    def shouted(self) -> str:
        return self.name

    @strawberry.field
    def rooted(self, root: Any) -> str:
        return str(root is self)


@strawberry.type
class Query:
    @strawberry.field
    def items(self, info: strawberry.Info) -> list[Item]:
        return [Item(name="a"), Item(name="bb")]


QUERY = "{ items { name label plain broken withArgument(times: 3) later shouted rooted } }"


def _run(schema: strawberry.Schema) -> Any:
    result = asyncio.run(schema.execute(QUERY, context_value={"tag": "t"}))
    return result.data, [(error.message, error.path) for error in result.errors or []]


def test_direct_calls_answer_what_strawberry_answers() -> None:
    wrapped, direct = strawberry.Schema(query=Query), strawberry.Schema(query=Query)
    assert sorted(call_directly(direct)) == ["Item.broken", "Item.label", "Item.plain", "Query.items"]
    data, errors = _run(direct)
    assert (data, errors) == _run(wrapped)
    assert data["items"][0]["label"] == "a@label:t:label" and data["items"][1]["shouted"] == "BB"
    assert errors == [("no a", ["items", 0, "broken"]), ("no bb", ["items", 1, "broken"])]


def test_the_feed_resolvers_are_called_directly() -> None:
    schema = build_schema(Settings())
    assert call_directly(schema) == []  # already done by build_schema, once
    fields = schema._schema.type_map

    def name(type_name: str, field: str) -> str:
        return getattr(fields[type_name].fields[field].resolve, "__name__", "")  # type: ignore[attr-defined]

    assert {name("Event", "status"), name("Event", "pools"), name("Pool", "markets")} == {"resolve"}
    assert name("Event", "totalVolume") != "resolve"  # async
    assert name("Market", "orderbook") != "resolve"  # arguments
