"""Price alerts over GraphQL: createPriceAlert / deletePriceAlert payloads, myAlerts and the
AlertFiring log after a crossing, nodes that only their owner can read, the notification stream."""

from __future__ import annotations

from typing import Any

import httpx

from predictql.db import Database
from predictql.settings import Settings
from tests.alerts.test_alert_services import asset_move, swing
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup
from tests.support import USER_ERRORS, Kind, create_user, failure_code, gid, gql, ok_payload

CREATE = f"""mutation($i: CreatePriceAlertInput!) {{ createPriceAlert(input: $i) {{
  alert {{ id symbol direction levelBps assetLevel repeating status fireCount market {{ id }} }} {USER_ERRORS} }} }}"""
DELETE = f"""mutation($i: DeletePriceAlertInput!) {{ deletePriceAlert(input: $i) {{
  deletedAlertId {USER_ERRORS} }} }}"""
MINE = """query($status: AlertStatus) { myAlerts(status: $status) { totalCount nodes { id status fireCount } } }"""
LOG = """{ myAlertFirings { totalCount nodes { id direction levelBps priceBeforeBps priceBps assetLevel assetPrice
  assetPriceBefore symbol firedAt alert { id } market { id } } } }"""


async def test_create_fire_log_delete(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    _, _, (market,) = await create_market_setup(db, probabilities=(0.40,), b=100_000)
    _, token = await trader(db, settings)
    mkt = gid(Kind.MARKET, market.id or 0)
    given = {"direction": "ABOVE", "marketId": mkt, "levelBps": 5000}
    made = ok_payload(await gql(client, CREATE, {"i": given}, token))
    alert = made["alert"]
    assert alert == {
        **alert,
        "symbol": None,
        "direction": "ABOVE",
        "levelBps": 5000,
        "assetLevel": None,
        "repeating": False,
        "status": "ACTIVE",
        "fireCount": 0,
        "market": {"id": mkt},
    }
    btc = ok_payload(
        await gql(
            client,
            CREATE,
            {"i": {"direction": "BELOW", "symbol": "BTCUSDT", "assetLevel": 48000.5, "repeating": True}},
            token,
        )
    )["alert"]
    assert (btc["assetLevel"], btc["levelBps"], btc["market"]) == (48000.5, None, None)

    whale = await create_user(db, balance=10_000_000)
    price = await swing(db, whale, market.id or 0, "buy_yes", 60_000)
    await asset_move(db, "50000", "48000")
    log = (await gql(client, LOG, token=token))["data"]["myAlertFirings"]
    assert log["totalCount"] == 2
    asset, mine = log["nodes"]
    assert (mine["alert"], mine["market"], mine["levelBps"], mine["priceBeforeBps"], mine["priceBps"]) == (
        {"id": alert["id"]},
        {"id": mkt},
        5000,
        4000,
        price,
    )
    assert (asset["symbol"], asset["assetPrice"], asset["assetPriceBefore"], asset["priceBps"]) == (
        "BTCUSDT",
        48000.0,
        50000.0,
        None,
    )
    fired = (await gql(client, MINE, {"status": "FIRED"}, token))["data"]["myAlerts"]
    assert fired == {"totalCount": 1, "nodes": [{"id": alert["id"], "status": "FIRED", "fireCount": 1}]}

    gone = ok_payload(await gql(client, DELETE, {"i": {"id": btc["id"]}}, token))
    assert gone["deletedAlertId"] == btc["id"]
    assert (await gql(client, MINE, token=token))["data"]["myAlerts"]["totalCount"] == 1
    node: Any = await gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": btc["id"]}, token)
    assert node["data"]["node"] is None  # deleted
    firing = await gql(
        client, "query($id: ID!) { node(id: $id) { ... on AlertFiring { alert { id } } } }", {"id": asset["id"]}, token
    )
    assert firing["data"]["node"] == {"alert": None}  # the log stays; its deleted alert does not show


async def test_nobody_reads_or_deletes_another_users_alert(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    _, alice = await trader(db, settings)
    _, bob = await trader(db, settings)
    btc = {"direction": "ABOVE", "symbol": "BTCUSDT", "assetLevel": 1}
    alert = ok_payload(await gql(client, CREATE, {"i": btc}, alice))
    alert_id = alert["alert"]["id"]
    assert failure_code(await gql(client, DELETE, {"i": {"id": alert_id}}, bob)) == "NOT_FOUND"
    node = await gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": alert_id}, bob)
    assert node["data"]["node"] is None
    assert (await gql(client, MINE, token=bob))["data"]["myAlerts"]["totalCount"] == 0
    assert failure_code(await gql(client, MINE)) == "UNAUTHORIZED"
    assert failure_code(await gql(client, CREATE, {"i": btc})) == "UNAUTHORIZED"


async def test_input_rules(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    _, _, (market,) = await create_market_setup(db)
    _, token = await trader(db, settings)
    mkt = gid(Kind.MARKET, market.id or 0)
    for given, code, field in [
        ({"direction": "ABOVE", "marketId": mkt}, "INVALID_REQUEST", "levelBps"),
        ({"direction": "ABOVE", "marketId": mkt, "levelBps": 10000}, "INVALID_PRICE", "levelBps"),
        ({"direction": "BELOW", "symbol": "BTCUSDT", "assetLevel": -1.5}, "INVALID_PRICE", "assetLevel"),
        ({"direction": "ABOVE", "marketId": gid(Kind.EVENT, 1), "levelBps": 5000}, "INVALID_ID", "marketId"),
        ({"direction": "ABOVE", "symbol": "BTCUSDT"}, "INVALID_REQUEST", "assetLevel"),
        ({"direction": "ABOVE", "symbol": "btc", "assetLevel": 5.0}, "INVALID_REQUEST", "symbol"),
    ]:
        body = await gql(client, CREATE, {"i": given}, token)
        assert failure_code(body) == code, given
        error = body["data"]["createPriceAlert"]["userErrors"][0]
        assert error["field"] == ["input", field], error
