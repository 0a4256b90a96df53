"""The schema: each domain exports its Query/Mutation/Subscription parts; this module only merges them."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from predictql.graphql_server.cost import cost_limit
from predictql.graphql_server.direct_resolvers import call_directly
from predictql.graphql_server.errors import DomainErrors
from predictql.graphql_server.idempotency import Idempotency, IdempotencyKeyArgument
from predictql.graphql_server.input_guard import InputGuard, SafeStringLiterals
from predictql.graphql_server.limits import limit_rules
from predictql.graphql_server.operation_metrics import OperationMetrics
from predictql.graphql_server.plain_inputs import build_plain_inputs
from predictql.graphql_server.stream_execution import SharedEventExecutor
from predictql.resolvers.alerts import AlertsMutation, AlertsQuery
from predictql.resolvers.assets import AssetsMutation, AssetsQuery, AssetsSubscription
from predictql.resolvers.auth import AuthMutation, AuthQuery
from predictql.resolvers.backoffice import BackOfficeMutation, BackOfficeQuery, BackOfficeSubscription
from predictql.resolvers.comments import CommentsMutation, CommentsSubscription
from predictql.resolvers.dashboard import DashboardQuery
from predictql.resolvers.events import EventsMutation, EventsQuery
from predictql.resolvers.history import HistoryMutation, HistoryQuery
from predictql.resolvers.money_out import MoneyOutMutation, MoneyOutQuery, MoneyOutSubscription
from predictql.resolvers.my_streams import MyStreamsSubscription
from predictql.resolvers.nodes import NodesQuery
from predictql.resolvers.notifications import NotificationsMutation, NotificationsQuery
from predictql.resolvers.orders import OrdersMutation, OrdersQuery
from predictql.resolvers.p2p import P2PMutation, P2PQuery, P2PSubscription
from predictql.resolvers.subscriptions import LiveSubscription
from predictql.resolvers.support_chat import SupportChatMutation, SupportChatQuery, SupportChatSubscription
from predictql.resolvers.trading import TradingMutation, TradingQuery
from predictql.resolvers.users import UsersMutation, UsersQuery
from predictql.schema.scalars import SCALARS
from predictql.settings import Settings

QUERIES = (
    NodesQuery,
    AuthQuery,
    UsersQuery,
    EventsQuery,
    TradingQuery,
    OrdersQuery,
    NotificationsQuery,
    HistoryQuery,
    MoneyOutQuery,
    BackOfficeQuery,
    SupportChatQuery,
    AlertsQuery,
    P2PQuery,
    AssetsQuery,
    DashboardQuery,
)
MUTATIONS = (
    AuthMutation,
    UsersMutation,
    EventsMutation,
    TradingMutation,
    OrdersMutation,
    NotificationsMutation,
    HistoryMutation,
    MoneyOutMutation,
    BackOfficeMutation,
    SupportChatMutation,
    CommentsMutation,
    AlertsMutation,
    P2PMutation,
    AssetsMutation,
)
SUBSCRIPTIONS = (
    LiveSubscription,
    MyStreamsSubscription,
    MoneyOutSubscription,
    BackOfficeSubscription,
    SupportChatSubscription,
    CommentsSubscription,
    P2PSubscription,
    AssetsSubscription,
)
Query = merge_types("Query", QUERIES)
Mutation = merge_types("Mutation", MUTATIONS)
Subscription = merge_types("Subscription", SUBSCRIPTIONS)
# Every mutation takes an optional idempotencyKey (see graphql_server/idempotency.py).
for _field in Mutation.__strawberry_definition__.fields:  # type: ignore[attr-defined]
    _field.extensions.append(IdempotencyKeyArgument())
# merge_types takes no description; the root types get theirs here.
Query.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Reads: the feed, events, markets, the caller's account and history."
)
Mutation.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Writes, each in one transaction; every mutation takes an optional idempotencyKey."
)
Subscription.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Live streams over graphql-ws: every message is { kind seq data }, resumable with fromSeq."
)


class PredictSchema(strawberry.Schema):
    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """Unexpected errors are logged (with the request id) by ``DomainErrors``; expected ones are data.

        Errors raised before the operation hook (syntax, token limit) never pass ``DomainErrors``:
        they still get a code here.
        """
        for error in errors or ():
            if isinstance(error, GraphQLError) and "code" not in (error.extensions or {}):
                code = "GRAPHQL_PARSE_FAILED" if isinstance(error, GraphQLSyntaxError) else "GRAPHQL_VALIDATION_FAILED"
                error.extensions = {**(error.extensions or {}), "code": code}


def build_schema(settings: Settings | None = None, *, traced: type[SchemaExtension] | None = None) -> strawberry.Schema:
    """``traced``: the OpenTelemetry extension when tracing is on (``predictql.tracing``), else nothing."""
    settings = settings or Settings()
    # Built once: the same rule classes on every request keep ValidationCache keys stable.
    rules: list[Any] = [*limit_rules(settings), SafeStringLiterals]
    schema = PredictSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            OperationMetrics,  # first: it times the others and reads the final error codes
            *([traced] if traced is not None else []),  # the operation span encloses the rest
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            lambda: AddValidationRules(rules),
            # Both caches live at module level in Strawberry, keyed by size: per-request
            # extension objects still share them.
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            InputGuard,
            cost_limit(settings.graphql_max_cost),  # after validation: it needs the document valid
            Idempotency,
            DomainErrors,
        ],
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=SharedEventExecutor,  # one execution per event, not per subscriber
    )
    call_directly(schema)  # plain ``def`` resolvers of (self, info) without Strawberry's wrapper
    build_plain_inputs(schema)  # inputs of scalars and enums built in one call (plain_inputs)
    return schema
