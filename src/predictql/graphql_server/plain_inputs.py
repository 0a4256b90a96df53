"""Input objects of plain fields are built from the coerced value directly, not field by field
through Strawberry's generic conversion.

Strawberry turns every input object argument into its class with ``convert_argument``, which for
each field resolves the field's type again (``StrawberryField.resolve_type``: the annotation, the
generic check, the validation of the annotation) and dispatches on it; an ``lmsrTrade`` input of five
fields spent ~7 % of the mutation's request-side CPU there (bench/RESULTS.md, branch ``httpcost``).
When every field of an input is a scalar or an enum, optional or not, that conversion hands each
value on as graphql-core coerced it (``convert_argument``'s leaf case), so the input is the class
called with them: what ``build`` does, through Strawberry's own hook for inputs that build their
own value (``StrawberryObjectDefinition.from_input``), with the field names worked out once.

Left to Strawberry: inputs with a list, a nested input, a ``GlobalID`` (converted from its text), a
``Maybe`` (wrapped in ``Some``; its null rule skips inputs that build their own value) or a lazy
type, and inputs that have a ``from_input`` already.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

import strawberry
from graphql import GraphQLInputObjectType
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import StrawberryMaybe, StrawberryObjectDefinition, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.field import StrawberryField

DEFINITION = "strawberry-definition"  # Strawberry's back-reference on graphql-core's types

Builder = Callable[[type, Mapping[str, Any], InputContext], Any]


def build_plain_inputs(schema: strawberry.Schema) -> list[str]:
    """Give each input of ``schema`` whose fields are all plain its direct builder; returns their names."""
    registry = schema.schema_converter.scalar_registry
    names = schema.config.name_converter
    built: list[str] = []
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLInputObjectType):
            continue
        definition = (graphql_type.extensions or {}).get(DEFINITION)
        if not isinstance(definition, StrawberryObjectDefinition) or definition.from_input is not None:
            continue
        fields: list[StrawberryField] = definition.fields
        if not fields or not all(_plain(field.resolve_type(type_definition=definition), registry) for field in fields):
            continue
        pairs = [(names.from_field(field), field.python_name) for field in fields]
        required = [f.python_name for f in fields if f.default_value is MISSING and f.default_factory is MISSING]
        definition.from_input = _builder(pairs, required)
        built.append(graphql_type.name)
    return built


def _plain(type_: Any, registry: Mapping[object, Any]) -> bool:
    """A type ``convert_argument`` hands on unchanged: a scalar (not ``GlobalID``) or an enum, optional
    or not (not ``Maybe``)."""
    if isinstance(type_, StrawberryMaybe):
        return False
    if isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
        if isinstance(type_, StrawberryOptional):
            return False
    if type_ is GlobalID:
        return False
    if isinstance(type_, StrawberryEnumDefinition) or has_enum_definition(type_):
        return True
    return bool(is_scalar(type_, registry))


def _builder(pairs: list[tuple[str, str]], required: list[str]) -> Builder:
    def build(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        # As ``convert_argument``: an implicit None for fields without a default, then the values sent.
        kwargs: dict[str, Any] = dict.fromkeys(required)
        for graphql_name, python_name in pairs:
            if graphql_name in value:
                kwargs[python_name] = value[graphql_name]
        return cls(**kwargs)

    return build
