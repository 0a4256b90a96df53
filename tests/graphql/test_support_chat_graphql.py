"""The support chat over GraphQL: the visitor's twins of the REST routes (cookie included), and the
operators' side with its authorization, audit log, back-office events and node(id) visibility."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database
from predictql.models import AuditEntry, ChatSession, Notification
from predictql.services import support_desk
from predictql.settings import Settings
from predictql.subscriptions import topics
from predictql.subscriptions.payloads import BackOfficeItem, ChatTick
from tests.api.test_support_chat_api import COOKIE, jar, say, start
from tests.api.test_users import fast_user
from tests.graphql.test_round_trips import app_client, count_statements, split
from tests.subscriptions.test_topics import Recorder
from tests.support import USER_ERRORS, Kind, failure_code, gid, gql, ok_payload, row_id, wait_until

SESSION = "id status createdAt lastMessageAt escalatedAt closedAt user { id }"
MESSAGE = "id sessionId sender text createdAt"
MINE = f"{{ supportChat {{ {SESSION} messages(first: 10) {{ nodes {{ {MESSAGE} }} totalCount }} }} }}"
START = f"mutation {{ startSupportChat {{ chatSessionId session {{ {SESSION} }} {USER_ERRORS} }} }}"
SEND = f"""mutation($text: String!) {{ sendSupportMessage(input: {{text: $text}}) {{
  message {{ {MESSAGE} }} {USER_ERRORS} }} }}"""
CALL = f"mutation {{ callSupportOperator {{ session {{ status escalatedAt }} {USER_ERRORS} }} }}"
QUEUE = """query($status: [SupportChatStatus!], $first: Int, $after: String) {
  supportChatSessions(status: $status, first: $first, after: $after) {
    nodes { id status user { id } messages(last: 2) { nodes { sender text } } }
    totalCount pageInfo { hasNextPage endCursor } } }"""
ONE = f"query($id: ID!) {{ supportChatSession(id: $id) {{ {SESSION} messages {{ nodes {{ {MESSAGE} }} }} }} }}"
ANSWER = f"""mutation($id: ID!, $text: String!) {{ answerSupportChat(input: {{sessionId: $id, text: $text}}) {{
  session {{ id status }} message {{ {MESSAGE} }} {USER_ERRORS} }} }}"""
CLOSE = f"""mutation($id: ID!, $note: String) {{ closeSupportChat(input: {{sessionId: $id, note: $note}}) {{
  session {{ id status closedAt }} {USER_ERRORS} }} }}"""
__all__ = ["app_client"]  # the fixture, re-exported for pytest

NODE = "query($id: ID!) { node(id: $id) { id ... on SupportChatSession { status } ... on SupportMessage { text } } }"


async def visitor_gql(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_visitor_twins_with_the_cookie(client: httpx.AsyncClient, db: Database) -> None:
    assert (await visitor_gql(client, MINE))["data"] == {"supportChat": None}
    assert failure_code(await visitor_gql(client, SEND, {"text": "hi"})) == "NOT_FOUND"
    started = await client.post("/graphql", json={"query": START})
    payload = ok_payload(started.json())
    token = payload["chatSessionId"]
    assert started.cookies[COOKIE] == token and "httponly" in started.headers["set-cookie"].lower()
    assert payload["session"]["status"] == "OPEN" and payload["session"]["user"] is None
    again = ok_payload(await visitor_gql(client, START))
    assert again["chatSessionId"] == token and again["session"]["id"] == payload["session"]["id"]

    sent = ok_payload(await visitor_gql(client, SEND, {"text": "Where is my deposit?"}))["message"]
    assert sent["sender"] == "USER" and sent["sessionId"] == payload["session"]["id"]
    assert sent["id"].startswith("smsg_")
    bad = await visitor_gql(client, SEND, {"text": "  "})
    assert failure_code(bad) == "BAD_REQUEST"
    assert bad["data"]["sendSupportMessage"]["userErrors"][0]["field"] == ["input", "text"]
    escalated = ok_payload(await visitor_gql(client, CALL))["session"]
    assert escalated["status"] == "ESCALATED" and escalated["escalatedAt"]

    mine = (await visitor_gql(client, MINE))["data"]["supportChat"]
    assert mine["status"] == "ESCALATED" and mine["messages"]["totalCount"] == 1
    assert mine["messages"]["nodes"] == [sent]
    # The REST face sees the same conversation through the same cookie.
    history = (await client.get("/api/v1/chat/history")).json()["messages"]
    assert [(m["id"], m["text"]) for m in history] == [(row_id(sent["id"]), "Where is my deposit?")]
    # node(id): the visitor sees their own; a stranger (no cookie) sees null.
    assert (await visitor_gql(client, NODE, {"id": sent["id"]}))["data"]["node"]["text"] == "Where is my deposit?"
    client.cookies.clear()
    assert (await visitor_gql(client, NODE, {"id": payload["session"]["id"]}))["data"]["node"] is None
    assert (await visitor_gql(client, NODE, {"id": sent["id"]}, jar("forged")))["data"]["node"] is None
    assert (await visitor_gql(client, MINE, headers=jar(token)))["data"]["supportChat"]["id"] == mine["id"]


async def test_a_signed_in_visitor_keeps_the_conversation(client: httpx.AsyncClient, db: Database) -> None:
    await start(client)
    await say(client, "anonymous question")
    user_id, access = await fast_user(db)
    # The first GraphQL chat call with both the cookie and the token links the session.
    linked = (await visitor_gql(client, MINE, headers={"Authorization": f"Bearer {access}"}))["data"]["supportChat"]
    assert linked["user"] == {"id": gid(Kind.USER, user_id)}
    client.cookies.clear()
    elsewhere = (await gql(client, MINE, token=access))["data"]["supportChat"]
    assert [m["text"] for m in elsewhere["messages"]["nodes"]] == ["anonymous question"]


@pytest.mark.parametrize(
    "query,variables",
    [
        (QUEUE, {}),
        (ONE, {"id": "chat_1"}),
        (ANSWER, {"id": "chat_1", "text": "hello"}),
        (CLOSE, {"id": "chat_1"}),
    ],
)
async def test_operator_fields_refuse_everyone_else(
    client: httpx.AsyncClient, db: Database, query: str, variables: dict[str, Any]
) -> None:
    _, plain = await fast_user(db)
    _, creator = await fast_user(db, is_creator=True, is_stats_viewer=True)
    for token, code in ((None, "UNAUTHORIZED"), (plain, "FORBIDDEN"), (creator, "FORBIDDEN")):
        body = await gql(client, query, variables, token)
        assert body["errors"][0]["extensions"]["code"] == code, body
        assert body["data"] is None or all(value is None for value in body["data"].values())
    async with db.session() as session:
        assert (await session.scalars(select(AuditEntry))).all() == []


async def test_operators_list_read_answer_and_close(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    user_id, access = await fast_user(db)
    await start(client, headers={"Authorization": f"Bearer {access}"})
    await say(client, "mine", headers={"Authorization": f"Bearer {access}"})
    client.cookies.clear()
    await start(client)
    await say(client, "anon")
    assert (await client.post("/api/v1/chat/session/call-operator")).status_code == 200
    client.cookies.clear()
    await start(client)  # a third, closed below
    operator_id, operator = await fast_user(db, is_operator=True)
    _, admin = await fast_user(db, is_admin=True)

    queue = (await gql(client, QUEUE, {"first": 10}, operator))["data"]["supportChatSessions"]
    assert queue["totalCount"] == 3 and [n["status"] for n in queue["nodes"]] == ["OPEN", "ESCALATED", "OPEN"]
    assert queue["nodes"][2]["user"] == {"id": gid(Kind.USER, user_id)}
    assert queue["nodes"][1]["messages"]["nodes"] == [{"sender": "USER", "text": "anon"}]
    escalated = (await gql(client, QUEUE, {"status": ["ESCALATED"]}, admin))["data"]["supportChatSessions"]
    (target,) = escalated["nodes"]
    page = (await gql(client, QUEUE, {"first": 1}, operator))["data"]["supportChatSessions"]
    assert page["pageInfo"]["hasNextPage"] is True

    answered = ok_payload(await gql(client, ANSWER, {"id": target["id"], "text": "We are on it."}, operator))
    assert answered["message"]["sender"] == "SUPPORT" and answered["session"] == {
        "id": target["id"],
        "status": "ESCALATED",
    }
    read = (await gql(client, ONE, {"id": target["id"]}, operator))["data"]["supportChatSession"]
    assert [(m["sender"], m["text"]) for m in read["messages"]["nodes"]] == [
        ("SUPPORT", "We are on it."),
        ("USER", "anon"),
    ]
    assert (await gql(client, NODE, {"id": target["id"]}, operator))["data"]["node"]["status"] == "ESCALATED"

    closed = ok_payload(await gql(client, CLOSE, {"id": target["id"], "note": "solved"}, operator))["session"]
    assert closed["status"] == "CLOSED" and closed["closedAt"]
    assert failure_code(await gql(client, CLOSE, {"id": target["id"]}, operator)) == "CONFLICT"
    assert failure_code(await gql(client, ANSWER, {"id": target["id"], "text": "x"}, operator)) == "CONFLICT"
    assert failure_code(await gql(client, ANSWER, {"id": "chat_999999", "text": "x"}, operator)) == "NOT_FOUND"
    assert failure_code(await gql(client, ANSWER, {"id": target["id"], "text": ""}, operator)) == "BAD_REQUEST"
    wrong = await gql(client, CLOSE, {"id": "evt_1"}, operator)
    assert failure_code(wrong) == "INVALID_ID"
    assert wrong["data"]["closeSupportChat"]["userErrors"][0]["field"] == ["input", "sessionId"]
    assert (await gql(client, ONE, {"id": "chat_999999"}, operator))["data"] == {"supportChatSession": None}
    closed_list = (await gql(client, QUEUE, {"status": ["CLOSED"]}, operator))["data"]["supportChatSessions"]
    assert [n["id"] for n in closed_list["nodes"]] == [target["id"]]
    # The visitor sees the operator's answer through REST, created_at in milliseconds.
    async with db.session() as session:
        rows = (await session.scalars(select(AuditEntry).order_by(col(AuditEntry.id)))).all()
    assert [(e.action, e.actor_id, e.subject_type, e.subject_id) for e in rows] == [
        ("chat_session.answer", operator_id, "chat_session", row_id(target["id"])),
        ("chat_session.close", operator_id, "chat_session", row_id(target["id"])),
    ]
    assert rows[1].note == "solved" and rows[1].before == {"status": "escalated"}


async def test_escalation_and_close_emit_back_office_and_chat_events(db: Database) -> None:
    from predictql.services import support_chat
    from predictql.services.support_chat import Visitor

    recorder = Recorder()
    database = Database(db.engine, publisher=recorder)
    async with database.transaction() as session:
        started = await support_chat.start(session, Visitor(Actor()))
    visitor = Visitor(Actor(), started.token)
    async with database.transaction() as session:
        await support_chat.post(session, visitor, text="hi", max_chars=100, limiter=None)
        await support_chat.call_operator(session, visitor)
    async with database.transaction() as session:
        await support_chat.call_operator(session, visitor)  # already escalated: nothing new
    operator_id, _ = await fast_user(db, is_operator=True)
    async with database.transaction() as session:
        await support_desk.close(
            session, Actor(user_id=operator_id, is_operator=True), session_id=started.session.id or 0
        )
    office = [BackOfficeItem.from_json(m) for m in recorder.on(topics.BACKOFFICE)]
    assert [(i.kind, i.id, i.state, i.open) for i in office] == [
        ("chat_session", started.session.id, "escalated", True),
        ("chat_session", started.session.id, "closed", False),
    ]
    chat = [ChatTick.from_json(m) for m in recorder.on(topics.support_chat_channel(started.session.id or 0))]
    assert [(t.status, t.sender, t.text) for t in chat] == [
        ("open", "user", "hi"),
        ("escalated", None, None),
        ("closed", None, None),
    ]
    async with db.session() as session:
        assert (await session.get(ChatSession, started.session.id)) is not None


async def _seed_sessions(db: Database, count: int) -> None:
    from predictql.services import support_chat
    from predictql.services.support_chat import Visitor

    for n in range(count):
        user_id, _ = await fast_user(db)
        async with db.transaction() as session:
            started = await support_chat.start(session, Visitor(Actor(user_id=user_id)))
            visitor = Visitor(Actor(user_id=user_id), started.token)
            for i in range(3):
                await support_chat.post(session, visitor, text=f"s{n} m{i}", max_chars=100, limiter=None)


async def test_the_queue_with_messages_and_users_does_not_grow_in_statements(
    app_client: tuple[httpx.AsyncClient, Database], db: Database
) -> None:
    http, app_db = app_client
    # The stream-log pruner commits once as the app starts: its statements must not land in a count.
    await wait_until(lambda: app_db.version > 0)
    _, operator = await fast_user(db, is_operator=True)
    query = """{ supportChatSessions(first: 50) { nodes { id user { id nickname }
      messages(first: 2) { nodes { id text } } } } }"""
    counts = []
    for more in (2, 6):
        await _seed_sessions(db, more)
        with count_statements(app_db) as seen:
            body = await gql(http, query, token=operator)
        assert "errors" not in body, body
        nodes = body["data"]["supportChatSessions"]["nodes"]
        assert all(len(node["messages"]["nodes"]) == 2 and node["user"] for node in nodes)
        counts.append((len(nodes), split(seen)))
    assert [n for n, _ in counts] == [2, 8]
    assert counts[0][1] == counts[1][1], counts


NOTES = "{ notifications(first: 10) { nodes { type title message subject { __typename } } } }"


async def test_an_answer_notifies_a_signed_in_visitor_not_an_anonymous_one(
    client: httpx.AsyncClient, db: Database
) -> None:
    user_id, access = await fast_user(db)
    bearer = {"Authorization": f"Bearer {access}"}
    await start(client, headers=bearer)
    await say(client, "signed in", headers=bearer)
    client.cookies.clear()
    await start(client)
    await say(client, "anonymous")
    client.cookies.clear()
    _, operator = await fast_user(db, is_operator=True)
    queue = (await gql(client, QUEUE, {"first": 10}, operator))["data"]["supportChatSessions"]["nodes"]
    mine = next(n for n in queue if n["user"] == {"id": gid(Kind.USER, user_id)})
    anonymous = next(n for n in queue if n["user"] is None)
    ok_payload(await gql(client, ANSWER, {"id": mine["id"], "text": "Your deposit arrived."}, operator))
    ok_payload(await gql(client, ANSWER, {"id": anonymous["id"], "text": "Hello stranger."}, operator))
    notes = (await gql(client, NOTES, token=access))["data"]["notifications"]["nodes"]
    assert notes == [
        {"type": "SUPPORT_REPLY", "title": "Support Replied", "message": "Your deposit arrived.", "subject": None}
    ]
    async with db.session() as session:
        assert [n.user_id for n in (await session.scalars(select(Notification))).all()] == [user_id]
    # A failed answer (closed session) leaves no notification: it is written in the answer's transaction.
    ok_payload(await gql(client, CLOSE, {"id": mine["id"]}, operator))
    assert failure_code(await gql(client, ANSWER, {"id": mine["id"], "text": "late"}, operator)) == "CONFLICT"
    assert len((await gql(client, NOTES, token=access))["data"]["notifications"]["nodes"]) == 1
