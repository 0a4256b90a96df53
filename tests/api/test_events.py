"""REST group ``events``: create (shell and full), read, visibility, update, image, suggest,
loop-event lookup, the feed (cursor walk, filters, cards) and ownership of every write route."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import func, select, update

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.models import Event, Pool
from predictql.services import lmsr_trading
from predictql.services.lmsr_trading import TradeRequest
from tests.api.test_users import TINY_JPEG, fast_user, tiny_png
from tests.support import bearer

API = "/api/v1"
EVENT_KEYS = {
    "id",
    "name",
    "name_ru",
    "tags",
    "image_url",
    "status",
    "is_active",
    "created_at",
    "closed_at",
    "versus_names",
    "versus_images",
    "has_draw",
    "main_pool_id",
    "is_loop_event",
    "loop_interval_minutes",
    "pools",
}
FEE = 200


# --- helpers shared by the other REST market test modules ---------------------------------------


def iso(delta: timedelta) -> str:
    return (utcnow() + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def pool_body(
    names: tuple[str, ...] = ("Yes",), probabilities: tuple[float, ...] = (0.55,), *, live: bool = True, **extra: Any
) -> dict[str, Any]:
    return {
        "name": "Main Pool",
        "finish_at": iso(timedelta(days=3)),
        "live_at": iso(timedelta(minutes=-5) if live else timedelta(hours=2)),
        "metadata": {"market_names": list(names), "market_probabilities": list(probabilities)},
        **extra,
    }


async def make_event(
    http: httpx.AsyncClient, token: str, *pools: dict[str, Any], active: bool = True, **fields: Any
) -> dict[str, Any]:
    """An event made through create-full (one live Yes pool unless ``pools`` are given), shown if ``active``."""
    body = {"name": "Will it rain?", "tags": ["weather"], "pools": list(pools) or [pool_body()], **fields}
    created = await http.post(f"{API}/events/create-full", json=body, headers=bearer(token))
    assert created.status_code == 201, created.text
    event: dict[str, Any] = created.json()
    if active:
        shown = await http.post(f"{API}/events/{event['id']}/active", json={"is_active": True}, headers=bearer(token))
        assert shown.status_code == 200, shown.text
        event["is_active"] = True
    return event


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


async def trade(db: Database, user_id: int, market_id: int, side: str = "buy_yes", amount: int = 1000) -> Any:
    async with db.transaction() as session:
        return await lmsr_trading.trade(
            session, Actor(user_id=user_id), TradeRequest(market_id, side, "spend", amount), fee_bps=FEE
        )


# --- create ---------------------------------------------------------------------------------------


async def test_create_shell_event_matches_the_example(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    body = {
        "name": "Will SOL reach $300 by July?",
        "name_ru": "SOL достигнет $300 к июлю?",
        "tags": ["crypto", "solana"],
        "versus_names": ["Yes", "No"],
        "versus_images": [],
        "has_draw": False,
    }
    response = await client.post(f"{API}/events", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    event = response.json()
    assert set(event) == EVENT_KEYS  # is_watched only on reads
    assert {k: event[k] for k in body} == body
    assert (event["image_url"], event["status"], event["is_active"], event["pools"]) == ("", "new", False, [])
    assert event["created_at"].endswith("Z") and event["closed_at"] is None and event["main_pool_id"] is None


async def test_only_creators_and_admins_create(client: httpx.AsyncClient, db: Database) -> None:
    _, plain = await fast_user(db)
    _, admin = await fast_user(db, is_admin=True)
    for path, body in (("/events", {"name": "X"}), ("/events/create-full", {"name": "X", "pools": [pool_body()]})):
        assert error(await client.post(API + path, json=body, headers=bearer(plain)), 403) == "FORBIDDEN"
        assert (await client.post(API + path, json=body, headers=bearer(admin))).status_code == 201
    assert error(await client.post(f"{API}/events", json={"name": "X"}), 401) == "UNAUTHORIZED"


async def test_create_full_builds_event_pools_and_markets(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    pools = [
        pool_body(("Yes",), (0.3,)),
        {
            **pool_body(("Team A", "Draw", "Team B"), (0.4, 0.25, 0.35)),
            "name": "Winner",
            "margin": 0.02,
            "rules": "90 minutes",
            "metadata": {
                "market_names": ["Team A", "Draw", "Team B"],
                "market_probabilities": [0.4, 0.25, 0.35],
                "lmsr_b_kopecks": 300000,
                "asset_symbol": "BTC",
                "volume_min_kopecks": 100,
            },
        },
    ]
    event = await make_event(
        client, token, *pools, active=False, main_pool_index=1, loop_interval_minutes=60, image_url="https://x/y.png"
    )
    assert set(event) == EVENT_KEYS and event["status"] == "started"
    assert (event["is_loop_event"], event["loop_interval_minutes"], event["image_url"]) == (True, 60, "https://x/y.png")
    first, second = event["pools"]
    assert event["main_pool_id"] == second["id"]
    assert [m["name"] for m in second["markets"]] == ["Team A", "Draw", "Team B"]
    assert [m["yes_probability"] for m in second["markets"]] == [0.4, 0.25, 0.35]
    assert (
        {m["b"] for m in second["markets"]} == {3000} and second["margin"] == 0.02 and second["rules"] == "90 minutes"
    )
    assert second["metadata"] == {
        "market_names": ["Team A", "Draw", "Team B"],
        "market_probabilities": [0.4, 0.25, 0.35],
        "lmsr_b_kopecks": 300000,
        "asset_symbol": "BTC",
        "volume_min_kopecks": 100,
    }
    assert first["metadata"]["lmsr_b_kopecks"] == 1_000_000 and first["markets"][0]["b"] == 10000
    got = await client.get(f"{API}/events/{event['id']}", headers=bearer(token))
    assert got.json() == {**event, "is_watched": False}
    timeframes = await client.get(f"{API}/events/asset-timeframes/BTCUSDT")
    assert timeframes.json() == []  # hidden events are not offered


async def test_create_full_is_one_transaction(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    bad_pool = pool_body(("A", "B"), (0.5, 0.6))
    response = await client.post(
        f"{API}/events/create-full", json={"name": "X", "pools": [pool_body(), bad_pool]}, headers=bearer(token)
    )
    assert error(response, 400) == "invalid_probabilities"
    for body in (
        {"name": "X", "pools": [pool_body()], "main_pool_index": 1},
        {"name": "X", "pools": []},
        {"name": "X"},
    ):
        assert error(await client.post(f"{API}/events/create-full", json=body, headers=bearer(token)), 400)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 0
        assert await session.scalar(select(func.count()).select_from(Pool)) == 0


async def test_bad_bodies_are_400(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    for body in (
        {},
        {"name": ""},
        {"name": 5},
        {"name": "x", "tags": "a,b"},
        {"name": "x" * 301},
        {"name": "x", "name_ru": "я" * 301},
        {"name": "x", "image_url": "h" * 501},
        {"name": "x", "tags": ["a"] * 21},
    ):
        assert error(await client.post(f"{API}/events", json=body, headers=bearer(token)), 400) == "INVALID_REQUEST", (
            body
        )


# --- read and visibility --------------------------------------------------------------------------


async def test_get_event_404_envelope_and_hidden_events(client: httpx.AsyncClient, db: Database) -> None:
    _, owner = await fast_user(db, is_creator=True)
    _, other = await fast_user(db)
    _, admin = await fast_user(db, is_admin=True)
    missing = await client.get(f"{API}/events/987654")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "NOT_FOUND", "message": "event not found"}}
    hidden = await make_event(client, owner, active=False)
    path = f"{API}/events/{hidden['id']}"
    assert error(await client.get(path), 404) == "NOT_FOUND"
    assert error(await client.get(path, headers=bearer(other)), 404) == "NOT_FOUND"
    for token in (owner, admin):
        assert (await client.get(path, headers=bearer(token))).json()["id"] == hidden["id"]
    assert (await client.get(f"{API}/events/abc")).status_code == 400
    # a write route on a hidden event does not reveal it either
    assert error(await client.put(path, json={"name": "Y"}, headers=bearer(other)), 404) == "NOT_FOUND"


async def test_literal_routes_are_not_taken_by_event_id(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db)
    assert (await client.get(f"{API}/events/feed")).json()["events"] == []
    assert (await client.get(f"{API}/events/asset-timeframes/ETHUSDT")).json() == []
    suggestion = await client.post(f"{API}/events/suggest", json={"name": "Moon by 2030?"}, headers=bearer(token))
    assert suggestion.status_code == 201 and suggestion.json()["status"] == "received"
    assert isinstance(suggestion.json()["id"], int)
    assert error(await client.post(f"{API}/events/suggest", json={"name": "x"}), 401) == "UNAUTHORIZED"
    assert error(await client.post(f"{API}/events/suggest", json={"tags": []}, headers=bearer(token)), 400)


async def test_update_event(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event = await make_event(client, token, pool_body(), pool_body(("A", "B"), (0.5, 0.5)))
    second = event["pools"][1]["id"]
    body = {
        "name": "Renamed",
        "tags": ["Sport", "x"],
        "has_draw": True,
        "versus_names": ["A", "B"],
        "main_pool_id": second,
    }
    response = await client.put(f"{API}/events/{event['id']}", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["name"], updated["tags"], updated["has_draw"]) == ("Renamed", ["sport", "x"], True)
    assert updated["main_pool_id"] == second and updated["versus_names"] == ["A", "B"] and len(updated["pools"]) == 2
    bad = await client.put(f"{API}/events/{event['id']}", json={"main_pool_id": 999999}, headers=bearer(token))
    assert error(bad, 400) == "INVALID_REQUEST"
    assert error(await client.put(f"{API}/events/999999", json={}, headers=bearer(token)), 404) == "NOT_FOUND"


async def test_active_flag_hides_and_shows(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event = await make_event(client, token)
    path = f"{API}/events/{event['id']}"
    hide = await client.post(f"{path}/active", json={"is_active": False}, headers=bearer(token))
    assert hide.status_code == 200 and hide.json() == {"status": "ok"}
    assert (await client.get(f"{API}/events/feed")).json()["events"] == []
    assert error(await client.get(path), 404) == "NOT_FOUND"
    assert error(await client.post(f"{path}/active", json={"is_active": "yes"}, headers=bearer(token)), 400)
    await client.post(f"{path}/active", json={"is_active": True}, headers=bearer(token))
    assert (await client.get(path)).json()["is_active"] is True


async def test_asset_timeframes(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    for minutes, name in ((60, "BTC 1h"), (5, "BTC 5m")):
        await make_event(
            client, token, name=name, name_ru=name + " ru", loop_interval_minutes=minutes, asset_symbol="BTC"
        )
    await make_event(client, token, name="ETH 5m", loop_interval_minutes=5, asset_symbol="ETH")
    await make_event(client, token, name="BTC one-off", asset_symbol="BTC")
    response = await client.get(f"{API}/events/asset-timeframes/BTCUSDT")
    assert [(r["loop_interval_minutes"], r["name"], r["name_ru"]) for r in response.json()] == [
        (5, "BTC 5m", "BTC 5m ru"),
        (60, "BTC 1h", "BTC 1h ru"),
    ]
    assert set(response.json()[0]) == {"event_id", "loop_interval_minutes", "name", "name_ru"}
    assert error(await client.get(f"{API}/events/asset-timeframes/btc-usdt"), 400) == "INVALID_REQUEST"


# --- image ----------------------------------------------------------------------------------------


async def test_image_upload_serve_replace_delete(client: httpx.AsyncClient, db: Database, data_dir: Path) -> None:
    _, token = await fast_user(db, is_creator=True)
    _, other = await fast_user(db)
    event = await make_event(client, token)
    path = f"{API}/events/{event['id']}/image"
    uploaded = await client.post(path, files={"image": ("a.png", tiny_png(), "image/png")}, headers=bearer(token))
    assert uploaded.status_code == 200, uploaded.text
    first_url = uploaded.json()["image_url"]
    media = urlparse(first_url).path
    assert media.startswith(f"/media/avatars/event_{event['id']}_") and media.endswith(".png")
    assert (await client.get(media)).content == tiny_png()
    assert (await client.get(f"{API}/events/{event['id']}")).json()["image_url"] == first_url
    replaced = await client.post(path, files={"image": ("b.jpg", TINY_JPEG, "image/jpeg")}, headers=bearer(token))
    assert replaced.json()["image_url"].endswith(".jpg")
    assert not (data_dir / "avatars" / Path(media).name).exists()  # the replaced file is gone
    for files in (
        {"image": ("a.gif", b"GIF89a" + b"\0" * 20, "image/gif")},
        {"image": ("x.png", b"<svg/>", "image/png")},
        {"picture": ("a.png", tiny_png(), "image/png")},
    ):
        assert error(await client.post(path, files=files, headers=bearer(token)), 400) == "INVALID_REQUEST"
    denied = await client.post(path, files={"image": ("a.png", tiny_png(), "image/png")}, headers=bearer(other))
    assert error(denied, 403) == "FORBIDDEN"
    deleted = await client.delete(path, headers=bearer(token))
    assert deleted.status_code == 200 and deleted.json() == {}
    assert (await client.get(f"{API}/events/{event['id']}")).json()["image_url"] == ""
    assert not (data_dir / "avatars" / Path(urlparse(replaced.json()["image_url"]).path).name).exists()


# --- feed -----------------------------------------------------------------------------------------


async def test_feed_cursor_walk(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    made = [(await make_event(client, token, name=f"E{i}"))["id"] for i in range(25)]
    seen: list[int] = []
    cursor, pages = None, 0
    while True:
        params = {"limit": "10", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{API}/events/feed", params=params)).json()
        assert set(page) == {"events", "next_cursor", "has_more"}
        seen += [item["event"]["id"] for item in page["events"]]
        pages += 1
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert pages == 3 and seen == sorted(made, reverse=True) and len(set(seen)) == 25
    default = (await client.get(f"{API}/events/feed")).json()
    assert len(default["events"]) == 20 and default["has_more"] is True
    for params in ({"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"cursor": "%%%"}, {"status": "weird"}):
        assert error(await client.get(f"{API}/events/feed", params=params), 400) == "INVALID_REQUEST", params


async def test_feed_card_shape(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    trader, trader_token = await fast_user(db, balance=100_000)
    event = await make_event(client, token, pool_body(("A", "B", "C"), (0.2, 0.3, 0.5)), pool_body())
    main, other = event["pools"]
    a, _, c = (m["id"] for m in main["markets"])
    for market_id, amount in ((c, 3000), (a, 5000), (other["markets"][0]["id"], 700)):
        await trade(db, trader, market_id, amount=amount)
    page = (await client.get(f"{API}/events/feed")).json()
    (item,) = page["events"]
    assert set(item) == {"event", "main_pool", "markets", "total_volume"}
    assert set(item["event"]) == EVENT_KEYS - {"pools"}
    assert item["main_pool"] == {"id": main["id"], "name": "Main Pool", "finish_at": main["finish_at"]}
    assert [m["id"] for m in item["markets"]] == [a, c] and set(item["markets"][0]) == {"id", "name", "yes_probability"}
    pools = (await client.get(f"{API}/events/{event['id']}")).json()["pools"]
    assert item["total_volume"] == sum(m["volume"] for p in pools for m in p["markets"]) > 0
    watched = await client.post(f"{API}/users/me/watchlist/{event['id']}", headers=bearer(trader_token))
    assert watched.status_code == 200
    mine = (await client.get(f"{API}/events/feed", headers=bearer(trader_token))).json()["events"][0]["event"]
    assert mine["is_watched"] is True
    _, stranger = await fast_user(db)
    assert (await client.get(f"{API}/events/feed", headers=bearer(stranger))).json()["events"][0]["event"][
        "is_watched"
    ] is False


async def test_feed_filters(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    new = await make_event(client, token, pool_body(live=False), name="Bitcoin halving", tags=["crypto"])
    started = await make_event(client, token, name="Election", tags=["politics", "World"])
    paid = await make_event(client, token, name="Final score", tags=["sport"])
    cancelled = await make_event(client, token, name="Postponed match", tags=["sport"])
    await make_event(client, token, name="Hidden bitcoin", tags=["crypto"], active=False)
    closed = await client.post(f"{API}/events/{paid['id']}/close", json={"won_side": "YES"}, headers=bearer(token))
    assert closed.status_code == 200, closed.text
    assert (await client.post(f"{API}/events/{cancelled['id']}/cancel", headers=bearer(token))).status_code == 200

    async def ids(**params: str) -> list[int]:
        response = await client.get(f"{API}/events/feed", params=params)
        assert response.status_code == 200, response.text
        return [item["event"]["id"] for item in response.json()["events"]]

    assert await ids() == [paid["id"], started["id"], new["id"]]  # cancelled events leave the feed
    assert await ids(tags="crypto") == [new["id"]]
    assert await ids(tags="world,sport") == [paid["id"], started["id"]]
    assert await ids(q="BITCOIN") == [new["id"]]
    assert await ids(q="100%_") == []
    expected = {"new": new, "started": started, "paid": paid, "cancelled": cancelled}
    for status, event in expected.items():
        assert await ids(status=status) == [event["id"]], status
        assert (await client.get(f"{API}/events/{event['id']}")).json()["status"] == status
    assert await ids(status="active") == [started["id"]] and await ids(status="closed") == [paid["id"]]
    assert await ids(status="paid", tags="sport", q="final") == [paid["id"]]


async def test_status_new_then_started(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event = await make_event(client, token, pool_body(live=False))
    assert event["status"] == "new"
    async with db.transaction() as session:  # time passes: the pool's live_at is reached
        await session.execute(update(Pool).where(Pool.event_id == event["id"]).values(live_at=utcnow()))
    assert (await client.get(f"{API}/events/{event['id']}")).json()["status"] == "started"


# --- ownership of every write route ---------------------------------------------------------------


async def test_every_event_write_route_refuses_non_owners(client: httpx.AsyncClient, db: Database) -> None:
    _, owner = await fast_user(db, is_creator=True)
    _, other_creator = await fast_user(db, is_creator=True)
    event = await make_event(client, owner)
    e, p, m = event["id"], event["pools"][0]["id"], event["pools"][0]["markets"][0]["id"]
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", f"/events/{e}", {"json": {"name": "mine now"}}),
        ("POST", f"/events/{e}/image", {"files": {"image": ("a.png", tiny_png(), "image/png")}}),
        ("DELETE", f"/events/{e}/image", {}),
        ("POST", f"/events/{e}/active", {"json": {"is_active": False}}),
        ("POST", f"/events/{e}/close", {"json": {"won_side": "YES"}}),
        ("POST", f"/events/{e}/pools/{p}/close", {"json": {"won_side": "YES"}}),
        ("POST", f"/events/{e}/pools/{p}/markets/{m}/close", {"json": {"won_side": "YES"}}),
        ("POST", f"/events/{e}/cancel", {}),
        ("POST", f"/events/{e}/pools", {"json": pool_body()}),
        ("PUT", f"/events/{e}/pools/{p}/probabilities", {"json": {"probabilities": [0.5]}}),
    ]
    for method, path, kwargs in calls:
        response = await client.request(method, API + path, headers=bearer(other_creator), **kwargs)
        assert error(response, 403) in ("FORBIDDEN", "forbidden"), (method, path)
    after = (await client.get(f"{API}/events/{e}")).json()
    assert after["name"] == event["name"] and after["status"] == "started" and len(after["pools"]) == 1
