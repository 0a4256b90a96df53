"""GraphQL errors: a ``DomainError`` keeps its message and carries its code in
``extensions.code``; anything unexpected is logged with the request id and masked."""

from __future__ import annotations

import logging

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import InvalidOperationTypeError

from predictql import logs
from predictql.errors import DomainError, RateLimited
from predictql.outages import unavailable

log = logging.getLogger("predictql.graphql")


def _with_code(error: GraphQLError, code: str, message: str | None = None) -> GraphQLError:
    return GraphQLError(
        message=message or error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**(error.extensions or {}), "code": code},
    )


class DomainErrors(MaskErrors):
    def _process_result(self, result: object) -> None:
        # Strawberry's own check is an isinstance against a runtime-checkable Protocol (typing's
        # slow path, ~2 % of a GraphQL mutation's request-side CPU) even for a result without errors.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._one(error) for error in errors]

    def _one(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, RateLimited):  # clients back off by the same number as REST's Retry-After
            error.extensions = {**(error.extensions or {}), "retryAfter": original.retry_after}
        if isinstance(original, DomainError):
            return _with_code(error, original.graphql_code, original.message)
        if isinstance(original, InvalidOperationTypeError):  # an operation type its transport does not carry
            return _with_code(error, "OPERATION_NOT_SUPPORTED", "this transport does not carry this operation type")
        if error.path is None and (error.message.startswith("Variable '$") or isinstance(original, ValueError)):
            # Scalar and variable coercion (ID! given null, Long past 2^63, Int given 3.5, a
            # DateTime our scalar refuses, in a variable or a literal): the client's mistake,
            # told as it is, although a parser raised it.
            return _with_code(error, "BAD_USER_INPUT")
        if original is None or (error.path is None and isinstance(original, GraphQLError)):
            # Syntax and validation errors (a literal a scalar refuses included) are already safe.
            code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED")
            return _with_code(error, str(code))
        outage = unavailable(original)
        if outage is not None:  # the database is out of reach: retrying later works
            log.warning("database unavailable in %s: %r", error.path, original)
            return _with_code(error, outage.code, outage.message)
        rid = logs.request_id.get() or "-"
        log.error("unexpected error in %s", error.path, exc_info=original)
        return _with_code(error, "INTERNAL_ERROR", f"internal error (request id {rid})")
