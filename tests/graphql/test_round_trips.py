"""A query's database round trips do not grow with the number of rows (STYLE 6).

The statements are counted on the engine the running app built in its lifespan (not the test
fixture's engine), so every SQL statement the GraphQL request causes is seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from predictql.app import create_app
from predictql.db import Database, utcnow
from predictql.services import events, pools
from predictql.services.events import EventFields
from predictql.services.pools import PoolFields
from predictql.settings import Settings
from tests.markets.factories import creator_actor
from tests.support import BASE, Kind, Lifespan, create_user, gid, gql

FEED = """query($first: Int!) { events(first: $first) { edges { node {
  id name status pools { id name markets { id name yesProbability pool { id } } } mainPool { id }
} } } }"""
MAX_STATEMENTS = 8


@pytest.fixture
async def app_client(settings: Settings, db: Database) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The in-process app and the ``Database`` its lifespan built, with its background sweeps and
    heartbeats far apart: their statements on the same engine would be counted as the request's.
    A pool of 4 (8 with overflow): 64 concurrent trades opened all 40 of the default on PostgreSQL,
    and failed with "too many clients" while other suites or a benchmark shared the server."""
    quiet = settings.model_copy(
        update={
            "order_expiry_sweep_seconds": 3600,
            "p2p_expiry_sweep_seconds": 3600,
            "stream_heartbeat_seconds": 3600,
            "loop_tick_seconds": 3600,
            "database_pool_size": 4,
        }
    )
    async with Lifespan(create_app(quiet, run_migrations=False)) as running:
        transport = httpx.ASGITransport(app=running, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield http, running.state["db"]


@contextmanager
def count_statements(database: Database) -> Iterator[list[str]]:
    """SQL statements sent, plus one ``"<checkout>"`` per pooled connection taken (one per session:
    on PostgreSQL each also costs a pre-ping, BEGIN and ROLLBACK that no cursor event shows)."""
    seen: list[str] = []
    engine = database.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    def checkout(*_: Any) -> None:
        seen.append("<checkout>")

    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(engine, "checkout", checkout)


def split(seen: list[str]) -> tuple[int, int]:
    """(statements, sessions)"""
    sessions = seen.count("<checkout>")
    return len(seen) - sessions, sessions


async def seed(db: Database, creator_id: int, count: int) -> None:
    """``count`` active, started events, each with two pools of three markets."""
    actor = creator_actor(creator_id)
    async with db.transaction() as session:
        for n in range(count):
            row = await events.create_event(session, actor, EventFields(name=f"Event {n}", tags=["load"]))
            assert row.id is not None
            row.is_active = True
            for p in range(2):
                fields = PoolFields(
                    name=f"Pool {p}",
                    live_at=utcnow() - timedelta(hours=1),
                    finish_at=utcnow() + timedelta(days=1),
                    market_names=["A", "B", "C"],
                    market_probabilities=[0.5, 0.3, 0.2],
                )
                await pools.create_pool(session, actor, row.id, fields)


async def feed_statements(http: httpx.AsyncClient, app_db: Database, first: int) -> tuple[list[str], list[Any]]:
    with count_statements(app_db) as seen:
        body = await gql(http, FEED, {"first": first})
    assert "errors" not in body, body["errors"]
    return list(seen), [edge["node"] for edge in body["data"]["events"]["edges"]]


def check_shape(nodes: list[Any], count: int) -> None:
    assert len(nodes) == count
    for node in nodes:
        assert node["status"] == "STARTED"
        assert [pool["name"] for pool in node["pools"]] == ["Pool 0", "Pool 1"]
        assert node["mainPool"]["id"] == node["pools"][0]["id"]
        for pool in node["pools"]:
            assert [market["name"] for market in pool["markets"]] == ["A", "B", "C"]
            assert [market["pool"]["id"] for market in pool["markets"]] == [pool["id"]] * 3
            assert [market["yesProbability"] for market in pool["markets"]] == pytest.approx([0.5, 0.3, 0.2])


async def test_feed_round_trips_do_not_grow_with_rows(
    app_client: tuple[httpx.AsyncClient, Database], db: Database
) -> None:
    http, app_db = app_client
    creator_id = await create_user(db, is_creator=True)

    await seed(db, creator_id, 5)
    small, nodes = await feed_statements(http, app_db, 20)
    check_shape(nodes, 5)

    await seed(db, creator_id, 15)
    large, nodes = await feed_statements(http, app_db, 20)
    check_shape(nodes, 20)

    (small_statements, small_sessions), (large_statements, large_sessions) = split(small), split(large)
    print(
        f"\n[{app_db.engine.dialect.name}] feed: 5 events -> {small_statements} statements in {small_sessions}"
        f" sessions, 20 events -> {large_statements} statements in {large_sessions} sessions"
    )
    assert small_statements == large_statements <= MAX_STATEMENTS, (small, large)
    assert small_sessions == large_sessions <= MAX_STATEMENTS, (small, large)


async def test_single_event_round_trips(app_client: tuple[httpx.AsyncClient, Database], db: Database) -> None:
    """``event(id)`` with pools, markets and their back-references: also a fixed handful."""
    http, app_db = app_client
    await seed(db, await create_user(db, is_creator=True), 3)
    _, nodes = await feed_statements(http, app_db, 1)
    query = """query($id: ID!) { event(id: $id) { status totalVolume mainPool { id }
      pools { event { id } markets { id pool { id event { name } } } } } }"""
    with count_statements(app_db) as seen:
        body = await gql(http, query, {"id": nodes[0]["id"]})
    assert "errors" not in body, body["errors"]
    assert [m["pool"]["event"]["name"] for p in body["data"]["event"]["pools"] for m in p["markets"]] == ["Event 2"] * 6
    # The event, its pools, their markets; the back-references (pool, event) come from primed loaders.
    assert split(seen)[0] == 3, seen


def aliased_lookups(targets: list[tuple[str, str]]) -> str:
    """One document of ``len(targets)`` aliased by-id lookups (``event``, ``pool``, ``market``, ``user``,
    ``node``), each asking for a field that needs no further query."""
    fields = {"event": "name", "pool": "name", "market": "name", "user": "name"}
    parts = []
    for n, (field, value) in enumerate(targets):
        inner = "... on Market { name } ... on Event { name } id" if field == "node" else fields[field]
        parts.append(f'l{n}: {field}(id: "{value}") {{ {inner} }}')
    return "{ " + " ".join(parts) + " }"


async def test_thirty_aliased_lookups_cost_a_fixed_number_of_statements(
    app_client: tuple[httpx.AsyncClient, Database], db: Database
) -> None:
    """Every by-id root field and ``node`` go through the DataLoaders: 30 aliased lookups of five
    kinds cost what 5 cost (one batch per kind of row, plus the events that decide visibility)."""
    http, app_db = app_client
    creator_id = await create_user(db, is_creator=True)
    await seed(db, creator_id, 6)
    _, nodes = await feed_statements(http, app_db, 6)
    users = [await create_user(db) for _ in range(6)]
    targets: list[tuple[str, str]] = []
    for n, event_node in enumerate(nodes):
        pool, market = event_node["pools"][1], event_node["pools"][0]["markets"][n % 3]
        targets += [
            ("event", event_node["id"]),
            ("pool", pool["id"]),
            ("market", market["id"]),
            ("user", gid(Kind.USER, users[n])),
            ("node", market["id"] if n % 2 else event_node["id"]),
        ]
    assert len(targets) == 30

    counted = []
    for size in (5, 30):
        with count_statements(app_db) as seen:
            body = await gql(http, aliased_lookups(targets[:size]))
        assert "errors" not in body, body["errors"]
        assert len(body["data"]) == size and all(value and value["name"] for value in body["data"].values())
        counted.append(split(seen))
    print(f"\n[{app_db.engine.dialect.name}] (statements, sessions): 5 aliased lookups {counted[0]}, 30 {counted[1]}")
    # events (the lookups and the visibility of pools and markets), pools, markets, users
    assert counted[0] == counted[1] and counted[1][0] <= 5, counted

    missing = await gql(http, '{ a: market(id: "mkt_999999") { id } b: node(id: "usr_999999") { id } }')
    assert missing == {"data": {"a": None, "b": None}}
    hidden = await gql(http, aliased_lookups([("node", "trd_1"), ("node", "ord_1"), ("node", "pos_1")]))
    assert hidden == {"data": {"l0": None, "l1": None, "l2": None}}  # no trades yet; others' rows are never shown
