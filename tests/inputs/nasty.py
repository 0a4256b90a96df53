"""The input classes that once crashed a route, as Hypothesis strategies, and the checks every
answer must pass (no 5xx, no INTERNAL_ERROR, nothing logged as unexpected).

Shared by the REST and GraphQL fuzz tests; the world they run against is built through the real
services (tests/inputs/world.py), so valid ids reach the database and the strategies can aim past it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_errors import Capture

EXAMPLES = int(os.environ.get("PREDICTQL_FUZZ_EXAMPLES", "25"))

INT64_EDGES = [2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**31) - 1, -(2**63), -(2**63) - 1]
NASTY_TEXT = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "x" * 50_000,
    "1_0",
    " 1 ",
    "١٢",
    "",
    "-1",
    "0",
    "9223372036854775808",
    "18446744073709551616",
    "1e400",
    "NaN",
    "Infinity",
    "2026-01-01T00:00:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-23:59",
    "not a date",
    "e30=",  # base64 {} as a cursor
    "eyJpZCI6IDk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5fQ==",  # {"id": 999999999999999999999}
    "eyJpZCI6IC0xfQ==",  # {"id": -1}
    "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tb",  # [[[[...
    "YES",
    "buy_yes",
]


def deep(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value} if depth % 2 else [value]
    return value


nasty_ints = st.one_of(st.sampled_from(INT64_EDGES), st.integers(), st.integers(min_value=-2, max_value=5))
nasty_floats = st.sampled_from([3.5, -0.0, 1e308, 5e-324, 0.5, 1e19])
nasty_text = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=20))
nasty_scalars = st.one_of(nasty_ints, nasty_floats, nasty_text, st.booleans(), st.none())
nasty_containers = st.one_of(
    st.builds(deep, st.sampled_from([64, 300, 600])),
    st.just(["t"] * 100_000),
    st.just({"\x00": "\x00"}),
    st.lists(st.one_of(st.sampled_from(NASTY_TEXT), st.sampled_from(INT64_EDGES)), min_size=1, max_size=3),
    st.dictionaries(st.text(max_size=5), nasty_scalars, max_size=3),
)
# Each class about as likely as the others, so a few dozen examples per route meet every one.
nasty_json = st.one_of(
    st.sampled_from(NASTY_TEXT), st.sampled_from(INT64_EDGES), nasty_floats, nasty_containers, nasty_scalars
)


def drawn(strategy: st.SearchStrategy[Any], examples: int = EXAMPLES) -> list[Any]:
    """Examples drawn by Hypothesis up front: the requests then run on the test's event loop
    (Hypothesis cannot drive a coroutine nested in an async test). A failure names its input."""
    found: list[Any] = []

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found


@contextmanager
def unexpected_errors() -> Iterator[Capture]:
    """Every record of ours; ``check_logs`` fails on an ERROR one ("unhandled error" from REST,
    "unexpected error" from GraphQL)."""
    capture = Capture()
    logger = logging.getLogger("predictql")
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)


def check_rest(response: httpx.Response, what: object) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        error = response.json()["error"]
        assert error["code"] != "INTERNAL_ERROR", (what, error)


def check_graphql(response: httpx.Response, what: object) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    for error in response.json().get("errors") or ():
        code = (error.get("extensions") or {}).get("code")
        assert code and code != "INTERNAL_ERROR", (what, error)


def check_logs(capture: Capture, what: object) -> None:
    found = [record.getMessage() for record, *_ in capture.seen if record.levelno >= logging.ERROR]
    capture.seen.clear()
    assert not found, (what, found)
