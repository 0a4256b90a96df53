"""Strawberry types whose fields are functions of one database row, computed eagerly or when read.

``Market``, ``Pool`` and ``Event`` copy ~15-23 values out of their row (global ids, enums, the
LMSR price) while the feed selects 3-4 of them: building the 180 objects of a 20-event page was a
fifth of an executed feed's CPU (``bench/RESULTS.md``, "The executed feed at 2x"). Such a type
lists its fields once, in ``FIELDS`` (GraphQL field's Python name -> function of the row), and is
built either way from that one table:

- ``from_row(row)``: every field computed now, as a plain dataclass. For a row that may still
  change after the object is built (a mutation's payload, a batch writer's in-memory row).
- ``lazy(row)``: only ``row`` is set; a field is computed from it the first time it is read
  (a descriptor per field, ``_Lazy``, then kept on the instance) and gives what ``from_row`` gives. Only for a row
  nothing changes any more: the rows a read loaded for this request (root fields' pages, the
  request's loaders).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self, cast

Fields = Mapping[str, Callable[[Any], Any]]
"""A type's fields by Python name: each a function of the row."""


class _Lazy:
    """A field of ``lazy`` objects: computed from the row when first read, then kept on the instance.

    A non-data descriptor: a value on the instance (``from_row``'s, or one read before) takes
    precedence. Not ``__getattr__``: a ``lazy`` object is asked for attributes it does not have,
    ``__await__`` (``is_awaitable``, per object in a list) and ``__as_strawberry_type__``
    (``is_type_of``), and each would cost a Python call and an ``AttributeError`` there."""

    __slots__ = ("make", "name")

    def __init__(self, name: str, make: Callable[[Any], Any]) -> None:
        self.name, self.make = name, make

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        value = self.make(instance.__dict__["row"])
        instance.__dict__[self.name] = value
        return value


class RowFields:
    FIELDS: ClassVar[Fields]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """Every field computed now."""
        built: Self = cast(Any, cls)(row=row, **{name: make(row) for name, make in cls.FIELDS.items()})
        return built

    @classmethod
    def lazy(cls, row: Any) -> Self:
        """Each field computed from ``row`` when first read; ``row`` must not change any more."""
        if "_lazy_fields" not in cls.__dict__:
            _install(cls)
        instance = cls.__new__(cls)
        instance.__dict__["row"] = row
        return instance


def _install(cls: type[RowFields]) -> None:
    """The descriptors of ``cls``'s fields, set once the class is a Strawberry type (a dataclass keeps
    no class attribute for a field without a default: before, they would have been its defaults)."""
    for name, make in cls.FIELDS.items():
        assert name not in cls.__dict__, name  # a default or a method would be shadowed
        setattr(cls, name, _Lazy(name, make))
    cls._lazy_fields = True  # type: ignore[attr-defined]
