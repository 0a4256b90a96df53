"""Strawberry types whose fields are functions of one database row, computed eagerly or when read.

``Market``, ``Pool`` and ``Event`` copy ~15-23 values out of their row (global ids, enums, the
LMSR price) while the feed selects 3-4 of them: building the 180 objects of a 20-event page was a
fifth of an executed feed's CPU (``bench/RESULTS.md``, "The executed feed at 2x"). Such a type
lists its fields once, in ``FIELDS`` (GraphQL field's Python name -> function of the row), and is
built either way from that one table:

- ``from_row(row)``: every field computed now, as a plain dataclass. For a row that may still
  change after the object is built (a mutation's payload, a batch writer's in-memory row).
- ``lazy(row)``: only ``row`` is set; a field is computed from it the first time it is read
  (``__getattr__``, then kept on the instance) and gives what ``from_row`` gives. Only for a row
  nothing changes any more: the rows a read loaded for this request (root fields' pages, the
  request's loaders).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self, cast

Fields = Mapping[str, Callable[[Any], Any]]
"""A type's fields by Python name: each a function of the row."""


class RowFields:
    FIELDS: ClassVar[Fields]

    def __getattr__(self, name: str) -> Any:
        # Called only when ``name`` is not on the instance yet: a field of a ``lazy`` object.
        make = type(self).FIELDS.get(name)
        row = self.__dict__.get("row")
        if make is None or row is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        value = make(row)
        self.__dict__[name] = value
        return value

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """Every field computed now."""
        built: Self = cast(Any, cls)(row=row, **{name: make(row) for name, make in cls.FIELDS.items()})
        return built

    @classmethod
    def lazy(cls, row: Any) -> Self:
        """Each field computed from ``row`` when first read; ``row`` must not change any more."""
        instance = cls.__new__(cls)
        instance.__dict__["row"] = row
        return instance
