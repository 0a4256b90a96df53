"""Which kind of operation a document runs, known before execution (parsed once per text)."""

from __future__ import annotations

from functools import lru_cache

from graphql import OperationDefinitionNode, parse
from graphql.error import GraphQLError
from strawberry.types.graphql import OperationType


@lru_cache(maxsize=512)
def operation_type(document: str, operation_name: str | None) -> OperationType | None:
    """The selected operation's type; None when the text does not parse or names no single operation."""
    try:
        parsed = parse(document)
    except GraphQLError:
        return None
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        operations = [op for op in operations if op.name is not None and op.name.value == operation_name]
    if len(operations) != 1:
        return None
    return OperationType(operations[0].operation.value)
