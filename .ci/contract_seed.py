"""Seed a running server for .ci/contract-checks: one visible event with an LMSR pool of two markets
and one trade, so schemathesis reaches the routes behind real ids (not only their 404s). Prints the
schemathesis config: .ci/schemathesis.toml plus dictionaries of the seeded ids, offered for half of
the generated path parameters (the other half stay fuzzed)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(base: str, token: str) -> None:
    http = httpx.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    pool = {
        "name": "Seeded pool", "finish_at": _iso(timedelta(days=30)), "live_at": _iso(timedelta(minutes=-5)),
        "metadata": {"market_names": ["A", "B"], "market_probabilities": [0.5, 0.5]},
    }  # fmt: skip
    created = http.post("/events/create-full", json={"name": "Seeded event", "tags": ["seed"], "pools": [pool]})
    created.raise_for_status()
    event = created.json()
    http.post(f"/events/{event['id']}/active", json={"is_active": True}).raise_for_status()
    pool_id = event["pools"][0]["id"]
    market_ids = [market["id"] for market in event["pools"][0]["markets"]]
    trade = {"market_id": market_ids[0], "side": "buy_yes", "amount_type": "spend", "amount": 1000}
    http.post("/lmsr/trade", json=trade).raise_for_status()
    config = (Path(__file__).with_name("schemathesis.toml")).read_text()
    seeded = {"event_id": [event["id"]], "pool_id": [pool_id], "market_id": market_ids}
    print(config)
    for name, values in seeded.items():
        print(f"[dictionaries.{name}]\nvalues = {[int(v) for v in values]}\n")  # ints: the schema's type
    print("[parameters]")
    for name in seeded:
        print(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}')
    # Events are addressed as /events/{id}: the same dictionary there.
    print('\n[[operations]]\ninclude-path-regex = "^/api/v1/events/\\\\{id\\\\}"')
    print('parameters = { "path.id" = { dictionary = "event_id", probability = 0.5 } }')


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
