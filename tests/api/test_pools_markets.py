"""REST groups ``pools`` and ``markets``: the documented create-pool example, probabilities,
reads (single, batch, hidden), and the charts (route shapes and the pure bucketing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from predictql.db import Database, utcnow
from predictql.errors import InvalidInput
from predictql.models import PricePoint
from predictql.services.charts import SCALES, bucket_ends, bucketize, scale_of
from tests.api.test_events import API, error, make_event, pool_body, trade
from tests.api.test_users import fast_user
from tests.support import bearer

EXAMPLE_BODY = {
    "name": "Match winner",
    "name_ru": "Победитель матча",
    "margin": 0,
    "finish_at": "2030-06-01T20:00:00Z",
    "live_at": "2030-05-01T12:00:00Z",
    "rules": "Regular time only.",
    "rules_ru": "Только основное время.",
    "metadata": {
        "market_names": ["Team A", "Draw", "Team B"],
        "market_probabilities": [0.40, 0.25, 0.35],
        "lmsr_b_kopecks": 1000000,
    },
}


async def shell_event(http: httpx.AsyncClient, token: str) -> int:
    response = await http.post(f"{API}/events", json={"name": "Cup final"}, headers=bearer(token))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


# --- POST /events/{id}/pools ----------------------------------------------------------------------


async def test_create_pool_documented_example(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event_id = await shell_event(client, token)
    response = await client.post(f"{API}/events/{event_id}/pools", json=EXAMPLE_BODY, headers=bearer(token))
    assert response.status_code == 201, response.text
    pool = response.json()
    markets = pool["markets"]
    assert pool == {
        "id": pool["id"],
        "event_id": event_id,
        "name": "Match winner",
        "name_ru": "Победитель матча",
        "rules": "Regular time only.",
        "rules_ru": "Только основное время.",
        "won_side": None,
        "margin": 0,
        "finish_at": "2030-06-01T20:00:00Z",
        "live_at": "2030-05-01T12:00:00Z",
        "markets": [
            {
                "id": markets[index]["id"],
                "pool_id": pool["id"],
                "name": name,
                "name_ru": "",
                "yes_probability": probability,
                "market_type": "lmsr",
                "volume": 0,
                "b": 10000,
                "q_yes": 0,
                "q_no": 0,
                "paused": False,
                "resolved": False,
                "winning_outcome": None,
                "outcome_index": index,
                "yes_name": "Yes",
                "no_name": "No",
            }
            for index, (name, probability) in enumerate((("Team A", 0.40), ("Draw", 0.25), ("Team B", 0.35)))
        ],
        "metadata": {
            "market_names": ["Team A", "Draw", "Team B"],
            "market_probabilities": [0.4, 0.25, 0.35],
            "lmsr_b_kopecks": 1000000,
        },
    }
    assert all(isinstance(m["id"], int) for m in markets) and len({m["id"] for m in markets}) == 3
    assert (await client.get(f"{API}/pools/{pool['id']}", headers=bearer(token))).json() == pool
    event = (await client.get(f"{API}/events/{event_id}", headers=bearer(token))).json()
    assert event["main_pool_id"] == pool["id"] and event["pools"] == [pool] and event["status"] == "new"


async def test_create_pool_refusals(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event_id = await shell_event(client, token)
    path = f"{API}/events/{event_id}/pools"

    def with_probabilities(*values: Any) -> dict[str, Any]:
        names = ["A", "B"]  # two outcomes: one or three probabilities do not fit
        return {**EXAMPLE_BODY, "metadata": {"market_names": names, "market_probabilities": list(values)}}

    for values in ((0.5, 0.6), (1.0, 0.0), (0.5,), (-0.1, 1.1), (0.3, 0.3, 0.4)):
        response = await client.post(path, json=with_probabilities(*values), headers=bearer(token))
        assert error(response, 400) == "invalid_probabilities", values
    bodies = [
        {**EXAMPLE_BODY, "metadata": {"market_names": [], "market_probabilities": []}},
        {**EXAMPLE_BODY, "finish_at": "not a date"},
        {**EXAMPLE_BODY, "finish_at": "2030-04-01T00:00:00Z"},  # before live_at
        {**EXAMPLE_BODY, "metadata": {**EXAMPLE_BODY["metadata"], "lmsr_b_kopecks": 5}},
        {**EXAMPLE_BODY, "metadata": {**EXAMPLE_BODY["metadata"], "market_probabilities": ["0.4", 0.25, 0.35]}},
        {"name": "no metadata", "finish_at": "2030-06-01T20:00:00Z"},
    ]
    for body in bodies:
        assert error(await client.post(path, json=body, headers=bearer(token)), 400) == "invalid_body", body
    for event, status, code in (("999999", 404, "not_found"), ("x", 400, "invalid_id")):
        response = await client.post(f"{API}/events/{event}/pools", json=EXAMPLE_BODY, headers=bearer(token))
        assert error(response, status) == code


async def test_create_pool_guide_shape_and_naive_times(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event_id = await shell_event(client, token)
    body = {
        "finish_at": "2030-06-01T20:00:00",
        "market_names": ["Yes"],
        "market_probabilities": [0.7],
        "lmsr_b_kopecks": 300000,
    }
    response = await client.post(f"{API}/events/{event_id}/pools", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    pool = response.json()
    assert (pool["name"], pool["finish_at"], pool["markets"][0]["b"]) == ("Main Pool", "2030-06-01T20:00:00Z", 3000)
    assert pool["metadata"] == {"market_names": ["Yes"], "market_probabilities": [0.7], "lmsr_b_kopecks": 300000}


async def test_no_pool_after_close(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event = await make_event(client, token)
    closed = await client.post(f"{API}/events/{event['id']}/close", json={"won_side": "NO"}, headers=bearer(token))
    assert closed.status_code == 200
    late = await client.post(f"{API}/events/{event['id']}/pools", json=EXAMPLE_BODY, headers=bearer(token))
    assert error(late, 409) == "CONFLICT"


# --- PUT probabilities ----------------------------------------------------------------------------


async def test_set_probabilities(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    trader, _ = await fast_user(db, balance=50_000)
    event = await make_event(client, token, pool_body(("A", "B"), (0.5, 0.5)))
    pool = event["pools"][0]
    await trade(db, trader, pool["markets"][0]["id"], amount=5000)
    path = f"{API}/events/{event['id']}/pools/{pool['id']}/probabilities"
    response = await client.put(path, json={"probabilities": [0.7, 0.3]}, headers=bearer(token))
    assert response.status_code == 200 and response.json() == {"message": "probabilities updated"}
    after = (await client.get(f"{API}/pools/{pool['id']}")).json()["markets"]
    assert [round(m["yes_probability"], 9) for m in after] == [0.7, 0.3]
    assert after[0]["q_yes"] > 0  # quantities untouched, only the prior moved
    for body in ({"probabilities": [0.7, 0.4]}, {"probabilities": [1]}, {"probabilities": []}, {"probabilities": "x"}):
        assert error(await client.put(path, json=body, headers=bearer(token)), 400) == "invalid_probabilities", body
    assert error(await client.put(path, json={}, headers=bearer(token)), 400) == "invalid_probabilities"
    for pool_id, status, code in (("999999", 404, "pool_not_found"), ("abc", 400, "invalid_pool_id")):
        elsewhere = f"{API}/events/{event['id']}/pools/{pool_id}/probabilities"
        response = await client.put(elsewhere, json={"probabilities": [0.5, 0.5]}, headers=bearer(token))
        assert error(response, status) == code


# --- reads ----------------------------------------------------------------------------------------


async def test_pool_and_market_reads_and_errors(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event = await make_event(client, token)
    pool = event["pools"][0]
    market = pool["markets"][0]
    assert (await client.get(f"{API}/markets/{market['id']}")).json() == market
    for bad in ("abc", "0", "-1", str(2**63)):
        assert error(await client.get(f"{API}/pools/{bad}"), 400) == "invalid_pool_id"
        assert error(await client.get(f"{API}/markets/{bad}"), 400) == "invalid_market_id"
        assert error(await client.get(f"{API}/markets/{bad}/chart"), 400) == "invalid_market_id"
        assert error(await client.get(f"{API}/pools/{bad}/charts"), 400) == "invalid_pool_id"
    assert error(await client.get(f"{API}/pools/999999"), 404) == "pool_not_found"
    assert error(await client.get(f"{API}/markets/999999"), 404) == "market_not_found"
    assert error(await client.get(f"{API}/pools/999999/ratio/chart"), 404) == "pool_not_found"
    assert error(await client.get(f"{API}/markets/999999/chart"), 404) == "market_not_found"


async def test_hidden_event_pools_and_markets_are_404_to_others(client: httpx.AsyncClient, db: Database) -> None:
    _, owner = await fast_user(db, is_creator=True)
    _, other = await fast_user(db)
    hidden = await make_event(client, owner, active=False)
    pool_id, market_id = hidden["pools"][0]["id"], hidden["pools"][0]["markets"][0]["id"]
    paths = {
        f"/pools/{pool_id}": "pool_not_found",
        f"/pools/{pool_id}/ratio/chart": "pool_not_found",
        f"/pools/{pool_id}/charts": "pool_not_found",
        f"/markets/{market_id}": "market_not_found",
        f"/markets/{market_id}/chart": "market_not_found",
    }
    for path, code in paths.items():
        for headers in ({}, bearer(other)):
            assert error(await client.get(API + path, headers=headers), 404) == code, path
        assert (await client.get(API + path, headers=bearer(owner))).status_code == 200, path
    batch = f"{API}/pools/batch?ids={pool_id}"
    assert (await client.get(batch)).json() == [] and len((await client.get(batch, headers=bearer(owner))).json()) == 1


async def test_pools_batch(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    first = (await make_event(client, token))["pools"][0]
    second = (await make_event(client, token, pool_body(("A", "B"), (0.1, 0.9))))["pools"][0]
    ids = f"{second['id']},999999,{first['id']},{second['id']}"
    response = await client.get(f"{API}/pools/batch", params={"ids": ids})
    assert response.status_code == 200
    assert response.json() == [second, first]  # requested order, unknown skipped, repeats once
    for ids in (None, "", "a,b", "1.5", "-1", "0", ",".join(["1"] * 2 + [str(i) for i in range(2, 101)])):
        params = {} if ids is None else {"ids": ids}
        assert error(await client.get(f"{API}/pools/batch", params=params), 400) == "invalid_ids", ids
    hundred = ",".join(str(i) for i in range(1, 101))
    assert (await client.get(f"{API}/pools/batch", params={"ids": hundred})).status_code == 200


# --- charts ---------------------------------------------------------------------------------------


async def _backdate(db: Database, market_ids: list[int], *, by: timedelta) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(PricePoint)
            .where(PricePoint.market_id.in_(market_ids))
            .values(  # type: ignore[attr-defined]
                created_at=utcnow() - by
            )
        )


async def _point(db: Database, market_id: int, probability: float, ago: timedelta) -> None:
    async with db.transaction() as session:
        session.add(PricePoint(market_id=market_id, probability=probability, created_at=utcnow() - ago))


async def test_pool_charts_every_scale(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event = await make_event(client, token, pool_body(("A", "B"), (0.4, 0.6)))
    pool = event["pools"][0]
    a, b = (m["id"] for m in pool["markets"])
    await _backdate(db, [a, b], by=timedelta(days=10))  # the pool was made ten days ago
    await _point(db, a, 0.7, timedelta(hours=2))
    await _point(db, b, 0.3, timedelta(hours=2))
    await _point(db, a, 0.8, timedelta(minutes=20))
    default = (await client.get(f"{API}/pools/{pool['id']}/ratio/chart")).json()
    charts = {}
    for scale in SCALES:
        response = await client.get(f"{API}/pools/{pool['id']}/ratio/chart", params={"scale": scale})
        assert response.status_code == 200, response.text
        charts[scale] = response.json()
        assert all(set(point) == {"timestamp", "values"} for point in charts[scale])
        stamps = [point["timestamp"] for point in charts[scale]]
        assert stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps)
        assert charts[scale][-1]["values"] == [0.8, 0.3], scale
    # the same chart; its last point is stamped "now", which may have ticked a second since
    assert default[:-1] == charts["1d"][:-1] and default[-1]["values"] == charts["1d"][-1]["values"]
    assert 60 <= len(charts["1h"]) <= 61 and charts["1h"][0]["values"] == [0.7, 0.3]  # carried in from before
    assert 96 <= len(charts["1d"]) <= 97 and charts["1d"][0]["values"] == [0.4, 0.6]
    assert 168 <= len(charts["1w"]) <= 169
    assert 40 <= len(charts["1m"]) <= 41  # nothing before the pool existed
    everything = (await client.get(f"{API}/pools/{pool['id']}/charts")).json()
    assert list(everything) == ["1h", "1d", "1w", "1m"]
    assert {scale: [p["values"] for p in points] for scale, points in everything.items()} == {
        scale: [p["values"] for p in points] for scale, points in charts.items()
    }
    unknown = await client.get(f"{API}/pools/{pool['id']}/ratio/chart", params={"scale": "5m"})
    assert error(unknown, 400) == "invalid_scale"
    market_chart = (await client.get(f"{API}/markets/{a}/chart")).json()
    assert [p["probability"] for p in market_chart] == [0.4, 0.7, 0.8]
    assert all(set(p) == {"timestamp", "probability"} for p in market_chart)


async def test_fresh_pool_chart_and_trades_move_it(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    trader, _ = await fast_user(db, balance=10_000)
    pool = (await make_event(client, token, pool_body(("Yes",), (0.65,))))["pools"][0]
    chart = (await client.get(f"{API}/pools/{pool['id']}/ratio/chart", params={"scale": "1h"})).json()
    assert [p["values"] for p in chart] == [[0.65]]  # only "now": the pool is newer than every bucket
    await trade(db, trader, pool["markets"][0]["id"], amount=3000)
    history = (await client.get(f"{API}/markets/{pool['markets'][0]['id']}/chart")).json()
    assert len(history) == 2 and history[0]["probability"] == 0.65 and history[1]["probability"] > 0.65


# --- the pure bucketing ---------------------------------------------------------------------------

NOW = datetime(2026, 4, 4, 12, 7, 30, tzinfo=UTC)


def test_bucket_ends_are_aligned_and_end_now() -> None:
    for name, scale in SCALES.items():
        ends = bucket_ends(NOW, scale)
        assert ends[-1] == NOW and ends[0] > NOW - scale.window, name
        assert len(ends) == scale.window // scale.step + 1, name
        assert all(b - a == scale.step for a, b in pairwise(ends[:-1])), name
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        assert all((end - epoch) % scale.step == timedelta(0) for end in ends[:-1]), name
    aligned = datetime(2026, 4, 4, 12, 0, tzinfo=UTC)
    assert len(bucket_ends(aligned, SCALES["1h"])) == 60 and bucket_ends(aligned, SCALES["1h"])[-1] == aligned


def test_bucketize_carries_values_forward() -> None:
    scale = SCALES["1h"]
    minute = timedelta(minutes=1)
    series = [
        [(NOW - timedelta(days=2), 0.5), (NOW - 30 * minute, 0.6), (NOW - 30 * minute + timedelta(seconds=5), 0.65)],
        [(NOW - timedelta(days=2), 0.5), (NOW - 10 * minute, 0.4)],
    ]
    points = bucketize(series, now=NOW, scale=scale)
    assert len(points) == 61 and points[0].values == (0.5, 0.5)  # the value from before the window
    by_time = {point.timestamp: point.values for point in points}
    assert by_time[datetime(2026, 4, 4, 11, 37, tzinfo=UTC)] == (0.5, 0.5)
    assert by_time[datetime(2026, 4, 4, 11, 38, tzinfo=UTC)] == (0.65, 0.5)  # the bucket's last value
    assert by_time[datetime(2026, 4, 4, 11, 58, tzinfo=UTC)] == (0.65, 0.4)
    assert points[-1].timestamp == NOW and points[-1].values == (0.65, 0.4)


def test_bucketize_starts_when_every_outcome_has_a_value() -> None:
    scale = SCALES["1d"]
    series = [[(NOW - timedelta(hours=3), 0.2)], [(NOW - timedelta(hours=2), 0.8)]]
    points = bucketize(series, now=NOW, scale=scale)
    assert points[0].timestamp == datetime(2026, 4, 4, 10, 15, tzinfo=UTC) and points[0].values == (0.2, 0.8)
    assert len(points) == 9  # 10:15 .. 12:00, then now
    assert bucketize([], now=NOW, scale=scale) == [] and bucketize([[]], now=NOW, scale=scale) == []


def test_unknown_scale() -> None:
    assert scale_of(None) == SCALES["1d"] and scale_of("") == SCALES["1d"]
    with pytest.raises(InvalidInput, match="scale") as raised:
        scale_of("2h")
    assert raised.value.code == "invalid_scale"
