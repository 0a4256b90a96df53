"""The bus's wire format (``stream_log.wire``/``stamp``/``split``): the publish time rides along,
and what older publishers and the benchmarks send (``"{seq}|{payload}"``, bare payloads) still reads."""

from __future__ import annotations

import pytest

from predictql.subscriptions.stream_log import split, stamp, wire

PAYLOAD = '{"market_id": 7, "note": "a|b@c"}'


def test_the_new_format_carries_seq_payload_and_publish_time() -> None:
    text = wire(12, PAYLOAD, 1764912345.25)
    assert text == '12@1764912345.250000|{"market_id": 7, "note": "a|b@c"}'
    assert split(text) == (12, PAYLOAD, 1764912345.25)


def test_the_old_format_and_bare_payloads_still_read_without_a_time() -> None:
    assert wire(12, PAYLOAD) == f"12|{PAYLOAD}"
    assert split(f"12|{PAYLOAD}") == (12, PAYLOAD, 0.0)
    assert split(PAYLOAD) == (0, PAYLOAD, 0.0)
    assert split("plain text") == (0, "plain text", 0.0)
    assert split("") == (0, "", 0.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12@soon|x", None),  # not a time: the whole text is a bare payload
        ("12@|x", None),
        ("x@1.5|y", None),
        ("@1.5|y", None),
        ("1 2|x", None),
        ("12@nan|x", (12, "x")),  # numbered, but no usable time
        ("12@inf|x", (12, "x")),
    ],
)
def test_a_malformed_head_reads_as_a_bare_payload_or_without_a_time(
    text: str, expected: tuple[int, str] | None
) -> None:
    assert split(text) == (*(expected or (0, text)), 0.0)


def test_stamp_adds_the_time_to_numbered_and_bare_texts_once() -> None:
    numbered = stamp(f"12|{PAYLOAD}", 100.5)
    assert split(numbered) == (12, PAYLOAD, 100.5)
    assert stamp(numbered, 200.0) == numbered  # already stamped: kept
    assert split(stamp(PAYLOAD, 100.5)) == (0, PAYLOAD, 100.5)
    long_head = "1" * 30 + "|x"  # longer than any seq: a bare payload
    assert split(stamp(long_head, 3.0)) == (0, long_head, 3.0)
