"""The one input sanitizer (``predictql/inputs.py``), without a server: what it refuses and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from predictql.errors import InvalidInput
from predictql.inputs import (
    INT64_MAX,
    INT64_MIN,
    MAX_ITEMS,
    check_json,
    check_stored_json,
    plain_int,
)
from predictql.jsonutil import as_utc
from tests.inputs.nasty import deep


@pytest.mark.parametrize("raw", ["1_0", " 1", "1 ", "١", "+1", "1.0", "", "-", "0x10", "1e3", "1" * 21])
def test_plain_int_refuses_what_int_accepts(raw: str) -> None:
    assert plain_int(raw) is None


def test_plain_int_reads_ascii_digits() -> None:
    assert [plain_int(raw) for raw in ("0", "42", "-7", str(INT64_MAX))] == [0, 42, -7, INT64_MAX]
    assert plain_int(5) is None  # only text is parsed


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "NUL"),
        ("\ud800", "surrogate"),
        ({"k\x00": 1}, "NUL"),  # keys too
        (INT64_MAX + 1, "64-bit"),
        (INT64_MIN - 1, "64-bit"),
        (float("nan"), "not finite"),
        (float("inf"), "not finite"),
        (["t"] * (MAX_ITEMS + 1), "more than"),
        (deep(40), "deeper than 32"),
    ],
)
def test_check_json_refuses(value: object, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as caught:
        check_json(value, "body", code="X")
    assert caught.value.code == "X"


def test_check_json_accepts_the_ordinary_and_the_edges() -> None:
    value = {"ids": [INT64_MIN, INT64_MAX, 0], "name": "Ёж 🦔", "p": 0.5, "ok": True, "none": None, "n": deep(31)}
    assert check_json(value, "body") is value


def test_deep_json_is_walked_without_recursion() -> None:
    with pytest.raises(InvalidInput, match="deeper"):
        check_json(deep(100_000), "body")


def test_stored_json_is_bounded_in_depth_and_size() -> None:
    check_stored_json({"a": deep(7)}, "metadata")
    with pytest.raises(InvalidInput, match="deeper than 8"):
        check_stored_json({"a": deep(8)}, "metadata")
    with pytest.raises(InvalidInput, match="bytes"):
        check_stored_json({"k": "x" * 20_000}, "metadata")


def test_as_utc_bounds_what_the_services_compute_with() -> None:
    plus_one = timezone(timedelta(hours=1))
    assert as_utc(datetime(2030, 1, 1, 3, tzinfo=plus_one)) == datetime(2030, 1, 1, 2, tzinfo=UTC)
    minus_23 = timezone(-timedelta(hours=23))
    for moment in (
        datetime(1, 1, 1, tzinfo=plus_one),
        datetime(9999, 12, 31, 23, tzinfo=minus_23),
        datetime(1969, 12, 31, tzinfo=UTC),
        datetime(9999, 1, 1, tzinfo=UTC),
    ):
        with pytest.raises(ValueError):
            as_utc(moment)
