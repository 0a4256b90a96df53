"""One focused test per input class of the hardening issue, on both faces: each is refused with a
client error code and the real reason (never a 5xx, never a masked INTERNAL_ERROR), and the same
input gets the same answer on SQLite and PostgreSQL (the suite runs on both)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from predictql.db import Database
from predictql.models import Event
from predictql.settings import Settings
from tests.inputs.nasty import check_logs, deep, unexpected_errors
from tests.inputs.world import World, build_world
from tests.subscriptions.conftest import live_app
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, gid, gql

FEED = "query($tags: [String!], $search: String, $after: String) { events(first: 5, tags: $tags, search: $search, after: $after) { edges { node { id pools { metadata } } } } }"  # noqa: E501
CREATE_EVENT = "mutation($input: CreateEventInput!) { createEvent(input: $input) { event { id } userErrors { code } } }"
CREATE_POOL = """mutation($input: CreatePoolInput!) { createPool(input: $input) {
  pool { id } userErrors { field message code } } }"""
PREVIEW = 'query($a: Long!) { lmsrPreview(marketId: "mkt_1", side: BUY_YES, amountType: SPEND, amount: $a) { costOrPayoutCents } }'  # noqa: E501


@pytest.fixture
async def world(client: httpx.AsyncClient, db: Database) -> World:
    return await build_world(client, db)


async def raw_gql(client: httpx.AsyncClient, world: World, query: str, variables_json: str) -> dict[str, Any]:
    """Variables as raw JSON text: NaN, Infinity and lone surrogate escapes as a client sends them.
    The HTTP transport refuses what strict JSON does not allow (400 BAD_REQUEST, with the reason);
    what it lets through reaches the input guard."""
    body = f'{{"query": {json.dumps(query)}, "variables": {variables_json}}}'
    response = await client.post(
        "/graphql", content=body, headers={**world.headers(), "content-type": "application/json"}
    )
    assert response.status_code in (200, 400), response.text
    result: dict[str, Any] = response.json()
    if response.status_code == 400:
        assert [e["extensions"]["code"] for e in result["errors"]] == ["BAD_REQUEST"], result
    return result


def refused(body: dict[str, Any], code: str, *words: str) -> str:
    """The one top-level error, or a mutation payload's one userError, with its code and words."""
    if not body.get("errors"):
        (payload,) = body["data"].values()
        (user_error,) = payload["userErrors"]
        body = {"errors": [{"message": user_error["message"], "extensions": {"code": user_error["code"]}}]}
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code, error
    assert "internal error" not in error["message"], error
    for word in words:
        assert word in error["message"], error
    return str(error["message"])


def rest_refused(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] != "INTERNAL_ERROR"
    for word in words:
        assert word in error["message"], error
    return str(error["code"])


# --- NUL characters and lone surrogates ----------------------------------------------------------


async def test_nul_in_rest_bodies_and_params(client: httpx.AsyncClient, world: World) -> None:
    h = world.headers()
    rest_refused(await client.post("/api/v1/events", json={"name": "a\x00b"}, headers=h), 400, "NUL")
    sign_in = {"email": "a\x00@x.io", "password": "p"}
    rest_refused(await client.post("/api/v1/auth/sign-in", json=sign_in), 400, "NUL")
    rest_refused(await client.put("/api/v1/users/me", json={"name": "n", "nickname": "\x00"}, headers=h), 400, "NUL")
    rest_refused(await client.get("/api/v1/events/feed?tags=%00"), 400, "NUL")
    rest_refused(await client.get("/api/v1/lmsr/preview?market_id=1&side=%00&amount_type=spend&amount=1"), 400)


async def test_lone_surrogate_in_a_rest_body(client: httpx.AsyncClient, world: World) -> None:
    raw = b'{"name": "a\\ud800b"}'
    response = await client.post(
        "/api/v1/events", content=raw, headers={**world.headers(), "content-type": "application/json"}
    )
    rest_refused(response, 400)


async def test_nul_and_surrogates_in_graphql(client: httpx.AsyncClient, world: World) -> None:
    body = await raw_gql(client, world, CREATE_EVENT, '{"input": {"name": "a\\u0000b"}}')
    refused(body, "BAD_USER_INPUT", "variable $input", "NUL")
    for text in ('"a\\ud800b"', '"\\udfff"'):  # the HTTP transport's strict JSON refuses these
        body = await raw_gql(client, world, CREATE_EVENT, f'{{"input": {{"name": {text}}}}}')
        refused(body, "BAD_REQUEST", "surrogate")
    nul_literal = 'mutation { createEvent(input: {name: "a\\u0000b"}) { event { id } } }'
    literal = await gql(client, nul_literal, token=world.token)
    refused(literal, "BAD_USER_INPUT", "NUL")
    search = await raw_gql(client, world, FEED, '{"search": "\\u0000"}')
    refused(search, "BAD_USER_INPUT", "NUL")


# --- integers outside the column's range ---------------------------------------------------------


async def test_integers_past_int64_in_rest_bodies(client: httpx.AsyncClient, world: World) -> None:
    h = world.headers()
    order = {"market_id": 2**63, "type": "buy", "kind": "limit", "token_type": "YES", "price": 3000, "amount": 100}
    rest_refused(await client.post("/api/v1/market/orders", json=order, headers=h), 400, "64-bit")
    role = {"user_id": 2**63, "role": "creator", "value": True}
    rest_refused(await client.post("/api/v1/stats/role", json=role, headers=h), 400, "64-bit")
    verify = {"user_id": 2**64 - 1, "verification_code": "123456"}
    rest_refused(await client.post("/api/v1/auth/verify-email", json=verify), 400)


def cursor_of(document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


async def test_cursors_past_int64_or_nested_are_invalid(client: httpx.AsyncClient, world: World) -> None:
    nested = base64.urlsafe_b64encode(b"[" * 60 + b"]" * 60).decode()
    for cursor in (cursor_of({"id": 10**22}), cursor_of({"id": -1}), nested, cursor_of(["id"]), "x" * 5000):
        rest_refused(await client.get("/api/v1/events/feed", params={"cursor": cursor}), 400)
        rest_refused(
            await client.get("/api/v1/market/positions/completed", params={"cursor": cursor}, headers=world.headers()),
            400,
        )
        refused(await gql(client, FEED, {"after": cursor}), "INVALID_REQUEST", "invalid cursor")


async def test_ids_past_int32_reach_64_bit_columns(client: httpx.AsyncClient, db: Database, world: World) -> None:
    """event_tags and watchlist hold 64-bit ids (migration 0008): an event id past 2^32 gets tags
    and can be watched on PostgreSQL too."""
    big = 2**40
    async with db.transaction() as session:
        session.add(Event(id=big, creator_id=world.user_id, name="Big", is_active=True))
    h = world.headers()
    updated = await client.put(f"/api/v1/events/{big}", json={"tags": ["far"]}, headers=h)
    assert updated.status_code == 200, updated.text
    assert (await client.post(f"/api/v1/users/me/watchlist/{big}", headers=h)).status_code < 300
    feed = await client.get("/api/v1/events/feed", params={"tags": "far"})
    assert [item["event"]["id"] for item in feed.json()["events"]] == [big]
    assert (await client.delete(f"/api/v1/users/me/watchlist/{big}", headers=h)).status_code < 300
    rest_refused(await client.post(f"/api/v1/users/me/watchlist/{2**32}", headers=h), 404)


async def test_loop_interval_is_bounded(client: httpx.AsyncClient, world: World) -> None:
    body = {
        "name": "Loop",
        "loop_interval_minutes": 2**40,
        "pools": [
            {
                "name": "P",
                "finish_at": "2030-01-01T00:00:00Z",
                "metadata": {"market_names": ["A", "B"], "market_probabilities": [0.5, 0.5]},
            }
        ],
    }
    rest_refused(
        await client.post("/api/v1/events/create-full", json=body, headers=world.headers()),
        400,
        "loop_interval_minutes",
    )


# --- unbounded text and lists --------------------------------------------------------------------


async def test_search_and_tag_filters_are_bounded(client: httpx.AsyncClient, world: World) -> None:
    refused(await gql(client, FEED, {"search": "x" * 50_000}), "INVALID_REQUEST", "at most 200")
    refused(await gql(client, FEED, {"tags": ["t"] * 100_000}), "BAD_USER_INPUT", "1000 items")
    refused(await gql(client, FEED, {"tags": [f"t{i}" for i in range(21)]}), "INVALID_REQUEST", "at most 20 tags")
    many = ",".join(f"t{i}" for i in range(21))
    rest_refused(await client.get("/api/v1/events/feed", params={"tags": many}), 400, "at most 20 tags")
    rest_refused(await client.get("/api/v1/events/feed", params={"tags": "t" * 2001}), 400, "longer than")
    body = {"name": "E", "tags": ["t"] * 100_000}
    rest_refused(await client.post("/api/v1/events", json=body, headers=world.headers()), 400, "1000 items")


async def test_an_integer_query_parameter_given_twice_is_refused(client: httpx.AsyncClient, world: World) -> None:
    # Found by schemathesis: Starlette keeps the last value, so `limit=junk&limit=` answered 200.
    url = "/api/v1/market/positions/completed?limit=junk&limit="
    rest_refused(await client.get(url, headers=world.headers()), 400, "limit given more than once")
    ok = await client.get("/api/v1/market/positions/completed?limit=5", headers=world.headers())
    assert ok.status_code == 200, ok.text


# --- deeply nested JSON, stored JSON -------------------------------------------------------------


async def test_deep_rest_bodies_are_refused(client: httpx.AsyncClient, world: World) -> None:
    body = {"name": "E", "tags": deep(200)}
    rest_refused(await client.post("/api/v1/events", json=body, headers=world.headers()), 400, "deeper")


def pool_input(metadata: Any) -> dict[str, Any]:
    return {
        "name": "P",
        "finishAt": "2030-01-01T00:00:00Z",
        "marketNames": ["A", "B"],
        "marketPrices": [5000, 5000],
        "metadata": metadata,
    }


async def test_stored_metadata_is_bounded_and_the_feed_keeps_answering(client: httpx.AsyncClient, world: World) -> None:
    e = gid(Kind.EVENT, world.event_id)
    too_deep = await gql(client, CREATE_POOL, {"input": {**pool_input({"a": deep(11)}), "eventId": e}}, world.token)
    refused(too_deep, "INVALID_BODY", "metadata nests deeper than 8")
    huge = {f"k{i}": "v" * 100 for i in range(200)}
    too_big = await gql(client, CREATE_POOL, {"input": {**pool_input(huge), "eventId": e}}, world.token)
    refused(too_big, "INVALID_BODY", "bytes")
    very_deep = json.dumps({"input": {**pool_input({"a": deep(301)}), "eventId": e}})
    refused(await raw_gql(client, world, CREATE_POOL, very_deep), "BAD_REQUEST", "deeper than 32")
    variables = json.dumps({"input": {**pool_input({"x": float("nan")}), "eventId": e}})  # NaN as the JSON extension
    refused(await raw_gql(client, world, CREATE_POOL, variables), "BAD_REQUEST", "not valid JSON")
    small = {"input": {**pool_input({"volume_min_kopecks": 5}), "eventId": e}}
    fine = await gql(client, CREATE_POOL, small, world.token)
    assert not fine.get("errors"), fine
    feed = await gql(client, FEED)
    assert not feed.get("errors") and feed["data"]["events"]["edges"], feed


# --- scalar and variable coercion ----------------------------------------------------------------

COERCION = [
    ("query($id: ID!) { user(id: $id) { id } }", '{"id": null}', "ID!"),
    (PREVIEW, '{"a": 9223372036854775808}', "64-bit"),
    (PREVIEW, '{"a": "9223372036854775808"}', "Long out of range"),
    (PREVIEW, '{"a": "1_0"}', "Long must be an integer"),
    (PREVIEW, '{"a": " 1 "}', "Long must be an integer"),
    (PREVIEW, '{"a": "\\u0661"}', "Long must be an integer"),
    (PREVIEW, '{"a": 3.5}', "Long must be an integer"),
    ("query($f: Int!) { events(first: $f) { edges { cursor } } }", '{"f": 3.5}', "non-integer"),
    ("query($f: Int!) { events(first: $f) { edges { cursor } } }", '{"f": 2147483648}', "32-bit"),
    (
        "mutation($i: CreatePoolInput!) { createPool(input: $i) { pool { id } } }",
        json.dumps({"i": {**pool_input(None), "eventId": "1", "finishAt": "not a date"}}),
        "isoformat",
    ),
    (
        "mutation($i: CreatePoolInput!) { createPool(input: $i) { pool { id } } }",
        json.dumps({"i": {**pool_input(None), "eventId": "1", "finishAt": "0001-01-01T00:00:00+01:00"}}),
        "out of range",
    ),
    (
        "mutation($i: CreatePoolInput!) { createPool(input: $i) { pool { id } } }",
        json.dumps({"i": {**pool_input(None), "eventId": "1", "finishAt": "9999-12-31T23:59:59-23:59"}}),
        "out of range",
    ),
]


@pytest.mark.parametrize(("query", "variables", "reason"), COERCION, ids=[c[1][:40] for c in COERCION])
async def test_coercion_errors_are_bad_user_input_with_the_reason(
    client: httpx.AsyncClient, world: World, query: str, variables: str, reason: str
) -> None:
    refused(await raw_gql(client, world, query, variables), "BAD_USER_INPUT", reason)


async def test_a_literal_our_scalar_refuses_is_bad_user_input(client: httpx.AsyncClient, world: World) -> None:
    literal = PREVIEW.replace("query($a: Long!)", "query").replace("$a", "9223372036854775808")
    refused(await gql(client, literal), "BAD_USER_INPUT", "Long out of range")


# --- strict ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1_0", " 1 ", "١", "+1", "1.0", "0x1", "9223372036854775808"])
async def test_ids_parse_strictly_on_both_faces(client: httpx.AsyncClient, world: World, raw: str) -> None:
    value = raw.replace("1", str(world.user_id)) if raw != "9223372036854775808" else raw
    for candidate in (value, f"usr_{value}"):
        refused(await gql(client, "query($id: ID!) { user(id: $id) { id } }", {"id": candidate}), "INVALID_ID")
    rest_refused(await client.get(f"/api/v1/users/{raw}"), 400)


# --- the same guards on a subscription over WebSocket --------------------------------------------

SUBSCRIPTIONS = [
    ("subscription($m: ID!) { marketUpdated(marketId: $m) { seq } }", {"m": "1_0"}, "INVALID_ID"),
    ("subscription($m: ID!) { marketUpdated(marketId: $m) { seq } }", {"m": "\x00"}, "BAD_USER_INPUT"),
    (
        "subscription($m: ID!, $s: Long) { marketUpdated(marketId: $m, fromSeq: $s) { seq } }",
        {"m": "1", "s": 2**63},
        "BAD_USER_INPUT",
    ),
    (
        "subscription($m: ID!, $d: Int!) { orderbook(marketId: $m, depth: $d) { seq } }",
        {"m": "1", "d": 3.5},
        "BAD_USER_INPUT",
    ),
    ("subscription($m: ID) { trades(marketId: $m) { seq } }", {"m": None, "x": ["t"] * 2000}, "BAD_USER_INPUT"),
    ("subscription($m: ID!) { marketUpdated(marketId: $m) { seq } }", {"m": "\ud800"}, "BAD_USER_INPUT"),
    (
        "subscription($m: ID!, $s: Long) { marketUpdated(marketId: $m, fromSeq: $s) { seq } }",
        {"m": "1", "s": float("nan")},
        "BAD_USER_INPUT",
    ),
    (
        "subscription($m: ID!, $d: Int!) { orderbook(marketId: $m, depth: $d) { seq } }",
        {"m": "1", "d": float("inf")},
        "BAD_USER_INPUT",
    ),
]


@pytest.mark.parametrize(
    ("query", "variables", "code"), SUBSCRIPTIONS, ids=[s[2] + str(i) for i, s in enumerate(SUBSCRIPTIONS)]
)
async def test_subscription_arguments_pass_the_same_guards(
    settings: Settings, db: Database, query: str, variables: dict[str, Any], code: str
) -> None:
    async with live_app(settings) as live, GraphQLSocket(live.app) as socket:
        with unexpected_errors() as logged:
            message = await socket.next(await socket.subscribe(query, variables))
            errors = message["payload"] if message.get("type") == "error" else message["errors"]
            assert [error["extensions"]["code"] for error in errors] == [code], message
            check_logs(logged, variables)
