"""REST group ``chat``: every route's documented shape and codes, the ``chat_session_id`` cookie
rules (none, garbage, foreign, linked at sign-in), escalation, limits."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlmodel import col, select

from predictql.db import Database
from predictql.models import AuditEntry, ChatMessage, ChatSession
from predictql.settings import Settings
from tests.api.test_events import API
from tests.api.test_users import fast_user
from tests.conftest import make_settings
from tests.support import bearer, lifespan_client

COOKIE = "chat_session_id"


async def start(http: httpx.AsyncClient, **kwargs: object) -> str:
    response = await http.post(f"{API}/chat/session", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["session_id"]
    return str(response.json()["session_id"])


async def say(http: httpx.AsyncClient, text: str, **kwargs: object) -> httpx.Response:
    return await http.post(f"{API}/chat/message", json={"text": text}, **kwargs)  # type: ignore[arg-type]


def jar(token: str) -> dict[str, str]:
    """A ``chat_session_id`` cookie sent by hand (the client's own jar cleared first)."""
    return {"Cookie": f"{COOKIE}={token}"}


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_anonymous_conversation_in_the_documented_shapes(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.post(f"{API}/chat/session")
    assert response.status_code == 200
    token = response.json()["session_id"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={token};")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "max-age=31536000" in lowered
    assert "secure" not in lowered  # plain http here; https sets Secure as for the auth cookies
    assert len(token) >= 40 and not token.isdigit()  # unguessable, not a row id
    async with db.session() as session:
        (row,) = (await session.scalars(select(ChatSession))).all()
        assert row.token_hash != token and row.user_id is None and row.status == "open"

    assert await start(client) == token  # get-or-create: the cookie keys the same session
    before = int(time.time() * 1000)
    sent = await say(client, "Thanks for your help!")
    assert sent.status_code == 200, sent.text
    (message,) = sent.json()["messages"]
    assert list(message) == ["id", "sender", "text", "created_at"]
    assert (message["sender"], message["text"]) == ("user", "Thanks for your help!")
    assert isinstance(message["created_at"], int) and before - 1000 <= message["created_at"] <= before + 60_000

    second = (await say(client, "second")).json()["messages"][0]
    history = await client.get(f"{API}/chat/history")
    assert history.status_code == 200
    assert history.json() == {"messages": [message, second]}
    poll = await client.get(f"{API}/chat/poll", params={"since_id": message["id"]})
    assert poll.json() == {"messages": [second]}
    assert (await client.get(f"{API}/chat/poll", params={"since_id": second["id"]})).json() == {"messages": []}

    called = await client.post(f"{API}/chat/session/call-operator")
    assert called.status_code == 200
    assert called.json() == {"success": True, "message": "Operator called successfully"}
    async with db.session() as session:
        row = (await session.scalars(select(ChatSession))).one()
        assert row.status == "escalated" and row.escalated_at is not None


@pytest.mark.parametrize("path", ["/chat/history", "/chat/poll?since_id=0"])
async def test_reading_without_a_cookie_is_401(client: httpx.AsyncClient, db: Database, path: str) -> None:
    response = await client.get(API + path)
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    garbage = await client.get(API + path, headers=jar("not-a-session"))
    assert garbage.status_code == 401 and error_code(garbage) == "unauthorized"
    huge = await client.get(API + path, headers=jar("x" * 5000))
    assert huge.status_code == 401


async def test_writing_without_a_session_is_404(client: httpx.AsyncClient, db: Database) -> None:
    for response in (
        await say(client, "hello"),
        await client.post(f"{API}/chat/session/call-operator"),
        await say(client, "hello", headers=jar("forged")),
    ):
        assert response.status_code == 404 and error_code(response) == "not_found", response.text


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": "   "},
        {"text": 5},
        {"text": "a\x00b"},
        {"text": "x" * 2001},
        {"text": "hi", "extra": 1},
        [],
    ],
)
async def test_a_bad_message_is_400_bad_request(client: httpx.AsyncClient, db: Database, body: object) -> None:
    await start(client)
    response = await client.post(f"{API}/chat/message", json=body)
    assert response.status_code == 400, response.text
    assert error_code(response) == "bad_request"


@pytest.mark.parametrize("since", ["", "abc", "-1", "1.5", "99999999999999999999999"])
async def test_a_bad_since_id_is_400(client: httpx.AsyncClient, db: Database, since: str) -> None:
    await start(client)
    response = await client.get(f"{API}/chat/poll", params={"since_id": since})
    assert response.status_code == 400 and error_code(response) == "bad_request"
    missing = await client.get(f"{API}/chat/poll")
    assert missing.status_code == 400


async def test_a_session_body_with_unknown_fields_is_400(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.post(f"{API}/chat/session", json={"anything": 1})
    assert response.status_code == 400 and error_code(response) == "bad_request"
    assert (await client.post(f"{API}/chat/session", json={})).status_code == 200


async def test_two_visitors_never_see_each_other(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    alice = await start(client)
    await say(client, "alice here")
    client.cookies.clear()
    bob = await start(client)
    assert bob != alice
    await say(client, "bob here")
    assert [m["text"] for m in (await client.get(f"{API}/chat/history")).json()["messages"]] == ["bob here"]
    client.cookies.clear()
    mine = await client.get(f"{API}/chat/history", headers=jar(alice))
    assert [m["text"] for m in mine.json()["messages"]] == ["alice here"]


async def test_signing_in_links_the_anonymous_conversation(client: httpx.AsyncClient, db: Database) -> None:
    token = await start(client)
    await say(client, "before sign-in")
    user_id, access = await fast_user(db)
    # The next chat call with both the cookie and the account links the session to the account.
    history = await client.get(f"{API}/chat/history", headers=bearer(access))
    assert [m["text"] for m in history.json()["messages"]] == ["before sign-in"]
    async with db.session() as session:
        row = (await session.scalars(select(ChatSession))).one()
        assert row.user_id == user_id
    # From another device, without the cookie: the account reaches the same conversation.
    client.cookies.clear()
    elsewhere = await client.get(f"{API}/chat/history", headers=bearer(access))
    assert [m["text"] for m in elsewhere.json()["messages"]] == ["before sign-in"]
    sent = await say(client, "from my phone", headers=bearer(access))
    assert sent.status_code == 200
    # The cookie alone no longer opens an account's conversation (a shared computer after sign-out).
    alone = await client.get(f"{API}/chat/history", headers=jar(token))
    assert alone.status_code == 401
    fresh = await start(client, headers=jar(token))
    assert fresh != token
    assert (await client.get(f"{API}/chat/history")).json() == {"messages": []}


async def test_a_signed_in_start_without_cookie_rekeys_the_accounts_session(
    client: httpx.AsyncClient, db: Database
) -> None:
    _, access = await fast_user(db)
    first = await start(client, headers=bearer(access))
    await say(client, "one", headers=bearer(access))
    client.cookies.clear()
    second = await start(client, headers=bearer(access))  # a new browser: same session, new cookie
    assert second != first and client.cookies[COOKIE] == second
    history = await client.get(f"{API}/chat/history", headers=bearer(access))
    assert [m["text"] for m in history.json()["messages"]] == ["one"]
    async with db.session() as session:
        assert len((await session.scalars(select(ChatSession))).all()) == 1


async def test_an_anonymous_session_merges_into_the_accounts_active_one(
    client: httpx.AsyncClient, db: Database
) -> None:
    user_id, access = await fast_user(db)
    await start(client, headers=bearer(access))
    await say(client, "old", headers=bearer(access))
    client.cookies.clear()
    await start(client)
    await say(client, "new")
    assert (await client.post(f"{API}/chat/session/call-operator")).status_code == 200
    history = await client.get(f"{API}/chat/history", headers=bearer(access))
    assert [m["text"] for m in history.json()["messages"]] == ["old", "new"]
    async with db.session() as session:
        rows = (await session.scalars(select(ChatSession).order_by(col(ChatSession.id)))).all()
        assert [(r.user_id, r.status) for r in rows] == [(user_id, "escalated"), (user_id, "closed")]


async def test_messages_are_rate_limited_per_session(settings: Settings, db: Database) -> None:
    limited = make_settings(
        settings.resolved_database_url,
        settings.data_dir,
        chat_messages_per_minute=3,
        bus_channel_prefix=f"chatrl{time.time_ns()}:",
    )
    async with lifespan_client(limited) as http:
        await start(http)
        for i in range(3):
            assert (await say(http, f"m{i}")).status_code == 200
        refused = await say(http, "one too many")
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        http.cookies.clear()
        await start(http)  # another session has its own budget
        assert (await say(http, "other")).status_code == 200
    async with db.session() as session:
        assert len((await session.scalars(select(ChatMessage))).all()) == 4


async def test_closed_session_refuses_writes_and_start_opens_a_new_one(client: httpx.AsyncClient, db: Database) -> None:
    from predictql.auth import Actor
    from predictql.services import support_desk

    token = await start(client)
    await say(client, "hi")
    operator_id, _ = await fast_user(db, is_operator=True)
    async with db.session() as session:
        row = (await session.scalars(select(ChatSession))).one()
    async with db.transaction() as session:
        await support_desk.close(session, Actor(user_id=operator_id, is_operator=True), session_id=row.id or 0)
    assert (await say(client, "again")).status_code == 404
    assert (await client.post(f"{API}/chat/session/call-operator")).status_code == 404
    assert [m["text"] for m in (await client.get(f"{API}/chat/history")).json()["messages"]] == ["hi"]
    assert await start(client) != token
    async with db.session() as session:
        entry = (await session.scalars(select(AuditEntry))).one()
        assert (entry.action, entry.actor_id, entry.before, entry.after) == (
            "chat_session.close",
            operator_id,
            {"status": "open"},
            {"status": "closed"},
        )


async def test_the_cookie_is_secure_over_https(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.post(f"https://testserver{API}/chat/session")
    assert response.status_code == 200
    lowered = response.headers["set-cookie"].lower()
    assert "secure" in lowered and "httponly" in lowered and "samesite=lax" in lowered


async def test_concurrent_starts_of_one_account_make_one_session(client: httpx.AsyncClient, db: Database) -> None:
    import asyncio

    # Without the account's row lock in ``start`` this made two or more sessions on PostgreSQL.
    user_id, access = await fast_user(db)
    answers = await asyncio.gather(*(client.post(f"{API}/chat/session", headers=bearer(access)) for _ in range(20)))
    assert all(answer.status_code == 200 for answer in answers)
    async with db.session() as session:
        rows = (await session.scalars(select(ChatSession))).all()
    assert [row.user_id for row in rows] == [user_id]
