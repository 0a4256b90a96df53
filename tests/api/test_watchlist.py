"""REST group ``watchlist``: idempotent add and remove, the list of full events, visibility."""

from __future__ import annotations

import asyncio

import httpx

from predictql.db import Database
from tests.api.test_events import API, EVENT_KEYS, error, make_event, pool_body
from tests.api.test_users import fast_user
from tests.support import bearer

OK = {"status": "ok"}
WATCHLIST = f"{API}/users/me/watchlist"


async def test_add_list_remove_idempotent(client: httpx.AsyncClient, db: Database) -> None:
    _, creator = await fast_user(db, is_creator=True)
    _, token = await fast_user(db)
    first = await make_event(client, creator, pool_body(("A", "B"), (0.3, 0.7)))
    second = await make_event(client, creator, name="Second")
    assert (await client.get(WATCHLIST, headers=bearer(token))).json() == []
    for event in (first, second, first):
        response = await client.post(f"{WATCHLIST}/{event['id']}", headers=bearer(token))
        assert response.status_code == 200 and response.json() == OK
    listed = (await client.get(WATCHLIST, headers=bearer(token))).json()
    assert [e["id"] for e in listed] == [second["id"], first["id"]]  # most recently watched first
    assert set(listed[1]) == EVENT_KEYS | {"is_watched"} and listed[1]["is_watched"] is True
    assert listed[1]["pools"] == first["pools"]
    for _ in range(2):
        removed = await client.delete(f"{WATCHLIST}/{first['id']}", headers=bearer(token))
        assert removed.status_code == 200 and removed.json() == OK
    assert [e["id"] for e in (await client.get(WATCHLIST, headers=bearer(token))).json()] == [second["id"]]
    assert (await client.delete(f"{WATCHLIST}/987654", headers=bearer(token))).json() == OK
    got = (await client.get(f"{API}/events/{second['id']}", headers=bearer(token))).json()
    assert got["is_watched"] is True and "is_watched" not in (await client.get(f"{API}/events/{second['id']}")).json()


async def test_concurrent_adds_are_one_entry(client: httpx.AsyncClient, db: Database) -> None:
    _, creator = await fast_user(db, is_creator=True)
    _, token = await fast_user(db)
    event = await make_event(client, creator)
    path = f"{WATCHLIST}/{event['id']}"
    responses = await asyncio.gather(*(client.post(path, headers=bearer(token)) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    assert len((await client.get(WATCHLIST, headers=bearer(token))).json()) == 1


async def test_unknown_hidden_and_anonymous(client: httpx.AsyncClient, db: Database) -> None:
    _, creator = await fast_user(db, is_creator=True)
    _, token = await fast_user(db)
    event = await make_event(client, creator)
    hidden = await make_event(client, creator, active=False)
    assert error(await client.post(f"{WATCHLIST}/987654", headers=bearer(token)), 404) == "not_found"
    assert error(await client.post(f"{WATCHLIST}/{hidden['id']}", headers=bearer(token)), 404) == "not_found"
    assert error(await client.post(f"{WATCHLIST}/abc", headers=bearer(token)), 400) == "invalid_event_id"
    assert error(await client.get(WATCHLIST), 401) == "unauthorized"
    assert error(await client.post(f"{WATCHLIST}/{event['id']}"), 401) == "unauthorized"
    assert (await client.post(f"{WATCHLIST}/{hidden['id']}", headers=bearer(creator))).json() == OK  # own event
    # an event hidden after it was watched drops out of the list, and comes back when shown again
    await client.post(f"{WATCHLIST}/{event['id']}", headers=bearer(token))
    await client.post(f"{API}/events/{event['id']}/active", json={"is_active": False}, headers=bearer(creator))
    assert (await client.get(WATCHLIST, headers=bearer(token))).json() == []
    await client.post(f"{API}/events/{event['id']}/active", json={"is_active": True}, headers=bearer(creator))
    assert [e["id"] for e in (await client.get(WATCHLIST, headers=bearer(token))).json()] == [event["id"]]
