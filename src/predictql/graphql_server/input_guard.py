"""Client values in a GraphQL operation pass the same sanitizer as REST bodies (``inputs.py``)
before anything runs: string literals in the document (a validation rule, cached with the
document) and variable values (checked per request, they change every time).

A NUL, a lone surrogate, an integer past int64 or a 100,000-item list answers ``BAD_USER_INPUT``
with the reason; without this they reached PostgreSQL, asyncpg or orjson and came back as a
masked INTERNAL_ERROR.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError
from graphql.language import StringValueNode
from graphql.validation import ValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from predictql.errors import InvalidInput
from predictql.inputs import check_json, text_problem

CODE = "BAD_USER_INPUT"


class SafeStringLiterals(ValidationRule):
    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        problem = text_problem(node.value)
        if problem is not None:
            self.report_error(GraphQLError(f"a string {problem}", node, extensions={"code": CODE}))


class InputGuard(SchemaExtension):
    """Listed before the extensions that read variables (idempotency hashes them with orjson)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        variables = context.variables
        try:
            for name, value in variables.items() if isinstance(variables, dict) else ():
                check_json(value, f"variable ${name}", code=CODE)
        except InvalidInput as error:
            if context.operation_type == OperationType.SUBSCRIPTION:
                raise  # Strawberry subscribes whatever the result; a raised error ends the stream
            context.result = ExecutionResult(None, [GraphQLError(error.message, extensions={"code": error.code})])
        yield
