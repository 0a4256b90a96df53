"""Comments over REST (our extension): threads one level deep, authors with their positions, edit
window, delete own, admins hide, length and rate limits, reply notifications, who may do what."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import col

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.models import Comment, Event, User
from predictql.services import lmsr_trading
from predictql.services.lmsr_trading import TradeRequest
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.markets.factories import create_market_setup
from tests.support import bearer


async def event_with_market(db: Database) -> tuple[int, int]:
    _, pool, (market,) = await create_market_setup(db)
    return pool.event_id, market.id or 0


async def post(client: httpx.AsyncClient, token: str, event_id: int, text: str, parent_id: int | None = None) -> Any:
    body: dict[str, Any] = {"text": text} if parent_id is None else {"text": text, "parent_id": parent_id}
    return await client.post(f"/api/v1/events/{event_id}/comments", json=body, headers=bearer(token))


async def ok_post(client: httpx.AsyncClient, token: str, event_id: int, text: str, parent_id: int | None = None) -> Any:
    response = await post(client, token, event_id, text, parent_id)
    assert response.status_code == 201, response.text
    return response.json()


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


async def make_admin(db: Database, user_id: int) -> None:
    async with db.transaction() as session:
        await session.execute(update(User).where(col(User.id) == user_id).values(is_admin=True))


async def test_comments_replies_authors_and_their_positions(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    event_id, market_id = await event_with_market(db)
    alice, alice_token = await trader(db, settings, balance=100_000, nickname="alice")
    _, bob_token = await trader(db, settings, nickname="bob")
    async with db.transaction() as session:
        await lmsr_trading.trade(
            session, Actor(user_id=alice), TradeRequest(market_id, "buy_yes", "spend", 5_000), fee_bps=200
        )
    first = await ok_post(client, alice_token, event_id, "  YES is cheap  ")
    assert first["text"] == "YES is cheap" and first["status"] == "visible" and first["parent_id"] is None
    assert first["user"] == {"id": alice, "name": first["user"]["name"], "nickname": "alice", "avatar_url": None}
    (held,) = first["positions"]
    assert (held["market_id"], held["token"]) == (market_id, "YES") and held["amount"] > 0
    second = await ok_post(client, bob_token, event_id, "no it is not")
    assert second["positions"] == []
    reply = await ok_post(client, bob_token, event_id, "agreed", parent_id=first["id"])

    newest = (await client.get(f"/api/v1/events/{event_id}/comments")).json()
    assert [c["id"] for c in newest["comments"]] == [second["id"], first["id"]]  # top-level only
    assert newest["has_more"] is False and newest["comments"][1]["reply_count"] == 1
    oldest = (await client.get(f"/api/v1/events/{event_id}/comments?order=oldest&limit=1")).json()
    assert [c["id"] for c in oldest["comments"]] == [first["id"]] and oldest["has_more"]
    rest = (
        await client.get(f"/api/v1/events/{event_id}/comments?order=oldest&limit=1&cursor={oldest['next_cursor']}")
    ).json()
    assert [c["id"] for c in rest["comments"]] == [second["id"]] and not rest["has_more"]
    replies = (await client.get(f"/api/v1/events/{event_id}/comments?parent_id={first['id']}")).json()
    assert [c["id"] for c in replies["comments"]] == [reply["id"]]

    # one level only; a parent of another event is not found
    assert error_of(await post(client, alice_token, event_id, "deeper", reply["id"]), 400) == "INVALID_REQUEST"
    other_event, _ = await event_with_market(db)
    assert error_of(await post(client, alice_token, other_event, "x", first["id"]), 404) == "NOT_FOUND"
    assert error_of(await client.get(f"/api/v1/events/{event_id}/comments?order=sideways"), 400) == "INVALID_REQUEST"


async def test_replies_notify_the_thread_but_not_the_replier(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    event_id, _ = await event_with_market(db)
    _, alice_token = await trader(db, settings)
    _, bob_token = await trader(db, settings)
    _, carol_token = await trader(db, settings)
    top = await ok_post(client, alice_token, event_id, "top")
    await ok_post(client, alice_token, event_id, "my own reply", top["id"])  # nobody else to tell
    await ok_post(client, bob_token, event_id, "bob replies", top["id"])  # alice
    await ok_post(client, carol_token, event_id, "carol too", top["id"])  # alice and bob

    async def notes(token: str) -> list[dict[str, Any]]:
        return list((await client.get("/api/v1/notifications", headers=bearer(token))).json())

    alices, bobs, carols = await notes(alice_token), await notes(bob_token), await notes(carol_token)
    assert [n["type"] for n in alices] == ["comment_reply", "comment_reply"]
    assert alices[0]["related_type"] == "event" and alices[0]["related_id"] == event_id
    assert "carol too" in alices[0]["message"] and "bob replies" in alices[1]["message"]
    assert [n["message"] for n in bobs] == [alices[0]["message"]]
    assert carols == []


async def test_edit_within_the_window_delete_own_and_nobody_elses(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    event_id, _ = await event_with_market(db)
    _, alice_token = await trader(db, settings)
    _, bob_token = await trader(db, settings)
    mine = await ok_post(client, alice_token, event_id, "typo")
    url = f"/api/v1/comments/{mine['id']}"

    edited = await client.patch(url, json={"text": "fixed"}, headers=bearer(alice_token))
    assert edited.status_code == 200 and edited.json()["text"] == "fixed" and edited.json()["edited_at"]
    assert error_of(await client.patch(url, json={"text": "mine now"}, headers=bearer(bob_token)), 403) == "FORBIDDEN"
    assert error_of(await client.delete(url, headers=bearer(bob_token)), 403) == "FORBIDDEN"
    assert error_of(await client.patch(url, json={"text": "x"}), 401) == "UNAUTHORIZED"

    async with db.transaction() as session:  # posted longer ago than the window
        past = utcnow() - timedelta(seconds=settings.comment_edit_window_seconds + 1)
        await session.execute(update(Comment).where(col(Comment.id) == mine["id"]).values(created_at=past))
    closed = await client.patch(url, json={"text": "too late"}, headers=bearer(alice_token))
    assert error_of(closed, 409) == "EDIT_WINDOW_CLOSED"

    deleted = await client.delete(url, headers=bearer(alice_token))
    assert deleted.status_code == 200 and deleted.json() == {"message": "comment deleted successfully"}
    (shown,) = (await client.get(f"/api/v1/events/{event_id}/comments")).json()["comments"]
    assert (shown["id"], shown["status"], shown["text"]) == (mine["id"], "deleted", None)
    assert error_of(await client.delete(url, headers=bearer(alice_token)), 404) == "NOT_FOUND"
    assert error_of(await client.delete("/api/v1/comments/999999", headers=bearer(alice_token)), 404) == "NOT_FOUND"


async def test_admins_hide_and_show_again(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    event_id, _ = await event_with_market(db)
    _, alice_token = await trader(db, settings)
    admin, admin_token = await trader(db, settings)
    await make_admin(db, admin)
    comment = await ok_post(client, alice_token, event_id, "spam spam")
    url = f"/api/v1/comments/{comment['id']}/hide"

    assert error_of(await client.post(url, json={"hidden": True}, headers=bearer(alice_token)), 403) == "FORBIDDEN"
    hidden = await client.post(url, json={"hidden": True}, headers=bearer(admin_token))
    assert hidden.status_code == 200 and (hidden.json()["status"], hidden.json()["text"]) == ("hidden", None)
    (listed,) = (await client.get(f"/api/v1/events/{event_id}/comments")).json()["comments"]
    assert (listed["status"], listed["text"]) == ("hidden", None)
    refused = await client.patch(f"/api/v1/comments/{comment['id']}", json={"text": "x"}, headers=bearer(alice_token))
    assert error_of(refused, 409) == "CONFLICT"
    shown = await client.post(url, json={"hidden": False}, headers=bearer(admin_token))
    assert (shown.json()["status"], shown.json()["text"]) == ("visible", "spam spam")


async def test_length_and_rate_limits(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    event_id, _ = await event_with_market(db)
    _, token = await trader(db, settings)
    too_long = "x" * (settings.comment_max_length + 1)
    assert error_of(await post(client, token, event_id, too_long), 400) == "INVALID_REQUEST"
    assert error_of(await post(client, token, event_id, "   "), 400) == "INVALID_REQUEST"
    assert (
        error_of(
            await client.post(
                f"/api/v1/events/{event_id}/comments", json={"text": "x", "colour": "red"}, headers=bearer(token)
            ),
            400,
        )
        == "INVALID_REQUEST"
    )
    await ok_post(client, token, event_id, "x" * settings.comment_max_length)
    for n in range(settings.comment_rate_per_minute - 1):
        await ok_post(client, token, event_id, f"comment {n}")
    limited = await post(client, token, event_id, "one too many")
    assert error_of(limited, 429) == "RATE_LIMITED"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_hidden_events_and_hidden_profiles(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    event_id, market_id = await event_with_market(db)
    shy, shy_token = await trader(db, settings, balance=100_000, hidden=True)
    async with db.transaction() as session:
        request = TradeRequest(market_id, "buy_no", "spend", 5_000)
        await lmsr_trading.trade(session, Actor(user_id=shy), request, fee_bps=200)
    mine = await ok_post(client, shy_token, event_id, "guess who")
    assert mine["user"]["id"] == shy and mine["positions"]  # the author sees themself
    (public,) = (await client.get(f"/api/v1/events/{event_id}/comments")).json()["comments"]
    assert public["user"] == {"id": None, "name": "Anonymous", "nickname": None, "avatar_url": None}
    assert public["positions"] is None

    async with db.transaction() as session:
        await session.execute(update(Event).where(col(Event.id) == event_id).values(is_active=False))
    assert error_of(await client.get(f"/api/v1/events/{event_id}/comments"), 404) == "NOT_FOUND"
    assert error_of(await post(client, shy_token, event_id, "hello?"), 404) == "NOT_FOUND"
