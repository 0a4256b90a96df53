"""Plain leaf fields are completed inline, without graphql-core's per-field machinery.

Most fields of a read are plain attributes of a Strawberry object holding a string or a number:
the 20-event feed (``bench/bench_http.py``) selects ~700 fields, ~600 of them like that. For each,
graphql-core builds a response ``Path``, Strawberry's resolve info (a 14-field tuple and the list
of field nodes), looks the arguments up, calls Strawberry's basic resolver (``getattr``), asks
whether the value is awaitable, then completes it through ``complete_value`` (non-null, list,
leaf) before coercing it: most of the executed feed's CPU (``bench/RESULTS.md``, "The executed feed
without the cache").

``LeafFieldsExecutor.execute_fields`` reads such a field directly and coerces it with the same
``coerce_output_value`` graphql-core would call. A field qualifies (``leaf_plans``, once per object
type) when Strawberry resolves it with its basic resolver (no resolver function, no field
extension, no permission class: ``_get_basic_result``, which calls the config's default resolver,
``getattr``), takes no arguments and has a scalar or enum type, nullable or not, not a list. Only
values of the plain classes (``str``, ``int``, ``float``, ``bool``) and ``None`` of a nullable field
take the short path; anything else (a null for a non-null field, an ``Exception``, an awaitable, a
value the scalar refuses) goes through ``execute_field`` as before, which produces the same value
or the same located error. Any schema extension with a per-field ``resolve`` hook (middleware,
such as the tracing extension) turns the short path off for the operation: every field must pass
through the hook then.

A field of a ``RowFields`` object built with ``lazy`` (the feed's events, pools and markets) is not
on the instance until read: the plan carries the field's function of the row, and the short path
calls it directly rather than through the field's descriptor (which also stores the value on the
instance); a value already on the instance (``from_row``, or read before) is used as it is.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    Undefined,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

from predictql.schema.row_fields import Fields, RowFields

# (python attribute, leaf type, nullable, the field's function of the row for a RowFields type)
LeafPlan = tuple[str, GraphQLLeafType, bool, Callable[[Any], Any] | None]
PLAIN = frozenset({str, int, float, bool})
BASIC_RESOLVER = "_get_basic_result"  # Strawberry's resolver for a field that only reads an attribute

_plans: dict[GraphQLObjectType, dict[str, LeafPlan]] = {}


def _plan(field: GraphQLField, fields: Fields) -> LeafPlan | None:
    definition = (field.extensions or {}).get("strawberry-definition")
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    if getattr(field.resolve, "__name__", None) != BASIC_RESOLVER or definition.default_resolver is not getattr:
        return None
    if field.args:
        return None
    kind: Any = field.type
    nullable = not isinstance(kind, GraphQLNonNull)
    if not nullable:
        kind = kind.of_type
    if not isinstance(kind, GraphQLScalarType | GraphQLEnumType):
        return None
    return definition.python_name, kind, nullable, fields.get(definition.python_name)


def leaf_plans(parent_type: GraphQLObjectType) -> dict[str, LeafPlan]:
    """The fields of ``parent_type`` completed inline, by GraphQL name (computed once per type)."""
    plans = _plans.get(parent_type)
    if plans is None:
        plans = {}
        definition = (parent_type.extensions or {}).get("strawberry-definition")
        origin = getattr(definition, "origin", None)
        fields = origin.FIELDS if isinstance(origin, type) and issubclass(origin, RowFields) else {}
        for name, field in parent_type.fields.items():
            plan = _plan(field, fields)
            if plan is not None:
                plans[name] = plan
        _plans[parent_type] = plans
    return plans


class LeafFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # graphql-core's helpers are bound methods of the executor, kept on it: a reference cycle
        # (executor -> helpers -> method -> executor) that holds the whole request (the context,
        # Starlette's request and response, the collected fields: ~95 objects for an lmsrTrade) until
        # the cyclic GC finds it. Reached through a weak reference instead, it is freed when the
        # execution ends (bench/RESULTS.md, branch httpcost).
        self.async_helpers = _weak_helpers(weakref.ref(self))

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core 3.3's ``execute_fields`` (same results, same order, same error handling),
        with plain leaf fields completed inline."""
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        plans = leaf_plans(parent_type)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                plan = plans.get(field_details_list[0].node.name.value)
                if plan is not None:
                    attribute, leaf, nullable, make = plan
                    if make is not None and isinstance(source_value, RowFields):
                        value = source_value.__dict__.get(attribute, Undefined)
                        if value is Undefined:
                            value = make(source_value.__dict__["row"])
                    else:
                        value = getattr(source_value, attribute, Undefined)
                    if value is None:
                        if nullable:
                            results[response_name] = None
                            continue
                    elif value.__class__ in PLAIN:
                        try:
                            coerced = leaf.coerce_output_value(value)
                        except Exception:  # execute_field below reports it, located
                            coerced = None
                        if coerced is not None and coerced is not Undefined:
                            results[response_name] = coerced
                            continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # settle the other fields' awaitables, as graphql-core does
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()


def _weak_helpers(executor: weakref.ref[LeafFieldsExecutor]) -> GraphQLResolveInfoHelpers:
    def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return _alive(executor).gather_async_work(values)

    def track(values: Sequence[Any]) -> None:
        _alive(executor).track_async_work(values)

    return GraphQLResolveInfoHelpers(gather=gather, track=track)


def _alive(executor: weakref.ref[LeafFieldsExecutor]) -> LeafFieldsExecutor:
    found = executor()
    if found is None:  # a resolver's ``info`` kept past the end of its execution
        raise RuntimeError("the GraphQL execution this work belonged to has ended")
    return found
