"""Static query limits, checked during validation: depth and aliases. (The cost limit needs the
variable values, so it runs after validation: ``graphql_server/cost.py``.)

Each measure is computed once per fragment (memoised by name), so a document whose fragments
spread each other many times is measured in linear time: a few hundred tokens of fragments that
each spread the next one twice would otherwise cost 2**n steps inside the validator itself.
Strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` re-walk a fragment at every spread,
and they build new rule classes per instance (which defeats ``ValidationCache``); the rules here
are built once per schema by ``limit_rules``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from graphql.validation import NoSchemaIntrospectionCustomRule

from predictql.settings import Settings

# measure(field, measure of the field's own selection set) -> the field's contribution
FieldMeasure = Callable[[FieldNode, int], int]


class FragmentMemo:
    """Each fragment measured once per key; a fragment met again inside its own spread (a cycle,
    which a standard rule reports) counts 0."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.memo: dict[Hashable, int] = {}
        self.active: set[str] = set()

    def measure(self, name: str, key: Hashable, compute: Callable[[FragmentDefinitionNode], int]) -> int:
        if key in self.memo:
            return self.memo[key]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.active:
            return 0
        self.active.add(name)
        try:
            value = compute(fragment)
        finally:
            self.active.discard(name)
        self.memo[key] = value
        return value


class _Measure:
    """Sums (or maxes) a per-field measure over a selection set, each fragment measured once."""

    def __init__(self, document: DocumentNode, field: FieldMeasure, *, combine: Callable[[list[int]], int]) -> None:
        self.fragments = FragmentMemo(document)
        self.field = field
        self.combine = combine

    def of(self, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        parts: list[int] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                parts.append(self.field(selection, self.of(selection.selection_set)))
            elif isinstance(selection, InlineFragmentNode):
                parts.append(self.of(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                parts.append(self.fragments.measure(name, name, lambda fragment: self.of(fragment.selection_set)))
        return self.combine(parts)


def _max(parts: list[int]) -> int:
    return max(parts, default=0)


def _levels(node: FieldNode, inner: int) -> int:
    # Introspection is not counted below its root field (as in Strawberry's depth limiter).
    return 1 if node.name.value.startswith("__") else 1 + inner


def _aliases(node: FieldNode, inner: int) -> int:
    return (1 if node.alias else 0) + inner


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def _error(message: str, code: str, node: Any = None) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": code})


def depth_limit_rule(max_depth: int) -> type[ValidationRule]:
    """Depth = fields enclosing the deepest field (``{ me { id } }`` has depth 1)."""

    class DepthLimit(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            measure = _Measure(node, _levels, combine=_max)
            for operation in _operations(node):
                depth = measure.of(operation.selection_set) - 1
                if depth > max_depth:
                    self.report_error(
                        _error(f"query depth {depth} exceeds the limit of {max_depth}", "QUERY_TOO_DEEP", operation)
                    )

    return DepthLimit


def alias_limit_rule(max_aliases: int) -> type[ValidationRule]:
    """Aliased fields in the whole document, a fragment counted at each spread."""

    class AliasLimit(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            measure = _Measure(node, _aliases, combine=sum)
            total = sum(measure.of(operation.selection_set) for operation in _operations(node))
            if total > max_aliases:
                self.report_error(
                    _error(f"{total} aliases found, the limit is {max_aliases}", "TOO_MANY_ALIASES", node)
                )

    return AliasLimit


def limit_rules(settings: Settings) -> tuple[type[ValidationRule], ...]:
    """All static limits as validation rules, built once per schema so ``ValidationCache`` hits."""
    rules: list[type[ValidationRule]] = [
        depth_limit_rule(settings.graphql_max_depth),
        alias_limit_rule(settings.graphql_max_aliases),
    ]
    if not settings.graphql_introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)
