"""``idempotencyKey`` on every mutation: the same key and the same operation replays the stored
result without executing again; the same key with a different operation is refused.

``IdempotencyKeyArgument`` adds the argument to each mutation field (and hides it from the
resolver); the ``Idempotency`` schema extension does the lookup, claim and store around execution.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import ExecutionResult, GraphQLError, OperationDefinitionNode, OperationType
from graphql.language import FieldNode, StringValueNode, VariableNode
from strawberry.annotation import StrawberryAnnotation
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.field import StrawberryField

from predictql.errors import DomainError
from predictql.jsonutil import dumps, loads
from predictql.services import idempotency


class IdempotencyKeyArgument(FieldExtension):
    def apply(self, field: StrawberryField) -> None:
        field.arguments.append(
            StrawberryArgument(
                python_name="idempotency_key",
                graphql_name="idempotencyKey",
                type_annotation=StrawberryAnnotation(str | None),
                default=None,
                description="Retry-safe key: the same key and arguments return the first result again.",
            )
        )

    def map_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs.pop("idempotency_key", None)
        return kwargs


def _key(document: Any, operation_name: str | None, variables: dict[str, Any] | None) -> str | None:
    for definition in getattr(document, "definitions", ()):
        if not isinstance(definition, OperationDefinitionNode) or definition.operation != OperationType.MUTATION:
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        for selection in definition.selection_set.selections:
            if not isinstance(selection, FieldNode):
                continue
            for argument in selection.arguments or ():
                if argument.name.value != "idempotencyKey":
                    continue
                if isinstance(argument.value, StringValueNode):
                    return argument.value.value
                if isinstance(argument.value, VariableNode):
                    value = (variables or {}).get(argument.value.name.value)
                    return value if isinstance(value, str) else None
    return None


def _error(error: DomainError) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(error.message, extensions={"code": error.graphql_code})])


def _stored_body(result: ExecutionResult) -> str | None:
    """What to store with the work: None when an unexpected error means it must not commit.

    A result without errors is stored as its data alone; one whose errors are all expected (a
    failure that kept its work, e.g. a wrong-code counter) as ``{"data", "errors"}``.
    """
    errors = result.errors or []
    if any(not isinstance(error.original_error, DomainError) for error in errors):
        return None
    if not errors:
        return dumps(result.data).decode()
    listed = [
        {"message": error.message, "path": error.path, "extensions": {"code": error.original_error.graphql_code}}
        for error in errors
        if isinstance(error.original_error, DomainError)
    ]
    return dumps({"data": result.data, "errors": listed}).decode()


def _replayed(body: str) -> ExecutionResult:
    stored = loads(body)
    if not (isinstance(stored, dict) and set(stored) == {"data", "errors"}):
        return ExecutionResult(data=stored, errors=None)
    errors = [GraphQLError(e["message"], path=e["path"], extensions=e["extensions"]) for e in stored["errors"]]
    return ExecutionResult(data=stored["data"], errors=errors)


class Idempotency(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        key = _key(ec.graphql_document, ec.operation_name, ec.variables)
        if key is None or ec.result is not None:  # already answered (InputGuard refused the input)
            yield
            return
        context = ec.context
        db = context.db
        actor = context.actor
        client = context.request.client.host if context.request.client else "unknown"
        owner = f"user:{actor.user_id}" if actor.user_id is not None else f"ip:{client}"
        try:
            claim = idempotency.Claim(
                owner,
                "graphql:" + idempotency.check_key(key),
                idempotency.request_hash(ec.query or "", ec.operation_name or "", dumps(ec.variables or {})),
            )
            stored = await idempotency.lookup(db, claim)
        except DomainError as error:
            ec.result = _error(error)
            yield
            return
        if stored is not None:
            ec.result = _replayed(stored.body)
            yield
            return
        async with db.unit() as unit:
            with idempotency.guarding(claim):
                yield
            result = ec.result
            if not isinstance(result, ExecutionResult):
                return  # not a plain result (never for a mutation): nothing is committed
            body = _stored_body(result)
            try:
                # 200 stands for "commit"; a 500 leaves the unit to roll back on leaving.
                stored = await idempotency.settle(db, unit, claim, 200 if body else 500, body or "")
            except DomainError as error:
                stored, result.data, result.errors = None, None, _error(error).errors
        if stored is not None:
            # Strawberry returns this very object (a new one set on the context would be ignored).
            replay = _replayed(stored.body)
            result.data, result.errors = replay.data, replay.errors
