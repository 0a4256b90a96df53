"""The support chat end to end through a real ``predictql serve`` process and real WebSockets: a
browser-like visitor (REST + the cookie on the socket's handshake) and an operator (token in
connection_init) hear each other live; the visitor reconnects and resumes with fromSeq."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import websockets

from predictql.db import Database
from tests.api.test_users import fast_user
from tests.e2e.test_server import ws_url

pytestmark = pytest.mark.e2e

VISITOR = """subscription($from: Long) { supportChat(fromSeq: $from) { kind seq data {
  sessionId status message { sender text } } } }"""
OPERATOR = """subscription($id: ID!, $from: Long) { supportChatSession(sessionId: $id, fromSeq: $from) {
  kind seq data { status message { sender text } } } }"""
ANSWER = """mutation($id: ID!, $text: String!) { answerSupportChat(input: {sessionId: $id, text: $text}) {
  message { id } userErrors { code } } }"""


async def _open(server: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    ws = await websockets.connect(
        ws_url(server),
        subprotocols=["graphql-transport-ws"],
        additional_headers=headers or {},  # type: ignore[list-item]
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    return ws


async def _subscribe(ws: Any, query: str, variables: dict[str, Any]) -> None:
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))


async def _next(ws: Any, field: str) -> dict[str, Any]:
    """The next stream message of the one operation (pings answered, heartbeats skipped)."""
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        assert message["type"] == "next", message
        item: dict[str, Any] = message["payload"]["data"][field]
        if item["kind"] != "HEARTBEAT":
            return item


async def test_visitor_and_operator_talk_live_over_real_sockets(server: str, db: Database) -> None:
    _, operator = await fast_user(db, is_operator=True)
    async with httpx.AsyncClient(base_url=server) as visitor:
        started = await visitor.post("/api/v1/chat/session")
        assert started.status_code == 200
        token = started.json()["session_id"]
        assert visitor.cookies["chat_session_id"] == token
        chat_id = (await visitor.post("/graphql", json={"query": "{ supportChat { id } }"})).json()
        chat_id = chat_id["data"]["supportChat"]["id"]
        cookie = {"Cookie": f"chat_session_id={token}"}

        visitor_ws = await _open(server, {}, cookie)  # a browser: the cookie rides on the handshake
        operator_ws = await _open(server, {"token": operator})
        try:
            # fromSeq 0: whatever is sent before the subscriptions are live is replayed, never lost.
            await _subscribe(visitor_ws, VISITOR, {"from": 0})
            await _subscribe(operator_ws, OPERATOR, {"id": chat_id, "from": 0})
            assert (await visitor.post("/api/v1/chat/message", json={"text": "Hello?"})).status_code == 200
            heard = await _next(operator_ws, "supportChatSession")
            assert (heard["seq"], heard["data"]["message"]) == (1, {"sender": "USER", "text": "Hello?"})
            assert (await _next(visitor_ws, "supportChat"))["seq"] == 1

            answered = await visitor.post(
                "/graphql",
                json={"query": ANSWER, "variables": {"id": chat_id, "text": "Hi, how can we help?"}},
                headers={"Authorization": f"Bearer {operator}"},
            )
            assert answered.json()["data"]["answerSupportChat"]["userErrors"] == []
            reply = await _next(visitor_ws, "supportChat")
            assert (reply["kind"], reply["seq"], reply["data"]["sessionId"]) == ("LIVE", 2, chat_id)
            assert reply["data"]["message"] == {"sender": "SUPPORT", "text": "Hi, how can we help?"}
            assert (await _next(operator_ws, "supportChatSession"))["seq"] == 2
        finally:
            await visitor_ws.close()

        # Away: the visitor calls an operator, then comes back and resumes after the last seq it saw.
        assert (await visitor.post("/api/v1/chat/session/call-operator")).status_code == 200
        try:
            escalated = await _next(operator_ws, "supportChatSession")
            assert (escalated["seq"], escalated["data"]["status"]) == (3, "ESCALATED")
        finally:
            await operator_ws.close()
        again = await _open(server, {"chatSessionId": token})  # a non-browser client: the token as a param
        try:
            await _subscribe(again, VISITOR, {"from": 2})
            resumed = await _next(again, "supportChat")
            assert (resumed["seq"], resumed["data"]["status"], resumed["data"]["message"]) == (3, "ESCALATED", None)
        finally:
            await again.close()
