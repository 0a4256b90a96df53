"""Resolvers that take nothing but the object and ``info`` are called directly, not through
Strawberry's per-call pipeline.

Strawberry runs every resolver field through one wrapper (``GraphQLCoreConverter.from_resolver``):
it builds the Strawberry ``Info``, converts the arguments (``get_arguments``/``convert_arguments``),
applies field extensions and exception handlers, then calls ``StrawberryField.get_result``, which
calls the resolver. For a plain ``def`` resolver with no arguments, no field extension (the
permission classes are one) and no exception handler, all of that ends in
``resolver(source, info=Info(...))``: the feed's ``Event.status``, ``Event.pools`` and
``Pool.markets``, 80 calls per 20-event page, where the wrapper cost more than the resolvers
(``bench/RESULTS.md``, "The executed feed at 2x: Core rows").

``call_directly`` replaces such a field's graphql-core resolver by that call (same arguments, same
``Info``, same result or exception; graphql-core's middleware, such as the tracing extension's,
still wraps it). Anything else keeps Strawberry's resolver: ``async def`` resolvers, arguments,
extensions, a ``root``/``parent`` parameter, or a schema with exception handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType
from strawberry.types.field import StrawberryField

STRAWBERRY_SYNC_RESOLVER = "_resolver"  # from_resolver's wrapper of a plain ``def`` resolver


def call_directly(schema: strawberry.Schema) -> list[str]:
    """Rewire the qualifying fields of ``schema``; returns them as ``Type.field`` (for tests)."""
    converter = schema.schema_converter
    if getattr(converter, "_exception_handler_specs", None):
        return []
    info_class = schema.config.info_class
    rewired: list[str] = []
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for name, field in graphql_type.fields.items():
            definition = (field.extensions or {}).get("strawberry-definition")
            if getattr(field.resolve, "__name__", None) != STRAWBERRY_SYNC_RESOLVER:
                continue
            direct = _direct(definition, info_class)
            if direct is not None:
                field.resolve = direct
                rewired.append(f"{graphql_type.name}.{name}")
    return rewired


def _direct(definition: Any, info_class: type) -> Callable[[Any, Any], Any] | None:
    if not isinstance(definition, StrawberryField) or definition.base_resolver is None:
        return None
    resolver = definition.base_resolver
    if definition.is_async or definition.is_subscription or definition.arguments or definition.extensions:
        return None
    if resolver.arguments or resolver.parent_parameter or resolver.root_parameter or resolver.self_parameter is None:
        return None
    function = resolver.wrapped_func
    if not callable(function):
        return None
    info_parameter = resolver.info_parameter
    if info_parameter is None:

        def resolve_without_info(source: Any, info: Any) -> Any:
            return function(source)

        return resolve_without_info
    info_name = info_parameter.name

    def resolve(source: Any, info: Any) -> Any:
        return function(source, **{info_name: info_class(_raw_info=info, _field=definition)})

    return resolve
