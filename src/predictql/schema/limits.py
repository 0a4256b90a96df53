"""Static cost limit: every field costs 1, multiplied by the page sizes of the lists above it.

A list field's page size is its ``first``/``limit`` argument when given as a literal, else
``DEFAULT_PAGE``; this bounds what one request can make the server load.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

DEFAULT_PAGE = 20
PAGE_ARGS = ("first", "last", "limit")


def _page(node: FieldNode) -> int:
    for argument in node.arguments or ():
        if argument.name.value in PAGE_ARGS:
            value = argument.value
            return max(1, int(value.value)) if isinstance(value, IntValueNode) else DEFAULT_PAGE
    return 1


def _cost(context: ValidationContext, selection_set: SelectionSetNode | None, seen: frozenset[str]) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += 1 + _page(selection) * _cost(context, selection.selection_set, seen)
        elif isinstance(selection, InlineFragmentNode):
            total += _cost(context, selection.selection_set, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = context.get_fragment(name)
            if fragment is not None and name not in seen:
                total += _cost(context, fragment.selection_set, seen | {name})
    return total


def cost_limit_rule(max_cost: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            cost = _cost(self.context, node.selection_set, frozenset())
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"query cost {cost} exceeds the limit of {max_cost}",
                        node,
                        extensions={"code": "QUERY_TOO_COSTLY"},
                    )
                )

    return CostLimit
