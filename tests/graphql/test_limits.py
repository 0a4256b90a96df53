"""GraphQL static limits: depth, aliases, cost, introspection, and the parser/validation caches."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.extensions.max_aliases import create_validator as strawberry_aliases
from strawberry.extensions.parser_cache import _get_parse_cache
from strawberry.extensions.query_depth_limiter import create_validator as strawberry_depth
from strawberry.extensions.validation_cache import _get_validate_cache

from predictql.db import Database
from predictql.graphql_server import cost, limits
from predictql.graphql_server.root import build_schema
from predictql.settings import Settings
from tests.conftest import JWT_SECRET, make_settings
from tests.support import gql, lifespan_client

DEEP_MUTATION = 'mutation { createApiToken(input: {name: "x"}) { apiToken { id } } }'  # depth 2, valid fields


@asynccontextmanager
async def app_with(database_url: str, data_dir: Path, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with lifespan_client(make_settings(database_url, data_dir, **overrides)) as http:
        yield http


AppWith = Callable[..., Any]


@pytest.fixture
def custom(database_url: str, data_dir: Path, db: Database) -> AppWith:
    return lambda **overrides: app_with(database_url, data_dir, **overrides)


def rejected(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A request refused before execution: no data, and every error carries a code."""
    assert body.get("data") is None, body
    errors: list[dict[str, Any]] = body["errors"]
    assert errors and all(error["extensions"]["code"] for error in errors), body
    return errors


# --- through the app -----------------------------------------------------------------------------


async def test_depth_limit(custom: AppWith, client: httpx.AsyncClient) -> None:
    allowed = await gql(client, DEEP_MUTATION)  # passes validation, then needs a sign-in
    assert allowed["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"

    nested = "{ me { " + "a { " * 13 + "id" + " }" * 15
    errors = rejected(await gql(client, nested))
    assert any("depth" in error["message"] for error in errors), errors

    async with custom(graphql_max_depth=1) as http:
        errors = rejected(await gql(http, DEEP_MUTATION))
        assert len(errors) == 1 and "depth" in errors[0]["message"]
        assert (await gql(http, "{ me { id } }")) == {"data": {"me": None}}


async def test_alias_limit(client: httpx.AsyncClient) -> None:
    def aliased(count: int) -> str:
        return "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(count)) + " }"

    assert (await gql(client, aliased(30)))["data"] == {f"a{i}": None for i in range(30)}
    errors = rejected(await gql(client, aliased(31)))
    assert any("aliases" in error["message"] for error in errors), errors


async def test_cost_limit(custom: AppWith) -> None:
    async with custom(graphql_max_cost=5) as http:
        assert (await gql(http, "{ me { id name email nickname } }")) == {"data": {"me": None}}  # cost 5
        errors = rejected(await gql(http, "{ me { id name email nickname level } }"))  # cost 6
        assert [error["extensions"]["code"] for error in errors] == ["QUERY_TOO_COSTLY"]
        assert "6" in errors[0]["message"] and "5" in errors[0]["message"]


async def test_introspection_on_by_default_and_off_when_configured(custom: AppWith, client: httpx.AsyncClient) -> None:
    query = "{ __schema { queryType { name } } }"
    assert (await gql(client, query)) == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    async with custom(graphql_introspection=False) as http:
        errors = rejected(await gql(http, query))
        assert "introspection" in errors[0]["message"].lower()
        rejected(await gql(http, '{ __type(name: "User") { name } }'))
        assert (await gql(http, "{ __typename }")) == {"data": {"__typename": "Query"}}


async def test_syntax_errors_carry_a_code(client: httpx.AsyncClient) -> None:
    rejected(await gql(client, "{ me { id }"))


# --- caches --------------------------------------------------------------------------------------


def _schema() -> Any:
    return build_schema(Settings(jwt_secret=JWT_SECRET, environment="test"))


def test_parser_and_validation_caches_are_configured() -> None:
    schema = _schema()
    made = [factory() if not isinstance(factory, type) else factory for factory in schema.extensions]
    kinds = {type(extension) for extension in made}
    assert ParserCache in kinds and ValidationCache in kinds


async def test_parser_cache_hits_on_a_repeated_query() -> None:
    schema = _schema()
    query = "{ __typename parserCacheProbe: __typename }"
    await schema.execute(query)
    before = _get_parse_cache(512).cache_info().hits
    assert (await schema.execute(query)).data == {"__typename": "Query", "parserCacheProbe": "Query"}
    assert _get_parse_cache(512).cache_info().hits > before


async def test_validation_cache_hits_on_a_repeated_query() -> None:
    schema = _schema()
    query = "{ __typename validationCacheProbe: __typename }"
    await schema.execute(query)
    before = _get_validate_cache(512).cache_info().hits
    await schema.execute(query)
    assert _get_validate_cache(512).cache_info().hits > before


# --- the rules themselves ------------------------------------------------------------------------

LIST_SDL = """
type Query { items(first: Int, limit: Int): [Item!]! item: Item }
type Item { id: ID! name: String children(limit: Int): [Item!]! }
"""


def _errors(query: str, *rules: type[graphql.ValidationRule], sdl: str = LIST_SDL) -> list[graphql.GraphQLError]:
    return list(graphql.validate(graphql.build_schema(sdl), graphql.parse(query), list(rules)))


def _cost(query: str, variables: dict[str, Any] | None = None, sdl: str = LIST_SDL) -> int:
    return cost.query_cost(graphql.build_schema(sdl), graphql.parse(query), variables)


def test_cost_multiplies_by_page_sizes() -> None:
    assert _cost("{ item { id } }") == 2
    assert _cost("{ items(first: 10) { id children(limit: 5) { id } } }") == 1 + 10 * (1 + (1 + 5 * 1))
    assert _cost("{ items(first: 0) { id } }") == 2  # at least one row
    with_fragments = "{ items(limit: 3) { ...F ... on Item { name } } } fragment F on Item { id name }"
    assert _cost(with_fragments) == 1 + 3 * 3


def test_cost_prices_variables_by_their_values() -> None:
    query = "query($n: Int) { items(first: $n) { id } }"
    assert _cost(query, {"n": 100}) == 1 + 100
    assert _cost(query, {"n": 3}) == 1 + 3
    assert _cost("query($n: Int = 7) { items(first: $n) { id } }") == 1 + 7  # the variable's default
    assert _cost(query) == 1 + cost.UNPAGED  # no value: an unpaged list's estimate
    assert _cost(query, {"n": "100"}) == 1 + cost.UNPAGED  # not an Int: coercion refuses it later


UNPAGED_SDL = """
type Query { feed(first: Int = 20): Page! all: [Item!]! book(depth: Int = 50): Book! tags: [String!]! }
type Page { edges: [Item!]! total: Int }
type Book { bids: [Item!]! asks: [Item!]! }
type Item { id: ID! children: [Item!]! }
"""


def test_cost_sizes_unpaged_lists_and_connections() -> None:
    # The page argument (or its schema default) sizes the list inside the connection.
    assert _cost("{ feed { edges { id } total } }", sdl=UNPAGED_SDL) == 1 + (1 + 20 * 1) + 1
    assert _cost("query($n: Int) { feed(first: $n) { edges { id } } }", {"n": 50}, UNPAGED_SDL) == 2 + 50
    # depth sizes each side of the book; an unpaged list of objects gets an estimate ...
    assert _cost("{ book(depth: 10) { bids { id } asks { id } } }", sdl=UNPAGED_SDL) == 1 + 2 * (1 + 10)
    assert _cost("{ all { id children { id } } }", sdl=UNPAGED_SDL) == 1 + cost.UNPAGED * (1 + 1 + cost.UNPAGED)
    # ... and a list of scalars costs one field
    assert _cost("{ tags }", sdl=UNPAGED_SDL) == 1


def test_cost_of_the_operation_that_runs() -> None:
    document = "query Small { item { id } } query Big { items(first: 50) { id } }"
    assert _cost(document) == 51
    schema, parsed = graphql.build_schema(LIST_SDL), graphql.parse(document)
    assert cost.query_cost(schema, parsed, None, "Small") == 2


EVENT_FIELDS = "id name nameRu status tags createdAt totalVolume"


async def test_variables_cannot_lift_the_cost_limit(client: httpx.AsyncClient) -> None:
    """30 aliases of ``events(first: $n)``: priced with n as sent, the same as the literal."""

    def aliased(first: str) -> str:
        body = " ".join(f"a{i}: events(first: {first}) {{ edges {{ node {{ {EVENT_FIELDS} }} }} }}" for i in range(30))
        return "query($n: Int!) { " + body + " }"

    literal = rejected(await gql(client, aliased("100").replace("query($n: Int!) ", "")))
    assert [error["extensions"]["code"] for error in literal] == ["QUERY_TOO_COSTLY"]
    errors = rejected(await gql(client, aliased("$n"), {"n": 100}))
    assert [error["extensions"]["code"] for error in errors] == ["QUERY_TOO_COSTLY"]
    assert errors[0]["message"] == literal[0]["message"]
    small = await gql(client, aliased("$n"), {"n": 5})
    assert "errors" not in small and len(small["data"]) == 30


async def test_cost_limit_holds_for_subscriptions() -> None:
    """The same check runs before a subscription starts (here through the schema in process)."""
    schema = build_schema(Settings(jwt_secret=JWT_SECRET, environment="test", graphql_max_cost=50))
    query = "subscription($d: Int!) { orderbook(marketId: 1, depth: $d) { seq data { bids { price } } } }"
    stream = await schema.subscribe(query, variable_values={"d": 100})
    assert isinstance(stream, AsyncIterator)
    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert first.errors and [error.extensions for error in first.errors] == [{"code": "QUERY_TOO_COSTLY"}]
    assert "104" in first.errors[0].message  # orderbook + seq + data + bids (1 + 100 prices)


def test_fragment_fan_out_is_measured_in_linear_time() -> None:
    """Each fragment spreads the next twice: 2**n fields if re-walked at every spread."""
    n = 24
    fragments = " ".join(f"fragment F{i} on Item {{ a{i}: id ...F{i + 1} ...F{i + 1} }}" for i in range(n))
    query = "{ item { ...F0 } } " + fragments + f" fragment F{n} on Item {{ id }}"
    rules = (limits.alias_limit_rule(30), limits.depth_limit_rule(12))
    started = time.perf_counter()
    errors = _errors(query, *rules)
    assert _cost(query) == 2 ** (n + 1)  # the fields a full walk would count
    assert time.perf_counter() - started < 2.0
    codes = {error.extensions["code"]: error.message for error in errors if error.extensions}
    assert set(codes) == {"TOO_MANY_ALIASES"}
    assert str(2**n - 1) in codes["TOO_MANY_ALIASES"]  # the same count a full walk would find


def test_fragment_cycles_do_not_loop() -> None:
    query = "{ item { ...A } } fragment A on Item { id ...B } fragment B on Item { name ...A }"
    errors = _errors(query, limits.depth_limit_rule(5), limits.alias_limit_rule(5))
    assert not [error for error in errors if error.extensions]
    assert _cost(query) < 10


@pytest.mark.parametrize(
    "query",
    [
        "{ item { id } }",
        "{ item { children { children { id } } } }",
        "{ items { children { children { children { id } } } } }",
        "{ item { ...F } } fragment F on Item { children { ... on Item { children { id } } } }",
        "{ __schema { types { fields { type { ofType { name } } } } } }",
        "{ item { __typename children { id } } }",
        "{ a: item { b: id } c: items { d: id e: children { id } } }",
        "{ a: item { ...F } b: item { ...F } } fragment F on Item { x: id y: name }",
    ],
)
def test_depth_and_alias_rules_agree_with_strawberry(query: str) -> None:
    for limit in range(5):
        ours = bool(_errors(query, limits.depth_limit_rule(limit)))
        theirs = bool(_errors(query, strawberry_depth(limit, None, None)))
        assert ours == theirs, ("depth", limit)
        ours = bool(_errors(query, limits.alias_limit_rule(limit)))
        theirs = bool(_errors(query, strawberry_aliases(limit)))
        assert ours == theirs, ("aliases", limit)


def test_limit_rules_follow_settings() -> None:
    on = limits.limit_rules(Settings(jwt_secret=JWT_SECRET, environment="test"))
    off = limits.limit_rules(Settings(jwt_secret=JWT_SECRET, environment="test", graphql_introspection=False))
    assert len(on) == 2 and len(off) == 3
    assert _errors("{ __schema { queryType { name } } }", *off)
    assert not _errors("{ __schema { queryType { name } } }", *on)
