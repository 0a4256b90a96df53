"""The GraphQL twins of REST routes that had none: they answer what the REST route answers."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlparse

import httpx

from predictql.db import Database
from predictql.schema.ids import Kind, encode
from tests.api.test_events import API, make_event, tiny_png
from tests.api.test_users import fast_user
from tests.graphql.test_notifications_graphql import seed
from tests.support import bearer, gid, gql


def data(body: dict[str, Any]) -> Any:
    assert "errors" not in body, body["errors"]
    return body["data"]


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


def user_error(body: dict[str, Any], name: str) -> tuple[str, list[str] | None]:
    """The one userError of mutation ``name``: (code, field); its other fields are null."""
    payload = data(body)[name]
    (error,) = payload.pop("userErrors")
    assert all(value is None for value in payload.values()), payload
    return error["code"], error["field"]


WATCH = """mutation($e: ID!) { watchEvent(input: {eventId: $e}) { event { id name isWatched }
                                                                  userErrors { field message code } } }"""
UNWATCH = """mutation($e: ID!) { unwatchEvent(input: {eventId: $e}) { unwatchedEventId event { id isWatched }
                                                                      userErrors { code } } }"""
WATCHLIST = "{ myWatchlist { totalCount nodes { id name isWatched pools { name } } } }"
WATCHLIST_PAGE = """query($first: Int, $after: String, $last: Int, $before: String) {
  myWatchlist(first: $first, after: $after, last: $last, before: $before) {
    nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


async def test_watchlist(client: httpx.AsyncClient, db: Database) -> None:
    _, creator = await fast_user(db, is_creator=True)
    _, token = await fast_user(db)
    first = await make_event(client, creator, name="First")
    second = await make_event(client, creator, name="Second")
    hidden = await make_event(client, creator, name="Hidden", active=False)
    for event in (first, second, first):
        watched = data(await gql(client, WATCH, {"e": encode(Kind.EVENT, event["id"])}, token))["watchEvent"]
        assert watched == {
            "event": {"id": gid(Kind.EVENT, event["id"]), "name": event["name"], "isWatched": True},
            "userErrors": [],
        }
    connection = data(await gql(client, WATCHLIST, token=token))["myWatchlist"]
    listed = connection["nodes"]
    assert connection["totalCount"] == 2
    rest = (await client.get(f"{API}/users/me/watchlist", headers=bearer(token))).json()
    assert (
        [e["id"] for e in listed]
        == [gid(Kind.EVENT, e["id"]) for e in rest]
        == [gid(Kind.EVENT, second["id"]), gid(Kind.EVENT, first["id"])]
    )
    assert listed[0]["isWatched"] and listed[0]["pools"] == [{"name": "Main Pool"}]
    # A connection like every list that grows: one at a time forward, then back.
    one = data(await gql(client, WATCHLIST_PAGE, {"first": 1}, token))["myWatchlist"]
    assert [e["id"] for e in one["nodes"]] == [listed[0]["id"]]
    assert (one["pageInfo"]["hasNextPage"], one["pageInfo"]["hasPreviousPage"]) == (True, False)
    two = data(await gql(client, WATCHLIST_PAGE, {"first": 1, "after": one["pageInfo"]["endCursor"]}, token))
    assert [e["id"] for e in two["myWatchlist"]["nodes"]] == [listed[1]["id"]]
    assert (two["myWatchlist"]["pageInfo"]["hasNextPage"], two["myWatchlist"]["pageInfo"]["hasPreviousPage"]) == (
        False,
        True,
    )
    back = data(
        await gql(client, WATCHLIST_PAGE, {"last": 5, "before": two["myWatchlist"]["pageInfo"]["startCursor"]}, token)
    )["myWatchlist"]
    assert [e["id"] for e in back["nodes"]] == [listed[0]["id"]] and back["pageInfo"]["hasNextPage"] is True
    assert code(await gql(client, WATCHLIST_PAGE, {"first": 101}, token)) == "INVALID_REQUEST"
    for _ in range(2):
        removed = data(await gql(client, UNWATCH, {"e": encode(Kind.EVENT, first["id"])}, token))["unwatchEvent"]
        assert removed == {
            "unwatchedEventId": encode(Kind.EVENT, first["id"]),
            "event": {"id": gid(Kind.EVENT, first["id"]), "isWatched": False},
            "userErrors": [],
        }
    watched_now = data(await gql(client, WATCHLIST, token=token))["myWatchlist"]["nodes"]
    assert [e["id"] for e in watched_now] == [gid(Kind.EVENT, second["id"])]
    assert user_error(await gql(client, WATCH, {"e": encode(Kind.EVENT, hidden["id"])}, token), "watchEvent") == (
        "NOT_FOUND",
        None,
    )
    assert user_error(await gql(client, WATCH, {"e": str(first["id"])}, token), "watchEvent") == (
        "INVALID_ID",
        ["input", "eventId"],
    )
    # a hidden event can be unwatched (nothing to remove), but the payload does not show it
    gone = data(await gql(client, UNWATCH, {"e": encode(Kind.EVENT, hidden["id"])}, token))["unwatchEvent"]
    assert gone == {"unwatchedEventId": encode(Kind.EVENT, hidden["id"]), "event": None, "userErrors": []}
    assert code(await gql(client, WATCH, {"e": encode(Kind.EVENT, first["id"])})) == "UNAUTHORIZED"
    assert code(await gql(client, WATCHLIST)) == "UNAUTHORIZED"


async def test_suggest_event(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db)
    query = """mutation($input: SuggestEventInput!) { suggestEvent(input: $input) {
                 suggestion { id name description tags } userErrors { field message code } } }"""
    made = data(await gql(client, query, {"input": {"name": " Rain in May? ", "tags": ["weather"]}}, token))
    suggestion = made["suggestEvent"]["suggestion"]
    assert made["suggestEvent"]["userErrors"] == []
    assert suggestion == {**suggestion, "name": "Rain in May?", "description": "", "tags": ["weather"]}
    assert suggestion["id"].startswith("sug_")
    node = "query($id: ID!) { node(id: $id) { ... on EventSuggestion { id name } } }"
    assert data(await gql(client, node, {"id": suggestion["id"]}, token))["node"] == {
        "id": suggestion["id"],
        "name": "Rain in May?",
    }
    assert data(await gql(client, node, {"id": suggestion["id"]}))["node"] is None  # the author's only
    assert code(await gql(client, query, {"input": {"name": "x"}})) == "UNAUTHORIZED"
    assert user_error(await gql(client, query, {"input": {"name": "  "}}, token), "suggestEvent")[0] == (
        "INVALID_REQUEST"
    )


async def test_asset_timeframes(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    for minutes, name in ((60, "BTC 1h"), (5, "BTC 5m")):
        await make_event(client, token, name=name, loop_interval_minutes=minutes, asset_symbol="BTC")
    await make_event(client, token, name="ETH 5m", loop_interval_minutes=5, asset_symbol="ETH")
    query = "query($s: String!) { assetTimeframes(symbol: $s) { id name loopIntervalMinutes isLoopEvent } }"
    found = data(await gql(client, query, {"s": "BTCUSDT"}))["assetTimeframes"]
    rest = (await client.get(f"{API}/events/asset-timeframes/BTCUSDT")).json()
    assert (
        [(e["id"], e["loopIntervalMinutes"], e["name"]) for e in found]
        == [(gid(Kind.EVENT, r["event_id"]), r["loop_interval_minutes"], r["name"]) for r in rest]
        == [(found[0]["id"], 5, "BTC 5m"), (found[1]["id"], 60, "BTC 1h")]
    )
    assert code(await gql(client, query, {"s": "btc-usdt"})) == "INVALID_REQUEST"


async def test_unread_notifications(client: httpx.AsyncClient, db: Database) -> None:
    user, token = await fast_user(db)
    ids = await seed(db, user, 3)
    assert (await client.put(f"{API}/notifications/{ids[0]}/read", headers=bearer(token))).status_code == 200
    found = data(await gql(client, "{ unreadNotifications { id read } }", token=token))["unreadNotifications"]
    query = "{ notifications(unread: true) { totalCount nodes { id read } } }"
    unread = data(await gql(client, query, token=token))["notifications"]
    assert unread == {"totalCount": 2, "nodes": found}  # the deprecated list and the connection agree
    rest = (await client.get(f"{API}/notifications/unread", headers=bearer(token))).json()
    assert (
        [n["id"] for n in found]
        == [gid(Kind.NOTIFICATION, n["id"]) for n in rest]
        == [gid(Kind.NOTIFICATION, ids[2]), gid(Kind.NOTIFICATION, ids[1])]
    )
    assert not any(n["read"] for n in found)
    assert code(await gql(client, "{ unreadNotifications { id } }")) == "UNAUTHORIZED"


SET_IMAGE = """mutation($e: ID!, $c: String!) { setEventImage(input: {eventId: $e, contentBase64: $c}) {
                 event { id imageUrl } userErrors { field message code } } }"""
REMOVE_IMAGE = "mutation($e: ID!) { removeEventImage(input: {eventId: $e}) { event { imageUrl } userErrors { code } } }"


async def test_event_image(client: httpx.AsyncClient, db: Database) -> None:
    _, creator = await fast_user(db, is_creator=True)
    _, other = await fast_user(db)
    event = await make_event(client, creator)
    eid = encode(Kind.EVENT, event["id"])
    png = base64.b64encode(tiny_png()).decode()
    first = data(await gql(client, SET_IMAGE, {"e": eid, "c": png}, creator))["setEventImage"]["event"]["imageUrl"]
    media = urlparse(first).path
    assert media.startswith(f"/media/avatars/event_{event['id']}_") and media.endswith(".png")
    assert (await client.get(media)).content == tiny_png()
    assert (await client.get(f"{API}/events/{event['id']}")).json()["image_url"] == first
    second = data(await gql(client, SET_IMAGE, {"e": eid, "c": png}, creator))["setEventImage"]["event"]["imageUrl"]
    assert second != first and (await client.get(media)).status_code == 404  # the replaced file is gone
    assert code(await gql(client, SET_IMAGE, {"e": eid, "c": png}, other)) == "FORBIDDEN"
    bad = await gql(client, SET_IMAGE, {"e": eid, "c": "not base64!"}, creator)
    assert user_error(bad, "setEventImage") == ("INVALID_REQUEST", ["input", "contentBase64"])
    text = base64.b64encode(b"hello").decode()
    assert user_error(await gql(client, SET_IMAGE, {"e": eid, "c": text}, creator), "setEventImage")[0] == (
        "INVALID_REQUEST"
    )
    removed = data(await gql(client, REMOVE_IMAGE, {"e": eid}, creator))["removeEventImage"]
    assert removed == {"event": {"imageUrl": None}, "userErrors": []}
    assert (await client.get(urlparse(second).path)).status_code == 404
