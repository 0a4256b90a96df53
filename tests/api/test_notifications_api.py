"""REST group ``notifications``: shapes as routes.yaml shows them, owner isolation, validation."""

from __future__ import annotations

import httpx
import pytest

from predictql.db import Database
from predictql.services import notifications
from predictql.services.notifications import Draft
from tests.api.test_events import API, error
from tests.api.test_users import fast_user
from tests.markets.factories import create_market_setup
from tests.support import bearer

URL = f"{API}/notifications"
KEYS = ["id", "user_id", "type", "title", "message", "read", "created_at", "read_at", "related_id", "related_type"]


async def seed(db: Database, user_id: int, count: int) -> list[int]:
    """``count`` notifications for ``user_id`` (m0 oldest); their ids."""
    async with db.transaction() as session:
        rows = await notifications.create_many(
            session,
            [Draft(user_id, "event_closed", "Event Resolved", f"m{i}", "event", 55) for i in range(count)],
        )
    return [row.id or 0 for row in rows]


async def test_a_trade_shows_up_in_the_list_as_the_example_shape(client: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db, names=("Team A",))
    user, token = await fast_user(db, balance=100_000)
    body = {"market_id": market.id, "side": "buy_yes", "amount_type": "spend", "amount": 1000}
    assert (await client.post(f"{API}/lmsr/trade", json=body, headers=bearer(token))).status_code == 200
    listed = await client.get(URL, headers=bearer(token))
    assert listed.status_code == 200
    (item,) = listed.json()
    assert list(item) == KEYS
    assert item["user_id"] == user and item["type"] == "trade_executed" and item["title"] == "Trade Executed"
    assert (item["read"], item["read_at"], item["related_id"], item["related_type"]) == (
        False,
        None,
        market.id,
        "market",
    )
    assert item["created_at"].endswith("Z") and "'Team A'" in item["message"]


async def test_list_pages_newest_first_with_limit_and_offset(client: httpx.AsyncClient, db: Database) -> None:
    user, token = await fast_user(db)
    await seed(db, user, 25)
    default = (await client.get(URL, headers=bearer(token))).json()
    assert [n["message"] for n in default] == [f"m{i}" for i in range(24, 4, -1)]  # 20 by default
    page = (await client.get(URL, params={"limit": 3, "offset": 22}, headers=bearer(token))).json()
    assert [n["message"] for n in page] == ["m2", "m1", "m0"]
    assert (await client.get(URL, params={"offset": 25}, headers=bearer(token))).json() == []


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "abc"},
        {"limit": 0},
        {"limit": 101},
        {"limit": -1},
        {"offset": -1},
        {"offset": "1.5"},
        {"limit": "99999999999999999999999"},
        {"offset": "1e3"},
    ],
)
async def test_bad_limit_or_offset_is_a_400_envelope(
    client: httpx.AsyncClient, db: Database, params: dict[str, object]
) -> None:
    _, token = await fast_user(db)
    assert error(await client.get(URL, params=params, headers=bearer(token)), 400) == "bad_request"


async def test_unread_count_read_one_read_all(client: httpx.AsyncClient, db: Database) -> None:
    user, token = await fast_user(db)
    other, _ = await fast_user(db)
    ids = await seed(db, user, 3)
    await seed(db, other, 2)
    count = await client.get(f"{URL}/unread/count", headers=bearer(token))
    assert count.status_code == 200 and count.json() == {"count": 3}

    read = await client.put(f"{URL}/{ids[0]}/read", headers=bearer(token))
    assert read.status_code == 200
    assert list(read.json()) == KEYS and read.json()["read"] is True and read.json()["read_at"].endswith("Z")
    again = await client.put(f"{URL}/{ids[0]}/read", headers=bearer(token))
    assert again.json()["read_at"] == read.json()["read_at"]  # the first read time is kept

    unread = (await client.get(f"{URL}/unread", headers=bearer(token))).json()
    assert [n["id"] for n in unread] == [ids[2], ids[1]] and all(list(n) == KEYS for n in unread)
    everything = await client.put(f"{URL}/read-all", headers=bearer(token))
    assert everything.status_code == 200
    assert everything.json() == {"message": "all notifications marked as read", "count": 2}
    assert (await client.get(f"{URL}/unread/count", headers=bearer(token))).json() == {"count": 0}
    assert (await client.get(f"{URL}/unread", headers=bearer(token))).json() == []
    listed = (await client.get(URL, headers=bearer(token))).json()
    assert all(n["read"] for n in listed) and len(listed) == 3


async def test_delete_own_only(client: httpx.AsyncClient, db: Database) -> None:
    user, token = await fast_user(db)
    other, other_token = await fast_user(db)
    (mine,) = await seed(db, user, 1)
    (theirs,) = await seed(db, other, 1)
    for method, path in (
        ("DELETE", f"{URL}/{theirs}"),
        ("PUT", f"{URL}/{theirs}/read"),
        ("DELETE", f"{URL}/987654321"),
        ("PUT", f"{URL}/987654321/read"),
    ):
        response = await client.request(method, path, headers=bearer(token))
        assert error(response, 404) == "not_found", (method, path)
    assert error(await client.delete(f"{URL}/abc", headers=bearer(token)), 400) == "invalid_id"
    assert error(await client.put(f"{URL}/0/read", headers=bearer(token)), 400) == "invalid_id"

    deleted = await client.delete(f"{URL}/{mine}", headers=bearer(token))
    assert deleted.status_code == 200 and deleted.json() == {"message": "notification deleted successfully"}
    assert error(await client.delete(f"{URL}/{mine}", headers=bearer(token)), 404) == "not_found"
    assert (await client.get(URL, headers=bearer(token))).json() == []
    theirs_still = (await client.get(URL, headers=bearer(other_token))).json()
    assert [n["id"] for n in theirs_still] == [theirs] and theirs_still[0]["read"] is False


async def test_anonymous_callers_get_lower_case_401(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", URL),
        ("GET", f"{URL}/unread"),
        ("GET", f"{URL}/unread/count"),
        ("PUT", f"{URL}/read-all"),
        ("PUT", f"{URL}/1/read"),
        ("DELETE", f"{URL}/1"),
    ):
        assert error(await client.request(method, path), 401) == "unauthorized", (method, path)
