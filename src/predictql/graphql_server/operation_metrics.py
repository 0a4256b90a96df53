"""GraphQL operations counted for ``/metrics`` (``predictql.metrics``): by operation name and type,
with each error code the result carries, and the duration. The first extension of the schema, so
its timing wraps all the others and the codes it reads are the final ones (``DomainErrors``)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from predictql import metrics

MAX_NAMES = 200  # operation names are chosen by clients: past this many, "other"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_seen: set[str] = set()


def name_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if name in _seen:
        return name
    if len(_seen) >= MAX_NAMES or not _NAME.match(name):
        return "other"
    _seen.add(name)
    return name


def _codes(errors: list[GraphQLError]) -> set[str]:
    return {str((error.extensions or {}).get("code", "INTERNAL_ERROR")) for error in errors}


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        name = name_label(context.operation_name)
        try:
            kind = context.operation_type.value
        except (RuntimeError, AttributeError, KeyError):  # no valid document: nothing to execute
            kind = "unknown"
        errors = list(context.pre_execution_errors or [])
        if context.result is not None and context.result.errors:
            errors += context.result.errors
        for code in _codes(errors) or {"none"}:
            metrics.GRAPHQL_OPERATIONS.labels(name, kind, code).inc()
        metrics.GRAPHQL_SECONDS.labels(name).observe(time.perf_counter() - started)
