"""Cache scopes of fields, in the manner of Apollo's cache-control: PUBLIC (the same for everyone)
or PRIVATE (depends on who asks). Decided here, once, for the whole schema.

An operation whose every selected field is PUBLIC may be answered from the shared response cache
(``response_cache``) whoever calls it; one field that is PRIVATE and the operation is never shared.

How a field's scope is decided, first match wins:

1. the ``@cacheControl(scope: ...)`` directive on the field (``directives=[cache_control(...)]`` in
   ``strawberry.field``): how a new field declares itself;
2. ``FIELD_SCOPES`` below, by ``(type, field)``; every root ``Query`` field must be listed there or
   carry the directive (``tests/graphql/test_cache_control.py`` fails otherwise); an undecided root
   field is PRIVATE;
3. PRIVATE when the field is named ``me`` or ``my...``, or when the field's or its type's description
   says "caller" or "self only" (the schema's words for viewer-dependent data);
4. otherwise PUBLIC (market data).

Shared entries are always computed as an anonymous caller (``response_cache``), so a field wrongly
left PUBLIC can at worst show a signed-in caller the public value, never another user's data.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from enum import Enum

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    parse,
    visit,
)
from strawberry.schema_directive import Location


@strawberry.enum(description="Who may share a field's value (cache-control scope).")
class CacheScope(Enum):
    PUBLIC = strawberry.enum_value("public", description="The same for every caller: may be shared.")
    PRIVATE = strawberry.enum_value("private", description="Depends on the caller: never shared.")


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="cacheControl",
    description="Whether a field's value is the same for every caller (PUBLIC) or depends on the caller.",
)
class CacheControl:
    scope: CacheScope


def cache_control(scope: CacheScope) -> CacheControl:
    """For ``strawberry.field(directives=[cache_control(CacheScope.PRIVATE)])``."""
    return CacheControl(scope=scope)


PUBLIC, PRIVATE = CacheScope.PUBLIC, CacheScope.PRIVATE

# Root fields: every one decided (a test checks). Public ones that may hide things from some callers
# (a hidden event, another user's order by node id) answer null to an anonymous caller: a signed-in
# caller then gets their own execution (``response_cache``).
FIELD_SCOPES: dict[tuple[str, str], CacheScope] = {
    ("Query", "node"): PUBLIC,
    ("Query", "nodes"): PUBLIC,
    ("Query", "event"): PUBLIC,
    ("Query", "pool"): PUBLIC,
    ("Query", "market"): PUBLIC,
    ("Query", "user"): PUBLIC,
    ("Query", "events"): PUBLIC,
    ("Query", "lmsrPreview"): PUBLIC,
    ("Query", "trades"): PUBLIC,
    ("Query", "latestTrades"): PUBLIC,
    ("Query", "pnlChart"): PUBLIC,
    ("Query", "orderbook"): PUBLIC,
    ("Query", "leaderboard"): PUBLIC,
    ("Query", "markets"): PUBLIC,
    ("Query", "assetTimeframes"): PUBLIC,
    # Money in and out, support chat, alerts, P2P, assets: public reference data and listings; the
    # caller's own rows and the back office are private.
    ("Query", "cardLimits"): PUBLIC,
    ("Query", "withdrawalNetworks"): PUBLIC,
    ("Query", "p2pAds"): PUBLIC,
    ("Query", "p2pAd"): PUBLIC,
    ("Query", "assetPrice"): PUBLIC,
    ("Query", "currencyRate"): PUBLIC,
    ("Query", "myCardOrders"): PRIVATE,
    ("Query", "cardOrderMessages"): PRIVATE,
    ("Query", "myWithdrawals"): PRIVATE,
    ("Query", "pendingWithdrawal"): PRIVATE,
    ("Query", "backOfficeCardOrders"): PRIVATE,
    ("Query", "backOfficeWithdrawals"): PRIVATE,
    ("Query", "auditLog"): PRIVATE,
    ("Query", "supportChat"): PRIVATE,
    ("Query", "supportChatSessions"): PRIVATE,
    ("Query", "supportChatSession"): PRIVATE,
    ("Query", "myAlerts"): PRIVATE,
    ("Query", "myAlertFirings"): PRIVATE,
    ("Query", "myP2POrders"): PRIVATE,
    ("Query", "p2pOrder"): PRIVATE,
    ("Query", "p2pOrderMessages"): PRIVATE,
    ("Query", "p2pDisputes"): PRIVATE,
    ("Query", "p2pAdsForModeration"): PRIVATE,
    ("Query", "operatorDashboard"): PRIVATE,
    ("Query", "me"): PRIVATE,
    ("Query", "apiTokens"): PRIVATE,
    ("Query", "myTransactions"): PRIVATE,
    ("Query", "myEvents"): PRIVATE,
    ("Query", "myPositions"): PRIVATE,
    ("Query", "myCompletedPositions"): PRIVATE,
    ("Query", "myReferralInfo"): PRIVATE,
    ("Query", "myReferralChildren"): PRIVATE,
    ("Query", "myPnlChart"): PRIVATE,
    ("Query", "myOrders"): PRIVATE,
    ("Query", "myTrades"): PRIVATE,
    ("Query", "myWatchlist"): PRIVATE,
    ("Query", "notifications"): PRIVATE,
    ("Query", "unreadNotificationCount"): PRIVATE,
    ("Query", "unreadNotifications"): PRIVATE,
    ("Query", "portfolioHistory"): PRIVATE,
    # Viewer-dependent fields of public types.
    ("Market", "isWatched"): PRIVATE,
    ("Event", "isWatched"): PRIVATE,
}

_MINE = re.compile(r"^(me|my[A-Z0-9_].*)$")
_VIEWER_WORDS = re.compile(r"caller|self only", re.IGNORECASE)


def _directive_scope(field: GraphQLField) -> CacheScope | None:
    definition = (field.extensions or {}).get("strawberry-definition")
    for directive in getattr(definition, "directives", None) or ():
        if isinstance(directive, CacheControl):
            return directive.scope
    return None


def declared_scope(parent: str, name: str, field: GraphQLField) -> CacheScope | None:
    """The scope given by the directive or the table, None when neither decides."""
    return _directive_scope(field) or FIELD_SCOPES.get((parent, name))


def field_scope(parent: GraphQLNamedType, name: str, field: GraphQLField) -> CacheScope:
    if name.startswith("__"):
        return PUBLIC  # __typename, introspection: the schema is the same for everyone
    declared = declared_scope(parent.name, name, field)
    if declared is not None:
        return declared
    if parent.name == "Query":
        return PRIVATE  # undecided root field: the safe default
    if _MINE.match(name) or _VIEWER_WORDS.search(field.description or ""):
        return PRIVATE
    if _VIEWER_WORDS.search(get_named_type(field.type).description or ""):
        return PRIVATE
    return PUBLIC


class _Private(Exception):
    pass


class _Scan(Visitor):
    def __init__(self, info: TypeInfo) -> None:
        super().__init__()
        self.info = info

    def enter_field(self, node: FieldNode, *_: object) -> None:
        parent = self.info.get_parent_type()
        field = self.info.get_field_def()
        name = node.name.value
        if name.startswith("__"):
            return
        if parent is None or field is None:
            raise _Private  # unknown to the schema: the operation fails validation anyway
        if field_scope(parent, name, field) is PRIVATE:
            raise _Private


def document_scope(schema: GraphQLSchema, document: DocumentNode) -> CacheScope:
    """PUBLIC when every field the document selects (all its operations and fragments) is PUBLIC."""
    info = TypeInfo(schema)
    try:
        visit(document, TypeInfoVisitor(info, _Scan(info)))
    except _Private:
        return PRIVATE
    return PUBLIC


class ScopeCache:
    """Scopes of the documents seen lately (the text is the key: the analysis runs once per text)."""

    def __init__(self, schema: GraphQLSchema, size: int = 512) -> None:
        self.schema = schema
        self.size = size
        self._scopes: OrderedDict[str, CacheScope] = OrderedDict()

    def scope(self, query: str) -> CacheScope:
        known = self._scopes.get(query)
        if known is not None:
            self._scopes.move_to_end(query)
            return known
        try:
            scope = document_scope(self.schema, parse(query))
        except GraphQLError:
            scope = PRIVATE  # does not parse: executed (and refused) like any other
        self._scopes[query] = scope
        while len(self._scopes) > self.size:
            self._scopes.popitem(last=False)
        return scope
