"""``eventComments`` over a real WebSocket to a real ``predictql serve`` process: each comment of the
event as it is created, edited, hidden and deleted, in order, numbered, resumable with fromSeq; the
reply's notification on the replied-to author's ``myNotifications``; a hidden event refused."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import update
from sqlmodel import col

from predictql.db import Database
from predictql.models import Event
from tests.e2e.test_server import ws_url
from tests.markets.factories import create_market_setup
from tests.support import Kind, bearer, create_user, gid, unique_email

pytestmark = pytest.mark.e2e

STREAM = """subscription($e: ID!, $from: Long) { eventComments(eventId: $e, fromSeq: $from) { kind seq data {
  action commentId eventId parentId authorId authorName status text createdAt editedAt } } }"""
NOTES = """subscription { myNotifications(fromSeq: 0) { kind seq data { type message relatedId } } }"""


async def signed_in(server: str, db: Database, **roles: bool) -> tuple[int, str]:
    email = unique_email("cmt")
    user_id = await create_user(db, email=email, **roles)
    async with httpx.AsyncClient(base_url=server) as http:
        response = await http.post("/api/v1/auth/sign-in", json={"email": email, "password": "password123"})
    assert response.status_code == 200, response.text
    return user_id, str(response.cookies["access_token"])


class Socket:
    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.pending: dict[str, list[dict[str, Any]]] = {}  # messages of other operations, read early

    @classmethod
    async def open(cls, server: str, payload: dict[str, Any]) -> tuple[Any, Socket]:
        connection = websockets.connect(ws_url(server), subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        ws = await connection.__aenter__()
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        return connection, cls(ws)

    async def subscribe(self, op: str, query: str, variables: dict[str, Any] | None = None) -> None:
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))

    async def next(self, op: str) -> dict[str, Any]:
        """The next stream message of ``op`` (heartbeats skipped; other operations' kept for later)."""
        while True:
            waiting = self.pending.get(op)
            message = waiting.pop(0) if waiting else json.loads(await self.ws.recv())
            if message.get("id") != op:
                self.pending.setdefault(message.get("id"), []).append(message)
                continue
            if message["type"] != "next":
                return dict(message)
            assert "errors" not in message["payload"], message
            (item,) = message["payload"]["data"].values()
            if item["kind"] != "HEARTBEAT":
                return dict(item)


async def test_event_comments_stream_over_a_real_websocket(server: str, db: Database) -> None:
    _, pool, _ = await create_market_setup(db)
    event_id = pool.event_id
    alice, alice_token = await signed_in(server, db)
    _, bob_token = await signed_in(server, db)
    _, admin_token = await signed_in(server, db, is_admin=True)
    evt = gid(Kind.EVENT, event_id)
    connection, ws = await Socket.open(server, {"token": alice_token})
    try:
        await ws.subscribe("c", STREAM, {"e": evt, "from": 0})  # from 0: nothing is missed while it starts
        await ws.subscribe("n", NOTES)
        async with httpx.AsyncClient(base_url=server) as http:

            async def call(method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
                response = await http.request(method, "/api/v1" + path, json=body, headers=bearer(token))
                assert response.status_code in (200, 201), response.text
                return response.json()

            top = await call("POST", f"/events/{event_id}/comments", alice_token, {"text": "YES at 65 is cheap"})
            answer = {"text": "no", "parent_id": top["id"]}
            reply = await call("POST", f"/events/{event_id}/comments", bob_token, answer)
            await call("PATCH", f"/comments/{top['id']}", alice_token, {"text": "YES at 65 is a steal"})
            await call("POST", f"/comments/{reply['id']}/hide", admin_token, {"hidden": True})
            await call("DELETE", f"/comments/{top['id']}", alice_token)

        seen = [await ws.next("c") for _ in range(5)]
        assert [(m["kind"], m["seq"], m["data"]["action"]) for m in seen] == [
            ("LIVE", 1, "CREATED"),
            ("LIVE", 2, "CREATED"),
            ("LIVE", 3, "EDITED"),
            ("LIVE", 4, "HIDDEN"),
            ("LIVE", 5, "DELETED"),
        ]
        first, answer, edited, hidden, deleted = (m["data"] for m in seen)
        assert first == {
            **first,
            "commentId": gid(Kind.COMMENT, top["id"]),
            "eventId": evt,
            "parentId": None,
            "authorId": gid(Kind.USER, alice),
            "status": "VISIBLE",
            "text": "YES at 65 is cheap",
            "editedAt": None,
        }
        assert answer["parentId"] == first["commentId"] and answer["text"] == "no"
        assert edited["text"] == "YES at 65 is a steal" and edited["editedAt"]
        assert (hidden["commentId"], hidden["status"], hidden["text"]) == (answer["commentId"], "HIDDEN", None)
        assert (deleted["status"], deleted["text"]) == ("DELETED", None)

        note = await ws.next("n")
        assert (note["kind"], note["data"]["type"], note["data"]["relatedId"]) == ("LIVE", "COMMENT_REPLY", evt)
    finally:
        await connection.__aexit__(None, None, None)

    # a client that saw seq 3 resumes with the two it missed
    connection, ws = await Socket.open(server, {})
    try:
        await ws.subscribe("r", STREAM, {"e": evt, "from": 3})
        resumed = [await ws.next("r") for _ in range(2)]
        assert [(m["seq"], m["data"]["action"]) for m in resumed] == [(4, "HIDDEN"), (5, "DELETED")]
    finally:
        await connection.__aexit__(None, None, None)


async def test_a_hidden_event_cannot_be_followed(server: str, db: Database) -> None:
    _, pool, _ = await create_market_setup(db)
    async with db.transaction() as session:
        await session.execute(update(Event).where(col(Event.id) == pool.event_id).values(is_active=False))
    connection, ws = await Socket.open(server, {})
    try:
        await ws.ws.send(
            json.dumps(
                {
                    "id": "h",
                    "type": "subscribe",
                    "payload": {"query": STREAM, "variables": {"e": gid(Kind.EVENT, pool.event_id)}},
                }
            )
        )
        message = json.loads(await ws.ws.recv())
        assert message["type"] == "next" and message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    finally:
        await connection.__aexit__(None, None, None)
