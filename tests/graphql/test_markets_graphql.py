"""Events, pools and markets over GraphQL (POST /graphql on the in-process app): every query and
mutation, the feed connection, visibility of hidden events, ownership errors in ``extensions.code``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.jsonutil import rfc3339
from predictql.services import lmsr_trading, watchlist
from predictql.services.lmsr_trading import TradeRequest
from tests.api.test_users import fast_user
from tests.support import USER_ERRORS, Kind, bearer, failure_code, gid, row_id
from tests.support import gql as support_gql

MARKET = "id poolId name outcomeIndex marketType yesProbability noProbability yesPrice noPrice b liquidityKopecks"
MARKET += " qYes qNo volume paused resolved winningOutcome yesName noName"
POOL = f"id eventId name rules margin liveAt finishAt wonSide closedAt metadata markets {{ {MARKET} }}"
EVENT = f"""id creatorId creator {{ id }} name nameRu tags status isActive closedAt versusNames hasDraw mainPoolId
  isLoopEvent loopIntervalMinutes totalVolume isWatched mainPool {{ id }} pools {{ {POOL} }}"""

CREATE_EVENT = f"""mutation($input: CreateEventInput!) {{ createEvent(input: $input) {{
  event {{ {EVENT} }} {USER_ERRORS} }} }}"""
CREATE_FULL = f"""mutation($input: CreateEventFullInput!) {{ createEventFull(input: $input) {{
  event {{ {EVENT} }} {USER_ERRORS} }} }}"""
UPDATE_EVENT = f"""mutation($input: UpdateEventInput!) {{ updateEvent(input: $input) {{
  event {{ {EVENT} }} {USER_ERRORS} }} }}"""
SET_ACTIVE = f"""mutation($id: ID!, $on: Boolean!) {{ setEventActive(input: {{id: $id, isActive: $on}}) {{
  event {{ id isActive }} {USER_ERRORS} }} }}"""
CREATE_POOL = f"""mutation($input: CreatePoolInput!) {{
  createPool(input: $input) {{ pool {{ {POOL} event {{ id status mainPoolId }} }} {USER_ERRORS} }} }}"""
SET_PROBABILITIES = f"""mutation($e: ID!, $p: ID!, $values: [Price!]!) {{
  setPoolProbabilities(input: {{eventId: $e, poolId: $p, prices: $values}}) {{
  markets {{ id yesPrice qYes qNo }} {USER_ERRORS} }} }}"""
EVENT_QUERY = f"query($id: ID!) {{ event(id: $id) {{ {EVENT} }} }}"
POOL_QUERY = f"query($id: ID!) {{ pool(id: $id) {{ {POOL} event {{ id name }} }} }}"
MARKET_QUERY = f"query($id: ID!) {{ market(id: $id) {{ {MARKET} pool {{ id event {{ id }} }} }} }}"
FEED = """query($first: Int, $after: String, $tags: [String!], $status: EventStatus, $search: String) {
  events(first: $first, after: $after, tags: $tags, status: $status, search: $search) {
    edges { cursor node { id name status } } pageInfo { hasNextPage endCursor } } }"""
MY_EVENTS = """query($first: Int, $after: String) { myEvents(first: $first, after: $after) {
  edges { node { id isActive status } } pageInfo { hasNextPage endCursor } } }"""
CLOSE_EVENT = f"""mutation($id: ID!, $side: Outcome, $outcome: Int, $pools: [PoolVerdictInput!]) {{
  closeEvent(input: {{id: $id, wonSide: $side, outcome: $outcome, pools: $pools}}) {{
    event {{ id status closedAt pools {{ wonSide closedAt markets {{ resolved winningOutcome }} }} }}
    {USER_ERRORS} }} }}"""
CLOSE_POOL = f"""mutation($e: ID!, $p: ID!, $side: Outcome, $outcome: Int, $markets: [MarketVerdictInput!]) {{
  closePool(input: {{eventId: $e, poolId: $p, wonSide: $side, outcome: $outcome, markets: $markets}}) {{
    pool {{ id wonSide closedAt markets {{ resolved winningOutcome }} event {{ status closedAt }} }}
    {USER_ERRORS} }} }}"""
CLOSE_MARKET = f"""mutation($e: ID!, $p: ID!, $m: ID!, $side: Outcome, $outcome: Int) {{
  closeMarket(input: {{eventId: $e, poolId: $p, marketId: $m, wonSide: $side, outcome: $outcome}}) {{
    market {{ id resolved winningOutcome pool {{ wonSide closedAt }} }} {USER_ERRORS} }} }}"""
CANCEL = f"mutation($id: ID!) {{ cancelEvent(input: {{id: $id}}) {{ event {{ id status }} {USER_ERRORS} }} }}"
# Documents whose one input carries the object's id: the tests pass {"id", "input"}, merged here.
ID_IN_INPUT = {UPDATE_EVENT: "id", CREATE_POOL: "eventId"}


async def gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    given = dict(variables or {})
    if query in ID_IN_INPUT and "id" in given:
        given = {"input": {**given.pop("input"), ID_IN_INPUT[query]: given.pop("id")}}
    return await support_gql(client, query, given, token)


def ok(body: dict[str, Any]) -> Any:
    """The data, each mutation payload asserted free of userErrors and unwrapped to its one object."""
    assert "errors" not in body, body["errors"]
    data = dict(body["data"])
    for key, value in data.items():
        if isinstance(value, dict) and "userErrors" in value:
            assert value["userErrors"] == [], value["userErrors"]
            (data[key],) = [v for k, v in value.items() if k != "userErrors"]
    return data


def code(body: dict[str, Any]) -> str:
    return failure_code(body)


def when(**delta: float) -> str:
    return rfc3339(utcnow() + timedelta(**delta))


def pool_input(names: list[str], probabilities: list[float], **extra: Any) -> dict[str, Any]:
    """A pool spec; the probabilities go in as GraphQL's one price type (basis points)."""
    return {
        "name": "Main Pool",
        "finishAt": when(days=2),
        "marketNames": names,
        "marketPrices": [round(p * 10000) for p in probabilities],
        **extra,
    }


@pytest.fixture
async def creator(db: Database) -> tuple[int, str]:
    return await fast_user(db, is_creator=True)


async def new_event(client: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = ok(await gql(client, CREATE_EVENT, {"input": {"name": "Will it rain?", **fields}}, token))
    return event["createEvent"]


async def live_event(
    client: httpx.AsyncClient, token: str, pools: int = 1, names: tuple[str, ...] = ("Yes",), **fields: Any
) -> dict[str, Any]:
    """An active event whose pools are live now, read back through ``event(id)``."""
    event = await new_event(client, token, **fields)
    probabilities = [0.6] if len(names) == 1 else [(10000 // len(names)) / 10000] * (len(names) - 1)
    probabilities += [] if len(names) == 1 else [(10000 - 10000 // len(names) * (len(names) - 1)) / 10000]
    for n in range(pools):
        spec = pool_input(list(names), probabilities, name=f"Pool {n}", liveAt=when(minutes=-1))
        ok(await gql(client, CREATE_POOL, {"id": event["id"], "input": spec}, token))
    ok(await gql(client, SET_ACTIVE, {"id": event["id"], "on": True}, token))
    return ok(await gql(client, EVENT_QUERY, {"id": event["id"]}, token))["event"]  # type: ignore[no-any-return]


async def test_create_event_starts_hidden_and_new(client: httpx.AsyncClient, creator: tuple[int, str]) -> None:
    user_id, token = creator
    event = await new_event(client, token, nameRu="Дождь?", tags=["Weather", "Sky"], versusNames=["Yes", "No"])
    assert event["creatorId"] == gid(Kind.USER, user_id) and event["creator"] == {"id": gid(Kind.USER, user_id)}
    assert (event["name"], event["nameRu"], event["tags"]) == ("Will it rain?", "Дождь?", ["weather", "sky"])
    assert (event["status"], event["isActive"], event["pools"], event["mainPool"]) == ("NEW", False, [], None)
    assert event["totalVolume"] == 0 and event["isWatched"] is False


async def test_create_event_needs_a_creator(client: httpx.AsyncClient, db: Database) -> None:
    _, plain = await fast_user(db)
    variables = {"input": {"name": "Nope"}}
    assert code(await gql(client, CREATE_EVENT, variables, plain)) == "FORBIDDEN"
    assert code(await gql(client, CREATE_EVENT, variables)) == "UNAUTHORIZED"
    _, creator_token = await fast_user(db, is_creator=True)
    assert code(await gql(client, CREATE_EVENT, {"input": {"name": " "}}, creator_token)) == "INVALID_REQUEST"


async def test_create_pool_documented_example(client: httpx.AsyncClient, creator: tuple[int, str]) -> None:
    _, token = creator
    event = await new_event(client, token)
    spec = pool_input(
        ["Team A", "Draw", "Team B"],
        [0.40, 0.25, 0.35],
        lmsrBKopecks=1000000,
        rules="FT result",
        metadata={"volume_min_kopecks": 1000},
    )
    pool = ok(await gql(client, CREATE_POOL, {"id": event["id"], "input": spec}, token))["createPool"]
    assert pool["eventId"] == event["id"] and pool["rules"] == "FT result" and pool["wonSide"] is None
    assert pool["event"] == {"id": event["id"], "status": "STARTED", "mainPoolId": pool["id"]}
    assert pool["metadata"] == {
        "volume_min_kopecks": 1000,
        "market_names": ["Team A", "Draw", "Team B"],
        "market_probabilities": [0.40, 0.25, 0.35],
        "lmsr_b_kopecks": 1000000,
        "market_type": "lmsr",
    }
    markets = pool["markets"]
    assert [m["name"] for m in markets] == ["Team A", "Draw", "Team B"]
    assert [m["outcomeIndex"] for m in markets] == [0, 1, 2]
    assert [m["yesProbability"] for m in markets] == [0.40, 0.25, 0.35]
    assert [m["noProbability"] for m in markets] == pytest.approx([0.60, 0.75, 0.65])
    assert [(m["yesPrice"], m["noPrice"]) for m in markets] == [(4000, 6000), (2500, 7500), (3500, 6500)]
    for market in markets:
        assert (market["b"], market["liquidityKopecks"], market["qYes"], market["qNo"]) == (10000, 1000000, 0, 0)
        assert (market["marketType"], market["volume"], market["paused"]) == ("LMSR", 0, False)
        assert market["resolved"] is False
        assert (market["yesName"], market["noName"], market["winningOutcome"]) == ("Yes", "No", None)


async def test_create_pool_errors(client: httpx.AsyncClient, creator: tuple[int, str], db: Database) -> None:
    _, token = creator
    event = await new_event(client, token)
    bad = pool_input(["A", "B"], [0.5, 0.6])
    assert code(await gql(client, CREATE_POOL, {"id": event["id"], "input": bad}, token)) == "INVALID_PROBABILITIES"
    good = pool_input(["A", "B"], [0.5, 0.5])
    _, other = await fast_user(db, is_creator=True)
    # Hidden: as missing to another creator as on reads; once shown, theirs to see but not to change.
    assert code(await gql(client, CREATE_POOL, {"id": event["id"], "input": good}, other)) == "NOT_FOUND"
    ok(await gql(client, SET_ACTIVE, {"id": event["id"], "on": True}, token))
    assert code(await gql(client, CREATE_POOL, {"id": event["id"], "input": good}, other)) == "FORBIDDEN"
    assert code(await gql(client, CREATE_POOL, {"id": "evt_999999", "input": good}, token)) == "NOT_FOUND"
    assert code(await gql(client, CREATE_POOL, {"id": "x", "input": good}, token)) == "INVALID_ID"
    assert code(await gql(client, CREATE_POOL, {"id": event["id"], "input": good})) == "UNAUTHORIZED"
    listed = {**good, "metadata": [1, 2]}
    assert code(await gql(client, CREATE_POOL, {"id": event["id"], "input": listed}, token)) == "INVALID_BODY"


async def test_create_event_full(client: httpx.AsyncClient, creator: tuple[int, str]) -> None:
    _, token = creator
    pools = [
        pool_input(["Yes"], [0.7], name="Winner", liveAt=when(hours=1)),
        pool_input(["0-1", "2-3", "4+"], [0.5, 0.3, 0.2], name="Goals", liveAt=when(hours=1), lmsrBKopecks=300000),
    ]
    variables = {
        "input": {"name": "Final", "tags": ["sports"], "loopIntervalMinutes": 60, "pools": pools, "mainPoolIndex": 1}
    }
    event = ok(await gql(client, CREATE_FULL, variables, token))["createEventFull"]
    assert [p["name"] for p in event["pools"]] == ["Winner", "Goals"]
    assert event["mainPool"]["id"] == event["mainPoolId"] == event["pools"][1]["id"]
    assert (event["status"], event["isLoopEvent"], event["loopIntervalMinutes"]) == ("NEW", True, 60)
    assert [m["b"] for m in event["pools"][1]["markets"]] == [3000] * 3
    bad = {"input": {"name": "Final", "pools": pools, "mainPoolIndex": 2}}
    assert code(await gql(client, CREATE_FULL, bad, token)) == "INVALID_REQUEST"
    broken = {"input": {"name": "Half", "pools": [pools[0], pool_input(["A", "B"], [0.9, 0.9])]}}
    assert code(await gql(client, CREATE_FULL, broken, token)) == "INVALID_PROBABILITIES"
    mine = ok(await gql(client, MY_EVENTS, {}, token))["myEvents"]["edges"]
    assert [edge["node"]["id"] for edge in mine] == [event["id"]]  # the failed ones left nothing behind


async def test_update_event_and_ownership(client: httpx.AsyncClient, creator: tuple[int, str], db: Database) -> None:
    _, token = creator
    event = await live_event(client, token, pools=2)
    second = event["pools"][1]["id"]
    changes = {"name": "Renamed", "tags": ["New"], "hasDraw": True, "mainPoolId": second}
    updated = ok(await gql(client, UPDATE_EVENT, {"id": event["id"], "input": changes}, token))["updateEvent"]
    assert (updated["name"], updated["tags"], updated["hasDraw"]) == ("Renamed", ["new"], True)
    assert updated["mainPool"]["id"] == updated["mainPoolId"] == second
    assert updated["nameRu"] == event["nameRu"]  # omitted fields unchanged
    _, other = await fast_user(db, is_creator=True)
    _, admin = await fast_user(db, is_admin=True)
    assert code(await gql(client, UPDATE_EVENT, {"id": event["id"], "input": {"name": "Mine"}}, other)) == "FORBIDDEN"
    by_admin = await gql(client, UPDATE_EVENT, {"id": event["id"], "input": {"name": "Admin"}}, admin)
    assert ok(by_admin)["updateEvent"]["name"] == "Admin"
    assert code(await gql(client, UPDATE_EVENT, {"id": "evt_999999", "input": {"name": "x"}}, token)) == "NOT_FOUND"
    foreign = (await live_event(client, other))["pools"][0]["id"]
    wrong_pool = {"id": event["id"], "input": {"mainPoolId": foreign}}
    assert code(await gql(client, UPDATE_EVENT, wrong_pool, token)) == "INVALID_REQUEST"


async def test_hidden_events(client: httpx.AsyncClient, creator: tuple[int, str], db: Database) -> None:
    _, token = creator
    event = await live_event(client, token, names=("A", "B"))
    pool_id, market_id = event["pools"][0]["id"], event["pools"][0]["markets"][0]["id"]
    hidden = ok(await gql(client, SET_ACTIVE, {"id": event["id"], "on": False}, token))["setEventActive"]
    assert hidden == {"id": event["id"], "isActive": False}
    _, stranger = await fast_user(db)
    _, admin = await fast_user(db, is_admin=True)
    for who in (None, stranger):
        # hidden is as missing as unknown: null, no error (by-id lookups are nullable)
        assert await gql(client, EVENT_QUERY, {"id": event["id"]}, who) == {"data": {"event": None}}
        assert await gql(client, POOL_QUERY, {"id": pool_id}, who) == {"data": {"pool": None}}
        assert await gql(client, MARKET_QUERY, {"id": market_id}, who) == {"data": {"market": None}}
        assert ok(await gql(client, FEED, {}, who))["events"]["edges"] == []
    for who in (token, admin):
        assert ok(await gql(client, EVENT_QUERY, {"id": event["id"]}, who))["event"]["isActive"] is False
        assert ok(await gql(client, POOL_QUERY, {"id": pool_id}, who))["pool"]["event"]["id"] == event["id"]
    mine = ok(await gql(client, MY_EVENTS, {}, token))["myEvents"]["edges"]
    assert [edge["node"] for edge in mine] == [{"id": event["id"], "isActive": False, "status": "STARTED"}]
    _, other = await fast_user(db, is_creator=True)
    assert code(await gql(client, SET_ACTIVE, {"id": event["id"], "on": True}, other)) == "NOT_FOUND"
    assert code(await gql(client, UPDATE_EVENT, {"id": event["id"], "input": {"name": "x"}}, other)) == "NOT_FOUND"
    ok(await gql(client, SET_ACTIVE, {"id": event["id"], "on": True}, admin))
    assert code(await gql(client, SET_ACTIVE, {"id": event["id"], "on": False}, other)) == "FORBIDDEN"
    assert code(await gql(client, SET_ACTIVE, {"id": "evt_999999", "on": True}, token)) == "NOT_FOUND"
    assert code(await gql(client, MY_EVENTS, {})) == "UNAUTHORIZED"
    assert await gql(client, EVENT_QUERY, {"id": "evt_999999"}) == {"data": {"event": None}}
    assert await gql(client, POOL_QUERY, {"id": "pool_999999"}) == {"data": {"pool": None}}
    assert await gql(client, MARKET_QUERY, {"id": "mkt_999999"}) == {"data": {"market": None}}
    for query, wrong in ((EVENT_QUERY, pool_id), (POOL_QUERY, market_id), (MARKET_QUERY, event["id"])):
        assert code(await gql(client, query, {"id": wrong})) == "INVALID_ID", (query, wrong)


async def test_pool_and_market_queries(client: httpx.AsyncClient, creator: tuple[int, str]) -> None:
    _, token = creator
    event = await live_event(client, token, names=("A", "B", "C"))
    pool = event["pools"][0]
    fetched = ok(await gql(client, POOL_QUERY, {"id": pool["id"]}))["pool"]
    assert fetched["event"] == {"id": event["id"], "name": event["name"]}
    assert [m["id"] for m in fetched["markets"]] == [m["id"] for m in pool["markets"]]
    market = ok(await gql(client, MARKET_QUERY, {"id": pool["markets"][1]["id"]}))["market"]
    assert market["pool"] == {"id": pool["id"], "event": {"id": event["id"]}}
    assert market["outcomeIndex"] == 1 and market["yesPrice"] == 3333  # created at 3333 bps (Price input)


async def test_feed_connection(client: httpx.AsyncClient, creator: tuple[int, str]) -> None:
    _, token = creator
    made = [await live_event(client, token, name=f"Event {n}", tags=["odd" if n % 2 else "even"]) for n in range(5)]
    upcoming = await new_event(client, token, name="Later")
    ok(
        await gql(
            client, CREATE_POOL, {"id": upcoming["id"], "input": pool_input(["Yes"], [0.5], liveAt=when(days=1))}, token
        )
    )
    ok(await gql(client, SET_ACTIVE, {"id": upcoming["id"], "on": True}, token))
    newest_first = [upcoming["id"]] + [event["id"] for event in reversed(made)]

    seen, after, pages = [], None, 0
    while True:
        page = ok(await gql(client, FEED, {"first": 2, "after": after}))["events"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        after, pages = page["pageInfo"]["endCursor"], pages + 1
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert (seen, pages) == (newest_first, 3)

    def ids(body: dict[str, Any]) -> list[str]:
        return [edge["node"]["id"] for edge in ok(body)["events"]["edges"]]

    assert ids(await gql(client, FEED, {"tags": ["ODD"]})) == [made[3]["id"], made[1]["id"]]
    assert ids(await gql(client, FEED, {"search": "event 2"})) == [made[2]["id"]]
    assert ids(await gql(client, FEED, {"status": "NEW"})) == [upcoming["id"]]
    assert ids(await gql(client, FEED, {"status": "STARTED", "first": 1})) == [made[4]["id"]]
    assert code(await gql(client, FEED, {"after": "not-a-cursor"})) == "INVALID_REQUEST"
    assert code(await gql(client, FEED, {"first": 0})) == "INVALID_REQUEST"
    assert code(await gql(client, FEED, {"status": "weird"})) == "BAD_USER_INPUT"
    empty = ok(await gql(client, FEED, {"search": "nothing like this"}))["events"]
    assert empty == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


async def test_set_pool_probabilities(client: httpx.AsyncClient, creator: tuple[int, str], db: Database) -> None:
    _, token = creator
    event = await live_event(client, token, names=("A", "B"))
    variables = {"e": event["id"], "p": event["pools"][0]["id"], "values": [7000, 3000]}
    markets = ok(await gql(client, SET_PROBABILITIES, variables, token))["setPoolProbabilities"]
    assert [m["yesPrice"] for m in markets] == [7000, 3000]
    assert [(m["qYes"], m["qNo"]) for m in markets] == [(0, 0), (0, 0)]
    bad = {**variables, "values": [7000, 7000]}
    assert code(await gql(client, SET_PROBABILITIES, bad, token)) == "INVALID_PROBABILITIES"
    assert code(await gql(client, SET_PROBABILITIES, {**variables, "values": [0.7, 0.3]}, token)) == "BAD_USER_INPUT"
    _, other = await fast_user(db, is_creator=True)
    assert code(await gql(client, SET_PROBABILITIES, variables, other)) == "FORBIDDEN"
    assert code(await gql(client, SET_PROBABILITIES, {**variables, "p": "pool_999999"}, token)) == "POOL_NOT_FOUND"


async def test_close_market_then_pool_closes(client: httpx.AsyncClient, creator: tuple[int, str], db: Database) -> None:
    _, token = creator
    event = await live_event(client, token, names=("A", "B"))
    pool = event["pools"][0]
    first, second = (market["id"] for market in pool["markets"])
    base = {"e": event["id"], "p": pool["id"]}
    _, other = await fast_user(db, is_creator=True)
    assert code(await gql(client, CLOSE_MARKET, {**base, "m": first, "side": "YES"}, other)) == "FORBIDDEN"
    assert code(await gql(client, CLOSE_MARKET, {**base, "m": first}, token)) == "INVALID_REQUEST"
    closed = ok(await gql(client, CLOSE_MARKET, {**base, "m": first, "side": "YES"}, token))["closeMarket"]
    assert closed == {
        "id": first,
        "resolved": True,
        "winningOutcome": "YES",
        "pool": {"wonSide": None, "closedAt": None},
    }
    assert code(await gql(client, CLOSE_MARKET, {**base, "m": first, "side": "NO"}, token)) == "CONFLICT"
    assert code(await gql(client, CLOSE_MARKET, {**base, "m": "mkt_999999", "side": "NO"}, token)) == "NOT_FOUND"
    last = ok(await gql(client, CLOSE_MARKET, {**base, "m": second, "outcome": 1}, token))["closeMarket"]
    assert last["winningOutcome"] == "NO" and last["pool"]["wonSide"] == 0 and last["pool"]["closedAt"]
    after = ok(await gql(client, EVENT_QUERY, {"id": event["id"]}))["event"]
    assert after["status"] == "PAID" and after["closedAt"]


async def test_close_pool(client: httpx.AsyncClient, creator: tuple[int, str]) -> None:
    _, token = creator
    event = await live_event(client, token, pools=2, names=("A", "B", "C"))
    first, second = event["pools"]
    by_outcome = {"e": event["id"], "p": first["id"], "outcome": 2}
    closed = ok(await gql(client, CLOSE_POOL, by_outcome, token))["closePool"]
    assert closed["wonSide"] == 2 and closed["closedAt"]
    assert [m["winningOutcome"] for m in closed["markets"]] == ["NO", "NO", "YES"]
    assert closed["event"] == {"status": "STARTED", "closedAt": None}  # the other pool still trades
    assert code(await gql(client, CLOSE_POOL, by_outcome, token)) == "CONFLICT"
    need_markets = {"e": event["id"], "p": second["id"], "side": "YES"}
    assert code(await gql(client, CLOSE_POOL, need_markets, token)) == "INVALID_REQUEST"
    sides = ["NO", "YES", "NO"]
    verdicts = [{"marketId": m["id"], "wonSide": side} for m, side in zip(second["markets"], sides, strict=True)]
    closed = ok(await gql(client, CLOSE_POOL, {"e": event["id"], "p": second["id"], "markets": verdicts}, token))
    assert [m["winningOutcome"] for m in closed["closePool"]["markets"]] == ["NO", "YES", "NO"]
    assert closed["closePool"]["wonSide"] == 1 and closed["closePool"]["event"]["status"] == "PAID"
    missing_pool = {"e": event["id"], "p": "pool_999999", "side": "YES"}
    assert code(await gql(client, CLOSE_POOL, missing_pool, token)) == "NOT_FOUND"


async def test_close_event(client: httpx.AsyncClient, creator: tuple[int, str], db: Database) -> None:
    _, token = creator
    single = await live_event(client, token)
    _, other = await fast_user(db, is_creator=True)
    assert code(await gql(client, CLOSE_EVENT, {"id": single["id"], "side": "NO"}, other)) == "FORBIDDEN"
    assert code(await gql(client, CLOSE_EVENT, {"id": "evt_999999", "side": "NO"}, token)) == "NOT_FOUND"
    closed = ok(await gql(client, CLOSE_EVENT, {"id": single["id"], "side": "NO"}, token))["closeEvent"]
    assert closed["status"] == "PAID" and closed["closedAt"]
    assert closed["pools"] == [
        {
            "wonSide": 1,
            "closedAt": closed["pools"][0]["closedAt"],
            "markets": [{"resolved": True, "winningOutcome": "NO"}],
        }
    ]
    assert code(await gql(client, CLOSE_EVENT, {"id": single["id"], "side": "YES"}, token)) == "CONFLICT"

    multi = await live_event(client, token, pools=2)
    assert code(await gql(client, CLOSE_EVENT, {"id": multi["id"], "outcome": 0}, token)) == "INVALID_REQUEST"
    first_pool, second_pool = (pool["id"] for pool in multi["pools"])
    verdicts = [{"poolId": first_pool, "wonSide": "YES"}, {"poolId": second_pool, "outcome": 1}]
    closed = ok(await gql(client, CLOSE_EVENT, {"id": multi["id"], "pools": verdicts}, token))["closeEvent"]
    assert [pool["wonSide"] for pool in closed["pools"]] == [0, 1] and closed["status"] == "PAID"
    assert ids_in_feed(ok(await gql(client, FEED, {"status": "PAID"}))) == [multi["id"], single["id"]]


def ids_in_feed(data: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in data["events"]["edges"]]


async def test_cancel_event(client: httpx.AsyncClient, creator: tuple[int, str], db: Database) -> None:
    _, token = creator
    event = await live_event(client, token)
    _, other = await fast_user(db, is_creator=True)
    assert code(await gql(client, CANCEL, {"id": event["id"]}, other)) == "FORBIDDEN"
    assert ok(await gql(client, CANCEL, {"id": event["id"]}, token))["cancelEvent"]["status"] == "CANCELLED"
    assert code(await gql(client, CANCEL, {"id": event["id"]}, token)) == "CONFLICT"
    assert ids_in_feed(ok(await gql(client, FEED, {}))) == []
    assert ids_in_feed(ok(await gql(client, FEED, {"status": "CANCELLED"}))) == [event["id"]]
    assert ok(await gql(client, EVENT_QUERY, {"id": event["id"]}))["event"]["status"] == "CANCELLED"


async def test_volume_and_watch_state(client: httpx.AsyncClient, creator: tuple[int, str], db: Database) -> None:
    _, token = creator
    event = await live_event(client, token, names=("A", "B"))
    trader_id, trader = await fast_user(db, balance=100_000)
    market_id = row_id(event["pools"][0]["markets"][1]["id"])
    async with db.transaction() as session:
        await lmsr_trading.trade(
            session, Actor(user_id=trader_id), TradeRequest(market_id, "buy_yes", "spend", 10_000), fee_bps=200
        )
        await watchlist.add(session, Actor(user_id=trader_id), event_id=row_id(event["id"]))
    seen = ok(await gql(client, EVENT_QUERY, {"id": event["id"]}, trader))["event"]
    volumes = [m["volume"] for m in seen["pools"][0]["markets"]]
    assert volumes[0] == 0 < volumes[1] and seen["totalVolume"] == sum(volumes)
    assert seen["pools"][0]["markets"][1]["qYes"] > 0 and seen["pools"][0]["markets"][1]["yesProbability"] > 0.5
    assert seen["isWatched"] is True
    assert ok(await gql(client, EVENT_QUERY, {"id": event["id"]}, token))["event"]["isWatched"] is False
    assert ok(await gql(client, EVENT_QUERY, {"id": event["id"]}))["event"]["isWatched"] is None


async def test_mutations_in_one_document_see_each_others_writes(
    client: httpx.AsyncClient, creator: tuple[int, str]
) -> None:
    """Loaders are reset after each write: the second answer is not served from the first one's cache."""
    _, token = creator
    event = await new_event(client, token)
    document = """mutation($id: ID!, $input: CreatePoolInput!) {
      first: setEventActive(input: {id: $id, isActive: true}) { event { status pools { name } } userErrors { code } }
      second: createPool(input: $input) {
        pool { event { status pools { name } mainPool { name } } } userErrors { code } } }"""
    spec = pool_input(["Yes"], [0.5], name="Fresh", liveAt=when(minutes=-1))
    data = ok(await gql(client, document, {"id": event["id"], "input": {**spec, "eventId": event["id"]}}, token))
    assert data["first"] == {"status": "NEW", "pools": []}
    assert data["second"]["event"] == {"status": "STARTED", "pools": [{"name": "Fresh"}], "mainPool": {"name": "Fresh"}}


async def test_timestamp_without_offset_is_utc(client: httpx.AsyncClient, creator: tuple[int, str]) -> None:
    """A DateTime input with no offset means UTC on GraphQL exactly as on REST (one parsing helper)."""
    _, token = creator
    event = await new_event(client, token)
    naive = (utcnow() + timedelta(days=2)).replace(tzinfo=None, microsecond=0)
    finish, live = naive.isoformat(), (naive - timedelta(days=3)).isoformat()
    spec = pool_input(["Yes"], [0.5], finishAt=finish, liveAt=live)
    pool = ok(await gql(client, CREATE_POOL, {"id": event["id"], "input": spec}, token))["createPool"]
    assert (pool["finishAt"], pool["liveAt"]) == (finish + "Z", live + "Z")
    rest = {
        "name": "REST",
        "finish_at": finish,
        "live_at": live,
        "metadata": {"market_names": ["Yes"], "market_probabilities": [0.5]},
    }
    created = await client.post(f"/api/v1/events/{row_id(event['id'])}/pools", json=rest, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert (created.json()["finish_at"], created.json()["live_at"]) == (pool["finishAt"], pool["liveAt"])
