"""Cache scopes: every root field decided, and what makes an operation PUBLIC or PRIVATE."""

from __future__ import annotations

import strawberry
from graphql import GraphQLSchema

from predictql.graphql_server.cache_control import (
    PRIVATE,
    PUBLIC,
    CacheScope,
    ScopeCache,
    cache_control,
    declared_scope,
)
from predictql.graphql_server.root import build_schema
from predictql.settings import Settings
from tests.conftest import JWT_SECRET

FEED = (
    "{ events(first: 20) { edges { node { id name status pools { id name markets "
    "{ id name yesProbability volume } } } } pageInfo { hasNextPage endCursor } } }"
)


def _schema() -> GraphQLSchema:
    return build_schema(Settings(jwt_secret=JWT_SECRET))._schema


def test_every_root_query_field_has_a_decided_scope() -> None:
    """A new root field must say whether it may be shared: FIELD_SCOPES or @cacheControl."""
    query = _schema().query_type
    assert query is not None
    undecided = [name for name, field in query.fields.items() if declared_scope("Query", name, field) is None]
    assert undecided == [], f"add these to cache_control.FIELD_SCOPES (PUBLIC or PRIVATE): {undecided}"


def test_operation_scopes() -> None:
    scopes = ScopeCache(_schema())
    assert scopes.scope(FEED) is PUBLIC
    assert scopes.scope("{ __typename }") is PUBLIC
    assert scopes.scope("query M($id: ID!) { market(id: $id) { id yesPrice volume } }") is PUBLIC
    assert scopes.scope("{ me { id } }") is PRIVATE
    assert scopes.scope("query M($id: ID!) { market(id: $id) { id } me { id } }") is PRIVATE
    assert scopes.scope("{ myOrders { edges { node { id } } } }") is PRIVATE
    # Viewer-dependent fields of public types, named in a fragment or not.
    assert scopes.scope("query M($id: ID!) { market(id: $id) { ...F } } fragment F on Market { isWatched }") is PRIVATE
    assert scopes.scope('{ user(id: "usr_1") { id balance } }') is PRIVATE
    assert scopes.scope('{ user(id: "usr_1") { id } }') is PUBLIC
    # Not GraphQL, or unknown fields: never shared (the execution refuses them).
    assert scopes.scope("{ nope }") is PRIVATE
    assert scopes.scope("{") is PRIVATE


def test_the_directive_decides_a_new_field() -> None:
    @strawberry.type(description="A root.")
    class Query:
        @strawberry.field(description="Undecided.")
        def plain(self) -> int:
            return 1

        @strawberry.field(description="Declared public.", directives=[cache_control(CacheScope.PUBLIC)])
        def shared(self) -> int:
            return 1

        @strawberry.field(description="Declared private.", directives=[cache_control(CacheScope.PRIVATE)])
        def mine(self) -> int:
            return 1

    schema = strawberry.Schema(query=Query)
    scopes = ScopeCache(schema._schema)
    assert scopes.scope("{ shared }") is PUBLIC
    assert scopes.scope("{ mine }") is PRIVATE
    assert scopes.scope("{ plain }") is PRIVATE  # an undecided root field is never shared
    assert "@cacheControl(scope: PRIVATE)" in schema.as_str()
