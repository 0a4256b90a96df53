"""markets(filter, orderBy, first, after) and events(orderBy): orders, filters, cursors, bounds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from predictql.db import Database
from predictql.schema.ids import Kind, encode
from predictql.settings import Settings
from tests.api.test_events import iso, make_event, pool_body
from tests.api.test_lmsr_api import ok, trade, trader
from tests.api.test_users import fast_user
from tests.graphql.test_round_trips import count_statements
from tests.support import gql

MARKETS = """query($filter: MarketFilter, $order: MarketOrder!, $first: Int!, $after: String) {
  markets(filter: $filter, orderBy: $order, first: $first, after: $after) {
    nodes { id name volume } edges { cursor } pageInfo { hasNextPage hasPreviousPage endCursor } } }"""
EVENTS = """query($order: EventOrder!, $first: Int!, $after: String) {
  events(orderBy: $order, first: $first, after: $after) { edges { cursor node { name } }
    pageInfo { hasNextPage endCursor } } }"""


def data(body: dict[str, Any]) -> Any:
    assert "errors" not in body, body["errors"]
    return body["data"]


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def world(client: httpx.AsyncClient, db: Database, settings: Settings) -> dict[str, Any]:
    """Three active events finishing in 3 days, 1 day and (one pool) 2 days, plus a hidden one;
    volume: Soon 3000, Later 1000, Middle none."""
    _, creator = await fast_user(db, is_creator=True)
    later = await make_event(client, creator, pool_body(("L1", "L2"), (0.5, 0.5)), name="Later")
    soon = await make_event(client, creator, pool_body(("S1",), (0.5,), finish_at=_in(days=1)), name="Soon")
    middle = await make_event(client, creator, pool_body(("M1",), (0.5,), finish_at=_in(days=2)), name="Middle")
    await make_event(client, creator, pool_body(("H1",), (0.5,)), name="Hidden", active=False)
    _, token = await trader(db, settings, balance=100_000)
    ok(await trade(client, token, soon["pools"][0]["markets"][0]["id"], "buy_yes", 3000))
    ok(await trade(client, token, later["pools"][0]["markets"][1]["id"], "buy_yes", 1000))
    return {"later": later, "soon": soon, "middle": middle}


def _in(**delta: int) -> str:
    return iso(timedelta(**delta))


async def test_markets_orders_filters_and_pages(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    made = await world(client, db, settings)
    names = lambda body: [n["name"] for n in data(body)["markets"]["nodes"]]  # noqa: E731
    assert names(await gql(client, MARKETS, {"order": "NEWEST", "first": 10})) == ["M1", "S1", "L2", "L1"]
    assert names(await gql(client, MARKETS, {"order": "VOLUME", "first": 2})) == ["S1", "L2"]
    assert names(await gql(client, MARKETS, {"order": "TRENDING", "first": 10}))[:2] == ["S1", "L2"]
    assert names(await gql(client, MARKETS, {"order": "CLOSING_SOON", "first": 10})) == ["S1", "M1", "L1", "L2"]
    later_id = encode(Kind.EVENT, made["later"]["id"])
    only = {"order": "NEWEST", "first": 10, "filter": {"eventId": later_id}}
    assert names(await gql(client, MARKETS, only)) == ["L2", "L1"]
    assert names(await gql(client, MARKETS, {**only, "filter": {"search": "mid"}})) == ["M1"]
    assert names(await gql(client, MARKETS, {**only, "filter": {"resolved": True}})) == []

    first = data(await gql(client, MARKETS, {"order": "VOLUME", "first": 3}))["markets"]
    assert first["pageInfo"]["hasNextPage"] and not first["pageInfo"]["hasPreviousPage"]
    rest = data(await gql(client, MARKETS, {"order": "VOLUME", "first": 3, "after": first["pageInfo"]["endCursor"]}))
    assert len(rest["markets"]["nodes"]) == 1 and rest["markets"]["pageInfo"]["hasPreviousPage"]
    assert not rest["markets"]["pageInfo"]["hasNextPage"]
    seen = [n["id"] for n in first["nodes"] + rest["markets"]["nodes"]]
    assert len(set(seen)) == 4

    assert code(await gql(client, MARKETS, {"order": "NEWEST", "first": 101})) == "INVALID_PAGINATION"
    assert code(await gql(client, MARKETS, {"order": "NEWEST", "first": 1, "after": "junk"})) == "INVALID_REQUEST"
    bad_id = {**only, "filter": {"eventId": encode(Kind.POOL, 1)}}
    assert code(await gql(client, MARKETS, bad_id)) == "INVALID_ID"


async def test_events_order_by(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    await world(client, db, settings)
    names = lambda body: [e["node"]["name"] for e in data(body)["events"]["edges"]]  # noqa: E731
    assert names(await gql(client, EVENTS, {"order": "NEWEST", "first": 10})) == ["Middle", "Soon", "Later"]
    assert names(await gql(client, EVENTS, {"order": "VOLUME", "first": 10})) == ["Soon", "Later", "Middle"]
    assert names(await gql(client, EVENTS, {"order": "TRENDING", "first": 10})) == ["Soon", "Later", "Middle"]
    assert names(await gql(client, EVENTS, {"order": "CLOSING_SOON", "first": 10})) == ["Soon", "Middle", "Later"]
    page = data(await gql(client, EVENTS, {"order": "VOLUME", "first": 2}))["events"]
    assert page["pageInfo"]["hasNextPage"]
    after = {"order": "VOLUME", "first": 2, "after": page["pageInfo"]["endCursor"]}
    assert names(await gql(client, EVENTS, after)) == ["Middle"]
    assert code(await gql(client, EVENTS, {"order": "SIDEWAYS", "first": 1})) in {
        "BAD_USER_INPUT",
        "GRAPHQL_VALIDATION_FAILED",
    }


async def test_ranked_pages_cost_constant_statements(
    app_client: tuple[httpx.AsyncClient, Database], db: Database, settings: Settings
) -> None:
    """Each ranked list costs the same statements whatever its rows. The two lists are measured in
    separate requests: in one request their loaders are shared, and whether the events page primes
    the pools before the markets list asks for them is a race (one statement more or less, with as
    many rows either way), which once failed this test on a busy machine."""
    client, app_db = app_client
    markets = "{ markets(orderBy: TRENDING, first: 50) { nodes { name pool { name } } } }"
    events = "{ events(orderBy: VOLUME, first: 50) { edges { node { name pools { markets { name } } } } } }"

    async def statements() -> tuple[list[str], list[str], dict[str, Any], dict[str, Any]]:
        with count_statements(app_db) as for_markets:
            found_markets = data(await gql(client, markets))
        with count_statements(app_db) as for_events:
            found_events = data(await gql(client, events))
        return for_markets, for_events, found_markets, found_events

    await world(client, db, settings)
    few_markets, few_events, _, _ = await statements()
    await world(client, db, settings)
    many_markets, many_events, found_markets, found_events = await statements()
    assert len(found_markets["markets"]["nodes"]) == 8 and len(found_events["events"]["edges"]) == 6
    assert all(edge["node"]["pools"][0]["markets"] for edge in found_events["events"]["edges"])
    assert len(few_markets) == len(many_markets), (few_markets, many_markets)
    assert len(few_events) == len(many_events), (few_events, many_events)


async def test_ranked_lists_count_every_page_together(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    await world(client, db, settings)
    markets = "query($o: MarketOrder!) { markets(orderBy: $o, first: 1) { totalCount nodes { name } } }"
    events = "query($o: EventOrder!) { events(orderBy: $o, first: 1) { totalCount nodes { name } } }"
    for order in ("NEWEST", "VOLUME", "TRENDING"):
        assert data(await gql(client, markets, {"o": order}))["markets"]["totalCount"] == 4
        assert data(await gql(client, events, {"o": order}))["events"]["totalCount"] == 3
    assert data(await gql(client, markets, {"o": "CLOSING_SOON"}))["markets"]["totalCount"] == 4
