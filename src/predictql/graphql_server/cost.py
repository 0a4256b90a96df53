"""The cost limit, priced with the request's variable values.

Cost: every field costs 1, multiplied by the sizes of the lists above it. It cannot be a validation
rule: validation sees no variables (and its result is cached per document), so ``first: $n`` would
be priced the same whatever ``n`` is. ``CostLimit`` runs right after validation, before execution,
over the operation that will run, with the variables as sent (a value that is not an integer fails
coercion later, and so does an integer outside GraphQL's 32-bit ``Int``; either is priced at the
argument's default, so the client hears of the coercion error, not of a cost it did not ask for).

List sizes:

* A page argument (``first``, ``last``, ``limit``) is its value, or its schema default when omitted
  (``events`` is priced at 20 without ``first``). ``depth`` counts too (``orderbook(depth: 50)``).
  The size applies to the first lists below the field: a connection's ``edges``, an order book's
  ``bids`` and ``asks`` (each up to ``depth`` levels).
* Any other list of objects is an estimate (``ESTIMATES``, else ``UNPAGED``): the server does not
  page it, so its real size is data-dependent. Lists of scalars cost 1.

Each fragment is measured once (memoised): fragments that spread each other many times cost
linear time here, as in ``limits``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

from predictql.graphql_server.limits import FragmentMemo

PAGE_ARGS = ("first", "last", "limit", "depth")
INT_RANGE = range(-(2**31), 2**31)  # GraphQL Int: a page argument outside it fails coercion
UNPAGED = 20
# Lists the server returns whole: sized from the data model (a pool has a few outcomes).
ESTIMATES = {"Event.pools": 5, "Pool.markets": 5, "ReferralInfo.levels": 3}


class _Pricer:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.defaults: dict[str, int] = {}
        self.document = document
        self.fragments = FragmentMemo(document)

    def operation(self, operation: OperationDefinitionNode) -> int:
        self.defaults = {
            d.variable.name.value: int(d.default_value.value)
            for d in operation.variable_definitions or ()
            if isinstance(d.default_value, IntValueNode)
        }
        self.fragments = FragmentMemo(self.document)  # variable defaults differ per operation
        root = self.schema.get_root_type(operation.operation)
        return self.of(operation.selection_set, root, None)

    def of(self, selections: SelectionSetNode | None, parent: GraphQLNamedType | None, page: int | None) -> int:
        """Cost of a selection set on ``parent``; ``page`` sizes its list fields (from a page argument above)."""
        if selections is None:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.of(selection.selection_set, inner, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, page)
        return total

    def _fragment(self, name: str, page: int | None) -> int:
        def compute(fragment: FragmentDefinitionNode) -> int:
            return self.of(fragment.selection_set, self.schema.get_type(fragment.type_condition.name.value), page)

        return self.fragments.measure(name, (name, page), compute)

    def _field(self, node: FieldNode, parent: GraphQLNamedType | None, page: int | None) -> int:
        fields = getattr(parent, "fields", None) or {}
        definition: GraphQLField | None = fields.get(node.name.value)
        if definition is None:  # __typename, introspection: no list sizes known below
            return 1 + self.of(node.selection_set, None, None)
        own = self._page_argument(node, definition)
        returns = get_nullable_type(definition.type)
        named = get_named_type(returns)
        if is_list_type(returns) and not is_leaf_type(named):
            size = own or page or ESTIMATES.get(f"{parent}.{node.name.value}", UNPAGED)
            return 1 + size * self.of(node.selection_set, named, None)
        # A page argument on a non-list field sizes the lists inside its result (edges, bids).
        return 1 + self.of(node.selection_set, named, own or (page if not is_leaf_type(named) else None))

    def _page_argument(self, node: FieldNode, definition: GraphQLField) -> int | None:
        """The size a page argument gives (as sent, else its default), or None without one."""
        given = {argument.name.value: argument.value for argument in node.arguments or ()}
        for name in PAGE_ARGS:
            if name not in definition.args:
                continue
            value = given.get(name)
            size: Any = definition.args[name].default_value
            if isinstance(value, IntValueNode):
                size = int(value.value)
            elif isinstance(value, VariableNode):
                sent = self.variables.get(value.name.value, self.defaults.get(value.name.value, size))
                size = sent if isinstance(sent, int) and sent in INT_RANGE else size
            if isinstance(size, int) and not isinstance(size, bool):
                return max(1, size)
        return None


def _selected(document: DocumentNode, name: str | None) -> Iterator[OperationDefinitionNode]:
    for definition in document.definitions:
        named = definition.name.value if isinstance(definition, OperationDefinitionNode) and definition.name else None
        if isinstance(definition, OperationDefinitionNode) and (name is None or named == name):
            yield definition


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """The cost of the operation that will run (the largest, when the name does not pick one)."""
    pricer = _Pricer(schema, document, variables or {})
    return max((pricer.operation(operation) for operation in _selected(document, operation_name)), default=0)


def cost_limit(max_cost: int) -> type[SchemaExtension]:
    class CostLimit(SchemaExtension):
        def on_validate(self) -> Iterator[None]:
            # Listed after ValidationCache: the document's validation errors are known here. Only a
            # valid document is priced; setting the error skips execution.
            context = self.execution_context
            if not context.pre_execution_errors and context.graphql_document is not None:
                variables = context.variables if isinstance(context.variables, Mapping) else {}
                cost = query_cost(context.schema._schema, context.graphql_document, variables, context.operation_name)
                if cost > max_cost:
                    message = f"query cost {cost} exceeds the limit of {max_cost}"
                    context.pre_execution_errors = [GraphQLError(message, extensions={"code": "QUERY_TOO_COSTLY"})]
            yield

    return CostLimit
