"""Asset prices and FX on every face: REST shapes and codes, GraphQL (queries, admin mutations,
node ids, the live stream), the raw ``/ws/assets/{symbol}/price`` feed, the CLI, and the recording
rules (newest wins, one history point per period, staleness)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.cli import main
from predictql.db import Database, utcnow
from predictql.models import AssetPricePoint, AuditEntry
from predictql.services import assets
from predictql.settings import Settings
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import data
from tests.subscriptions.wsclient import AsgiSocket, GraphQLSocket
from tests.support import USER_ERRORS, failure_code, gql, ok_payload, user_with_token

ADMIN = Actor(user_id=None, is_admin=True)
ASSET_KEYS = {"id", "symbol", "name", "asset_type", "price", "price_updated_at", "created_at", "source", "stale"}


async def set_price(db: Database, symbol: str, price: str) -> None:
    async with db.transaction() as session:
        await assets.set_price(session, None, symbol=symbol, price=price, record_seconds=1.0)


async def record(db: Database, symbol: str, price: str, age: float, source: str = "bybit") -> bool:
    async with db.transaction() as session:
        return await assets.record_price(
            session,
            symbol=symbol,
            price_e8=assets.parse_e8(price),
            source=source,
            as_of=utcnow() - timedelta(seconds=age),
            record_seconds=1.0,
        )


async def test_asset_price_in_the_documented_shape(client: httpx.AsyncClient, db: Database) -> None:
    await set_price(db, "BTCUSDT", "84532.17")
    response = await client.get("/api/v1/assets/btcusdt/price")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == ASSET_KEYS
    assert body["symbol"] == "BTCUSDT" and body["name"] == "Bitcoin" and body["asset_type"] == "crypto"
    assert body["price"] == 84532.17 and isinstance(body["id"], int)
    assert body["source"] == "operator" and body["stale"] is False
    assert body["price_updated_at"].endswith("Z") and body["created_at"].endswith("Z")


async def test_unknown_asset_is_404_not_found(client: httpx.AsyncClient, db: Database) -> None:
    for path in ("/api/v1/assets/NOPEUSDT/price", "/api/v1/assets/BTC-USDT/price"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


async def test_newest_price_wins_and_old_ones_are_stale(client: httpx.AsyncClient, db: Database) -> None:
    assert await record(db, "ETHUSDT", "3000.5", age=120)
    body = (await client.get("/api/v1/assets/ETHUSDT/price")).json()
    assert body["price"] == 3000.5 and body["source"] == "bybit" and body["stale"] is True  # 120 s > 60 s
    assert not await record(db, "ETHUSDT", "1", age=300)  # older than the stored one: ignored
    assert await record(db, "ETHUSDT", "3001", age=0)
    body = (await client.get("/api/v1/assets/ETHUSDT/price")).json()
    assert body["price"] == 3001 and body["stale"] is False


async def test_history_keeps_one_point_per_period(db: Database) -> None:
    now = utcnow().replace(microsecond=0)  # a period's start: now and now + 0.1 s share one 1-second period
    async with db.transaction() as session:
        for price, shift in (("10", 0.0), ("11", 0.1), ("12", 5.0)):
            await assets.record_price(
                session,
                symbol="SOLUSDT",
                price_e8=assets.parse_e8(price),
                source="bybit",
                as_of=now + timedelta(seconds=shift),
                record_seconds=1.0,
            )
    async with db.session() as session:
        points = list(await session.scalars(select(AssetPricePoint).order_by(col(AssetPricePoint.as_of))))
    # Two periods, whatever the number of processes writing them; the current price is the newest.
    assert len(points) == 2 and points[-1].price_e8 == assets.parse_e8("12")


def test_prices_parse_exactly() -> None:
    assert assets.parse_e8("84532.17") == 8_453_217_000_000
    assert assets.to_text(assets.parse_e8("0.00001234")) == "0.00001234"
    for bad in ("0", "-1", "abc", "NaN", "inf", "1e30", "1e999999999", "1e-9", "9" * 5000):
        with pytest.raises(Exception, match="price"):
            assets.parse_e8(bad)


async def test_currency_rate_direct_inverse_and_crossed(client: httpx.AsyncClient, db: Database) -> None:
    async with db.transaction() as session:
        await assets.set_rate(session, None, base="USD", quote="RUB", rate="92.45")
        await assets.set_rate(session, None, base="EUR", quote="RUB", rate="100")
    body = (await client.get("/api/v1/currency/rate", params={"from": "USD", "to": "RUB"})).json()
    assert body["from"] == "USD" and body["to"] == "RUB" and body["rate"] == 92.45
    assert body["source"] == "operator" and body["stale"] is False and body["as_of"].endswith("Z")
    inverse = (await client.get("/api/v1/currency/rate", params={"from": "rub", "to": "usd"})).json()
    assert inverse["rate"] == pytest.approx(1 / 92.45)
    crossed = (await client.get("/api/v1/currency/rate", params={"from": "USD", "to": "EUR"})).json()
    assert crossed["rate"] == pytest.approx(0.9245)


async def test_currency_rate_errors(client: httpx.AsyncClient, db: Database) -> None:
    for params in ({"from": "USD"}, {"from": "US", "to": "RUB"}, {"from": "USD", "to": "R1B"}, {}):
        response = await client.get("/api/v1/currency/rate", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == "bad_request"
    response = await client.get("/api/v1/currency/rate", params={"from": "USD", "to": "JPY"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


SET_PRICE = f"""mutation($s: String!, $p: String!) {{ setAssetPrice(input: {{symbol: $s, price: $p}}) {{
  assetPrice {{ id symbol name price priceDecimal source asOf stale }} {USER_ERRORS} }} }}"""
SET_RATE = f"""mutation($f: String!, $t: String!, $r: String!) {{
  setCurrencyRate(input: {{from: $f, to: $t, rate: $r}}) {{
    currencyRate {{ from to rate source stale }} {USER_ERRORS} }} }}"""
PRICE = """query($s: String!) { assetPrice(symbol: $s) { id symbol price priceDecimal source stale
  history(first: 10) { totalCount nodes { price priceDecimal source asOf } } } }"""


async def test_admins_set_prices_and_rates_over_graphql(client: httpx.AsyncClient, db: Database) -> None:
    admin_id, admin = await user_with_token(client, db, is_admin=True)
    _, plain = await user_with_token(client, db)
    assert failure_code(await gql(client, SET_PRICE, {"s": "BTCUSDT", "p": "1"})) == "UNAUTHORIZED"
    assert failure_code(await gql(client, SET_PRICE, {"s": "BTCUSDT", "p": "1"}, plain)) == "FORBIDDEN"
    assert failure_code(await gql(client, SET_PRICE, {"s": "BTCUSDT", "p": "-5"}, admin)) == "BAD_REQUEST"
    assert failure_code(await gql(client, SET_PRICE, {"s": "BTC/USDT", "p": "5"}, admin)) == "BAD_REQUEST"

    payload = ok_payload(await gql(client, SET_PRICE, {"s": "btcusdt", "p": "84532.17"}, admin))
    price = payload["assetPrice"]
    assert price["symbol"] == "BTCUSDT" and price["price"] == 84532.17 and price["priceDecimal"] == "84532.17"
    assert price["source"] == "OPERATOR" and price["stale"] is False and price["id"].startswith("ast_")

    body = await gql(client, PRICE, {"s": "BTCUSDT"})
    shown = body["data"]["assetPrice"]
    assert shown["id"] == price["id"] and shown["history"]["totalCount"] == 1
    assert shown["history"]["nodes"][0]["priceDecimal"] == "84532.17"
    node_query = "query($id: ID!) { node(id: $id) { id ... on AssetPrice { symbol } } }"
    node = await gql(client, node_query, {"id": price["id"]})
    assert node["data"]["node"] == {"id": price["id"], "symbol": "BTCUSDT"}
    assert (await gql(client, PRICE, {"s": "DOGEUSDT"}))["data"]["assetPrice"] is None

    rate = ok_payload(await gql(client, SET_RATE, {"f": "usd", "t": "RUB", "r": "92.45"}, admin))["currencyRate"]
    assert rate == {"from": "USD", "to": "RUB", "rate": 92.45, "source": "OPERATOR", "stale": False}
    assert failure_code(await gql(client, SET_RATE, {"f": "USD", "t": "RUB", "r": "1"}, plain)) == "FORBIDDEN"
    assert failure_code(await gql(client, SET_RATE, {"f": "USD", "t": "USD", "r": "1"}, admin)) == "BAD_REQUEST"
    query = 'query { currencyRate(from: "RUB", to: "USD") { rate } }'
    assert (await gql(client, query))["data"]["currencyRate"]["rate"] == pytest.approx(1 / 92.45)
    async with db.session() as session:
        actions = list(await session.scalars(select(AuditEntry.action).where(col(AuditEntry.actor_id) == admin_id)))
    assert sorted(actions) == ["asset_price.set", "fx_rate.set"]


async def test_raw_feed_sends_price_updates(live: Live, db: Database) -> None:
    await set_price(live.db, "BTCUSDT", "84532.17")
    async with AsgiSocket(live.app, "/api/v1/ws/assets/btcusdt/price") as ws:
        assert await ws.receive_json() == {"type": "price_update", "symbol": "BTCUSDT", "price": 84532.17}
        await set_price(live.db, "BTCUSDT", "84600")
        frame = await ws.receive_json()
        assert frame == {"type": "price_update", "symbol": "BTCUSDT", "price": 84600.0}
        assert len(json.dumps(frame)) <= 128


async def test_raw_feed_of_a_followed_symbol_waits_for_its_first_price(live: Live, db: Database) -> None:
    async with AsgiSocket(live.app, "/api/v1/ws/assets/SOLUSDT/price") as ws:
        await ws.nothing(0.1)
        await set_price(live.db, "SOLUSDT", "150.25")
        assert await ws.receive_json() == {"type": "price_update", "symbol": "SOLUSDT", "price": 150.25}


async def test_raw_feed_refuses_unknown_symbols(live: Live, db: Database) -> None:
    for path in ("/api/v1/ws/assets/NOPEUSDT/price", "/api/v1/ws/assets/B%20TC/price"):
        async with AsgiSocket(live.app, path) as ws:
            assert ws.accepted is None
            status, body = ws.denied
            assert status == 404 and body["error"]["code"] == "NOT_FOUND"


STREAM = """subscription($s: String!, $from: Long) { assetPrice(symbol: $s, fromSeq: $from) {
  kind seq data { assetId symbol price priceDecimal source asOf } } }"""


async def test_asset_price_subscription_snapshot_live_and_resume(live: Live, db: Database) -> None:
    await set_price(live.db, "ETHUSDT", "3000")
    async with GraphQLSocket(live.app) as ws:
        op = await ws.subscribe(STREAM, {"s": "ethusdt"})
        first = data(await ws.next(op), "assetPrice")
        assert first["kind"] == "SNAPSHOT" and first["priceDecimal"] == "3000" and first["source"] == "OPERATOR"
        await set_price(live.db, "ETHUSDT", "3100.5")
        second = data(await ws.next(op), "assetPrice")
        assert second["kind"] == "LIVE" and second["price"] == 3100.5 and second["seq"] > first["seq"]
        await ws.complete(op)
        await set_price(live.db, "ETHUSDT", "3200")
        op = await ws.subscribe(STREAM, {"s": "ETHUSDT", "from": second["seq"]})
        missed = data(await ws.next(op), "assetPrice")
        assert missed["kind"] == "LIVE" and missed["priceDecimal"] == "3200"
        await ws.complete(op)
        op = await ws.subscribe(STREAM, {"s": "NOPEUSDT"})
        refused = await ws.next(op)
        assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> None:
    monkeypatch.setenv("PREDICTQL_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("PREDICTQL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PREDICTQL_JWT_SECRET", "cli-secret-" + "x" * 40)
    monkeypatch.setenv("PREDICTQL_LOG_LEVEL", "WARNING")


def test_cli_sets_prices_and_rates(cli_env: None, db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "set", "btcusdt", "84532.17"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["symbol"] == "BTCUSDT" and shown["price"] == "84532.17" and shown["source"] == "operator"
    assert main(["fx", "set", "USD", "RUB", "92.45"]) == 0
    assert json.loads(capsys.readouterr().out)["rate"] == "92.45"
    assert main(["prices", "set", "BTCUSDT", "zero"]) == 2
    assert "price" in capsys.readouterr().err


def test_metrics_label_asset_streams_without_the_symbol() -> None:
    from predictql import metrics

    assert metrics.stream_of("asset:BTCUSDT:price") == metrics.stream_of("asset:ANYTHING1:price")
    assert metrics.stream_of("asset:BTCUSDT:price") == "asset:{symbol}:price"
