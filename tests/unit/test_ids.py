"""Global ids: prefix plus row id, round trip, and every malformed or foreign id refused."""

from __future__ import annotations

import pytest

from predictql.errors import InvalidInput
from predictql.schema.ids import Kind, decode, encode, parse


def test_every_kind_round_trips() -> None:
    for kind in Kind:
        assert parse(encode(kind, 42)) == (kind, 42)
        assert decode(kind, encode(kind, 9_223_372_036_854_775_807)) == 9_223_372_036_854_775_807


def test_prefixes_are_readable() -> None:
    assert [encode(k, 7) for k in (Kind.USER, Kind.EVENT, Kind.POOL, Kind.MARKET, Kind.ORDER)] == [
        "usr_7",
        "evt_7",
        "pool_7",
        "mkt_7",
        "ord_7",
    ]


@pytest.mark.parametrize(
    "value",
    ["", "42", "mkt_", "mkt_0", "mkt_01", "mkt_-1", "MKT_1", "xyz_1", "mkt_1 ", "mkt_9223372036854775808", "mkt_1\x00"],
)
def test_malformed_ids_are_invalid(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(value)
    assert caught.value.code == "INVALID_ID"


def test_an_id_of_another_kind_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        decode(Kind.MARKET, "evt_1")
    assert caught.value.code == "INVALID_ID" and "market id" in caught.value.message
