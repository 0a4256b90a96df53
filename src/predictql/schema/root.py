"""The schema: each domain exports its Query/Mutation parts; this module only merges them."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from predictql.resolvers.auth import AuthMutation, AuthQuery
from predictql.resolvers.users import UsersMutation, UsersQuery
from predictql.schema.errors import DomainErrors
from predictql.schema.limits import cost_limit_rule
from predictql.schema.scalars import SCALARS
from predictql.settings import Settings

Query = merge_types("Query", (AuthQuery, UsersQuery))
Mutation = merge_types("Mutation", (AuthMutation, UsersMutation))


class PredictSchema(strawberry.Schema):
    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """Unexpected errors are logged (with the request id) by ``DomainErrors``; expected ones are data."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    rules: list[Any] = [cost_limit_rule(settings.graphql_max_cost)]
    if not settings.graphql_introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return PredictSchema(
        query=Query,
        mutation=Mutation,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            lambda: AddValidationRules(rules),
            # Both caches live at module level in Strawberry, keyed by size: per-request
            # extension objects still share them.
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            DomainErrors,
        ],
        config=StrawberryConfig(scalar_map=SCALARS),
    )
