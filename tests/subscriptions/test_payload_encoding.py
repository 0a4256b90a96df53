"""Every payload class's ``to_json`` gives the very text the old ``dumps_str(asdict(payload))`` gave:
the same keys in the same order, nulls, number formats, timestamps and nested values."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from predictql.jsonutil import dumps_str
from predictql.subscriptions import payloads


def old_to_json(payload: Any) -> str:
    """The encoding every payload used before (the reference)."""
    return dumps_str(dataclasses.asdict(payload))


PAYLOAD_CLASSES = [
    cls
    for _, cls in inspect.getmembers(payloads, inspect.isclass)
    if dataclasses.is_dataclass(cls) and cls.__module__ == payloads.__name__ and hasattr(cls, "to_json")
]

# One representative value per field type: awkward floats, a non-ASCII string with quotes, a
# timestamp with microseconds and a non-UTC offset, nested tuples and a nested dict.
VALUES: dict[str, list[Any]] = {
    "int": [0, -7, 2**53 + 1],
    "float": [0.1 + 0.2, 1.0, 1e-7],
    "bool": [True, False],
    "str": ['Ünïcode "quoted" \\ </script>', ""],
    "datetime": [
        datetime(2026, 12, 5, 6, 44, 12, 123456, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=timezone(timedelta(hours=3))),
        datetime(2026, 1, 2, 3, 4, 5),
    ],
    "tuple[float, ...]": [(0.1 + 0.2, 1.0, 0.0), ()],
    "tuple[tuple[int, int], ...]": [((5000, 3), (1, 0)), ()],
    "dict[str, Any]": [{"card": "2200 0000", "nested": {"list": [1, 2.5, None], "ok": True}, "n": None}, {}],
}


def instances(cls: type[Any]) -> list[Any]:
    """A few instances per class: every optional field null, then set, with varied values."""
    built = []
    for variant in range(3):
        args = {}
        for field in dataclasses.fields(cls):
            kind = str(field.type)
            optional = kind.endswith(" | None")
            choices = VALUES[kind.removesuffix(" | None")]  # KeyError: a new field type, add it above
            args[field.name] = None if optional and variant == 0 else choices[variant % len(choices)]
        built.append(cls(**args))
    return built


def test_every_payload_class_is_covered() -> None:
    assert len(PAYLOAD_CLASSES) >= 18
    assert {payloads.TradeTick, payloads.FillTick, payloads.BalanceState, payloads.CardOrderState} <= set(
        PAYLOAD_CLASSES
    )


@pytest.mark.parametrize("cls", PAYLOAD_CLASSES, ids=lambda cls: cls.__name__)
def test_to_json_is_byte_identical_to_asdict(cls: type[Any]) -> None:
    for payload in instances(cls):
        assert payload.to_json() == old_to_json(payload)
        assert cls.from_json(payload.to_json()).to_json() == payload.to_json()


def test_to_json_does_not_share_state_between_calls() -> None:
    """The encoder reads the fields as they are: a nested dict changed after one encoding shows in
    the next, as with ``asdict`` (no stale cache of values, only of field names)."""
    details: dict[str, Any] = {"card": "1"}
    state = payloads.CardOrderState(
        1, 2, "deposit", 100, "pending", details, None, datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC), None, None,
    )  # fmt: skip
    first = state.to_json()
    details["card"] = "2"
    assert state.to_json() == old_to_json(state) != first
