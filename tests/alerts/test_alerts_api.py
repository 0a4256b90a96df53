"""Price alerts over REST (our extension): create, list, delete, the log after a crossing, the
per-user limit, validation, and nobody touching another user's alerts."""

from __future__ import annotations

from typing import Any

import httpx

from predictql.db import Database
from predictql.settings import Settings
from tests.alerts.test_alert_services import asset_move, swing
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup
from tests.support import bearer, create_user


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


async def create(client: httpx.AsyncClient, token: str, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/alerts", json=body, headers=bearer(token))


async def test_create_list_fire_log_delete(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    _, _, (market,) = await create_market_setup(db, probabilities=(0.40,), b=100_000)
    _, token = await trader(db, settings)
    made = await create(client, token, market_id=market.id, direction="above", level=5000)
    assert made.status_code == 201, made.text
    alert = made.json()
    assert alert == {
        **alert,
        "market_id": market.id,
        "symbol": None,
        "direction": "above",
        "level": 5000,
        "repeating": False,
        "status": "active",
        "fire_count": 0,
        "last_fired_at": None,
    }
    btc = (await create(client, token, symbol="BTCUSDT", direction="below", level=48000.5, repeating=True)).json()
    assert (btc["level"], btc["market_id"]) == (48000.5, None)
    listed = (await client.get("/api/v1/alerts", headers=bearer(token))).json()
    assert [a["id"] for a in listed] == [btc["id"], alert["id"]]

    whale = await create_user(db, balance=10_000_000)
    price = await swing(db, whale, market.id or 0, "buy_yes", 60_000)
    await asset_move(db, "50000", "48000")
    log = (await client.get("/api/v1/alerts/log", headers=bearer(token))).json()
    assert [(f["alert_id"], f["price"]) for f in log] == [(btc["id"], 48000.0), (alert["id"], price)]
    assert log[1] == {**log[1], "direction": "above", "level": 5000, "price_before": 4000, "market_id": market.id}
    fired = (await client.get("/api/v1/alerts?status=fired", headers=bearer(token))).json()
    assert [(a["id"], a["fire_count"]) for a in fired] == [(alert["id"], 1)]
    active = (await client.get("/api/v1/alerts?status=active", headers=bearer(token))).json()
    assert [a["id"] for a in active] == [btc["id"]]

    gone = await client.delete(f"/api/v1/alerts/{btc['id']}", headers=bearer(token))
    assert gone.status_code == 200 and gone.json() == {"message": "alert deleted successfully"}
    assert [a["id"] for a in (await client.get("/api/v1/alerts", headers=bearer(token))).json()] == [alert["id"]]
    assert len((await client.get("/api/v1/alerts/log", headers=bearer(token))).json()) == 2  # the log stays


async def test_nobody_sees_or_deletes_another_users_alerts(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    _, alice_token = await trader(db, settings)
    _, bob_token = await trader(db, settings)
    alert = (await create(client, alice_token, symbol="BTCUSDT", direction="above", level="4000")).json()
    assert error_of(await client.delete(f"/api/v1/alerts/{alert['id']}", headers=bearer(bob_token)), 404) == "NOT_FOUND"
    assert (await client.get("/api/v1/alerts", headers=bearer(bob_token))).json() == []
    await asset_move(db, "3000", "5000")
    assert (await client.get("/api/v1/alerts/log", headers=bearer(bob_token))).json() == []
    assert len((await client.get("/api/v1/alerts/log", headers=bearer(alice_token))).json()) == 1
    assert error_of(await client.get("/api/v1/alerts"), 401) == "UNAUTHORIZED"
    assert error_of(await client.get("/api/v1/alerts/log"), 401) == "UNAUTHORIZED"


async def test_limit_and_validation(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    _, _, (market,) = await create_market_setup(db)
    _, token = await trader(db, settings)
    for bad, code in [
        ({"market_id": market.id, "direction": "above", "level": 0}, "INVALID_PRICE"),
        ({"market_id": market.id, "direction": "above", "level": 5000.5}, "INVALID_PRICE"),
        ({"market_id": market.id, "direction": "up", "level": 5000}, "INVALID_REQUEST"),
        ({"market_id": market.id, "direction": "above", "level": True}, "INVALID_REQUEST"),
        ({"market_id": market.id, "direction": "above", "level": "NaN"}, "INVALID_REQUEST"),
        ({"direction": "above", "level": 5000}, "INVALID_REQUEST"),
        ({"market_id": market.id, "direction": "above", "level": 5000, "when": "now"}, "INVALID_REQUEST"),
    ]:
        assert error_of(await create(client, token, **bad), 400) == code, bad
    missing = await create(client, token, market_id=999_999, direction="above", level=5000)
    assert error_of(missing, 404) == "MARKET_NOT_FOUND"
    for n in range(settings.alert_max_active):
        assert (await create(client, token, symbol="SOLUSDT", direction="above", level=100 + n)).status_code == 201
    over = await create(client, token, symbol="SOLUSDT", direction="above", level=1)
    assert error_of(over, 409) == "ALERT_LIMIT_REACHED"
    assert error_of(await client.delete("/api/v1/alerts/log", headers=bearer(token)), 405) == "METHOD_NOT_ALLOWED"
