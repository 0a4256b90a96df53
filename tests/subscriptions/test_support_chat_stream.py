"""``supportChat`` (the visitor) and ``supportChatSession`` (operators) over graphql-transport-ws:
how a socket identifies the visitor (connectionParams.chatSessionId, the handshake cookie, a
signed-in token), live delivery of both sides' messages and status changes, resuming with fromSeq,
and the refusals."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp

from predictql.db import Database
from tests.api.test_users import fast_user
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import data
from tests.subscriptions.test_notification_subscription import _until_subscribed
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import bearer, gql, ok_payload

VISITOR = """subscription($from: Long) { supportChat(fromSeq: $from) { kind seq data {
  sessionId status at message { id sender text createdAt } } } }"""
OPERATOR = """subscription($id: ID!, $from: Long) { supportChatSession(sessionId: $id, fromSeq: $from) {
  kind seq data { sessionId status message { sender text } } } }"""
ANSWER = """mutation($id: ID!, $text: String!) { answerSupportChat(input: {sessionId: $id, text: $text}) {
  message { id } userErrors { code } } }"""
CLOSE = "mutation($id: ID!) { closeSupportChat(input: {sessionId: $id}) { session { status } userErrors { code } } }"
MINE = "{ supportChat { id } }"


class CookieSocket(GraphQLSocket):
    """A browser's socket: the ``chat_session_id`` cookie rides on the handshake."""

    def __init__(self, app: ASGIApp, cookie: str, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.cookie = cookie

    def _scope(self) -> dict[str, Any]:
        scope = super()._scope()
        scope["headers"] = [*scope["headers"], (b"cookie", f"chat_session_id={self.cookie}".encode())]
        return scope


async def _visitor(live: Live, headers: dict[str, str] | None = None) -> tuple[str, str]:
    """A new chat (its token, its chat_ id) started over REST, the live app's client jar cleared."""
    response = await live.http.post("/api/v1/chat/session", headers=headers or {})
    token = response.json()["session_id"]
    chat_id = (await live.http.post("/graphql", json={"query": MINE}, headers=headers or {})).json()
    live.http.cookies.clear()
    return token, chat_id["data"]["supportChat"]["id"]


async def _say(live: Live, token: str, text: str) -> None:
    response = await live.http.post(
        "/api/v1/chat/message", json={"text": text}, headers={"Cookie": f"chat_session_id={token}"}
    )
    assert response.status_code == 200, response.text


async def test_both_sides_hear_the_conversation_live(live: Live, db: Database) -> None:
    token, chat_id = await _visitor(live)
    _, operator = await fast_user(db, is_operator=True)
    async with (
        GraphQLSocket(live.app, params={"chatSessionId": token}) as visitor_ws,
        GraphQLSocket(live.app, params={"token": operator}) as operator_ws,
    ):
        mine = await visitor_ws.subscribe(VISITOR)
        theirs = await operator_ws.subscribe(OPERATOR, {"id": chat_id})
        await _until_subscribed(live.bus, 2)  # the two streams
        await visitor_ws.nothing(0.1)  # no snapshot

        await _say(live, token, "my deposit is missing")
        heard = data(await visitor_ws.next(mine), "supportChat")
        assert (heard["kind"], heard["seq"], heard["sessionId"], heard["status"]) == ("LIVE", 1, chat_id, "OPEN")
        assert heard["message"]["sender"] == "USER" and heard["message"]["text"] == "my deposit is missing"
        assert data(await operator_ws.next(theirs), "supportChatSession")["message"] == {
            "sender": "USER",
            "text": "my deposit is missing",
        }

        ok_payload(await gql(live.http, ANSWER, {"id": chat_id, "text": "Looking into it"}, operator))
        answer = data(await visitor_ws.next(mine), "supportChat")
        assert (answer["seq"], answer["message"]["sender"], answer["message"]["text"]) == (
            2,
            "SUPPORT",
            "Looking into it",
        )
        assert data(await operator_ws.next(theirs), "supportChatSession")["seq"] == 2

        called = await live.http.post(
            "/api/v1/chat/session/call-operator", headers={"Cookie": f"chat_session_id={token}"}
        )
        assert called.status_code == 200
        escalated = data(await visitor_ws.next(mine), "supportChat")
        assert (escalated["seq"], escalated["status"], escalated["message"]) == (3, "ESCALATED", None)
        ok_payload(await gql(live.http, CLOSE, {"id": chat_id}, operator))
        closed = data(await visitor_ws.next(mine), "supportChat")
        assert (closed["seq"], closed["status"], closed["message"]) == (4, "CLOSED", None)
        operator_seen = [data(await operator_ws.next(theirs), "supportChatSession") for _ in range(2)]
        assert [(m["seq"], m["status"]) for m in operator_seen] == [(3, "ESCALATED"), (4, "CLOSED")]


async def test_the_handshake_cookie_identifies_a_browser_and_resume_replays(live: Live, db: Database) -> None:
    token, chat_id = await _visitor(live)
    other, _ = await _visitor(live)
    await _say(live, token, "one")  # seq 1, before anyone listens
    await _say(live, other, "not yours")
    await _say(live, token, "two")  # seq 2
    async with CookieSocket(live.app, token) as ws:
        op = await ws.subscribe(VISITOR, {"from": 0})
        replayed = [data(await ws.next(op), "supportChat") for _ in range(2)]
        assert [(m["seq"], m["message"]["text"]) for m in replayed] == [(1, "one"), (2, "two")]
        await _until_subscribed(live.bus, 1)
        await _say(live, other, "still not yours")
        await _say(live, token, "three")
        third = data(await ws.next(op), "supportChat")
        assert (third["seq"], third["sessionId"], third["message"]["text"]) == (3, chat_id, "three")
        await ws.nothing(0.2)


async def test_a_signed_in_socket_follows_the_accounts_chat(live: Live, db: Database) -> None:
    _, access = await fast_user(db)
    _, chat_id = await _visitor(live, bearer(access))
    _, operator = await fast_user(db, is_operator=True)
    async with GraphQLSocket(live.app, params={"token": access}) as ws:
        op = await ws.subscribe(VISITOR)
        await _until_subscribed(live.bus, 1)  # the stream
        ok_payload(await gql(live.http, ANSWER, {"id": chat_id, "text": "Hello"}, operator))
        message = data(await ws.next(op), "supportChat")
        assert (message["sessionId"], message["message"]["text"]) == (chat_id, "Hello")


async def _refused(ws: GraphQLSocket, query: str, variables: dict[str, Any] | None = None) -> str:
    op = await ws.subscribe(query, variables)
    failed = await ws.next(op)
    assert failed["data"] is None, failed
    assert (await ws.next(op))["type"] == "complete"
    return str(failed["errors"][0]["extensions"]["code"])


async def test_refusals(live: Live, db: Database) -> None:
    token, chat_id = await _visitor(live)
    _, plain = await fast_user(db)
    _, operator = await fast_user(db, is_operator=True)
    async with GraphQLSocket(live.app) as anonymous:
        assert await _refused(anonymous, VISITOR) == "UNAUTHORIZED"
        assert await _refused(anonymous, OPERATOR, {"id": chat_id}) == "UNAUTHORIZED"
    async with GraphQLSocket(live.app, params={"chatSessionId": "forged"}) as forged:
        assert await _refused(forged, VISITOR) == "UNAUTHORIZED"
    async with CookieSocket(live.app, "garbage") as garbage:
        assert await _refused(garbage, VISITOR) == "UNAUTHORIZED"
    async with GraphQLSocket(live.app, params={"token": plain, "chatSessionId": token}) as user_ws:
        assert await _refused(user_ws, OPERATOR, {"id": chat_id}) == "FORBIDDEN"
    async with GraphQLSocket(live.app, params={"token": operator}) as operator_ws:
        assert await _refused(operator_ws, OPERATOR, {"id": "chat_999999"}) == "NOT_FOUND"
        op = await operator_ws.subscribe(OPERATOR, {"id": "usr_1"})  # refused before it starts, as elsewhere
        wrong = await operator_ws.next(op)
        assert wrong["type"] == "error" and wrong["payload"][0]["extensions"]["code"] == "INVALID_ID", wrong
    assert live.bus.stats()["channels"] == 0  # nothing was followed


async def test_signing_in_on_the_socket_links_the_cookie_session(live: Live, db: Database) -> None:
    from sqlmodel import select

    from predictql.models import ChatSession

    token, chat_id = await _visitor(live)
    user_id, access = await fast_user(db)
    async with GraphQLSocket(live.app, params={"token": access, "chatSessionId": token}) as ws:
        op = await ws.subscribe(VISITOR)
        await _until_subscribed(live.bus, 1)  # the stream
        async with db.session() as session:
            row = (await session.scalars(select(ChatSession))).one()
        assert row.user_id == user_id  # linked when the stream started
        alone = await live.http.post(
            "/api/v1/chat/message", json={"text": "by cookie alone"}, headers={"Cookie": f"chat_session_id={token}"}
        )
        assert alone.status_code == 404  # the session is the account's now
        await ws.nothing(0.2)
        said = await gql(
            live.http, 'mutation { sendSupportMessage(input: {text: "as me"}) { message { id } } }', token=access
        )
        assert said["data"]["sendSupportMessage"]["message"]["id"]
        message = data(await ws.next(op), "supportChat")
        assert (message["sessionId"], message["message"]["text"]) == (chat_id, "as me")
