"""End to end through a real uvicorn process: HTTP with httpx, GraphQL over real WebSockets."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets

from predictql.db import Database
from tests.support import Kind, create_user, gid, unique_email

pytestmark = pytest.mark.e2e


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/graphql"


async def _signed_in(server: str, db: Database) -> tuple[httpx.AsyncClient, str, int]:
    email = unique_email("e2e")
    user_id = await create_user(db, email=email, balance=1234)
    http = httpx.AsyncClient(base_url=server)
    response = await http.post("/api/v1/auth/sign-in", json={"email": email, "password": "password123"})
    assert response.status_code == 200
    return http, response.cookies["access_token"], user_id


async def test_rest_flow_over_real_http(server: str, db: Database) -> None:
    http, _, user_id = await _signed_in(server, db)
    try:
        me = await http.get("/api/v1/auth/me")  # the cookie jar carries access_token
        assert me.status_code == 200 and me.json()["user"]["id"] == user_id
        assert me.headers["x-ratelimit-limit"] == "1000000"
        assert me.headers["x-request-id"]
        missing = await http.get("/api/v1/does-not-exist")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
        graphiql = await http.get("/graphql", headers={"Accept": "text/html"})
        assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()
    finally:
        await http.aclose()


async def _transport_ws_query(server: str, payload: dict[str, object], query: str) -> dict[str, object]:
    async with websockets.connect(ws_url(server), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        message = json.loads(await ws.recv())
        assert message["type"] == "next", message
        done = json.loads(await ws.recv())
        assert done == {"id": "1", "type": "complete"}
        return message["payload"]  # type: ignore[no-any-return]


async def test_graphql_transport_ws_authenticates_from_connection_init(server: str, db: Database) -> None:
    http, token, user_id = await _signed_in(server, db)
    await http.aclose()
    as_bearer = await _transport_ws_query(server, {"Authorization": f"Bearer {token}"}, "{ me { id balance } }")
    assert as_bearer == {"data": {"me": {"id": gid(Kind.USER, user_id), "balance": 1234}}}
    as_token = await _transport_ws_query(server, {"token": token}, "{ me { id } }")
    assert as_token == {"data": {"me": {"id": gid(Kind.USER, user_id)}}}
    anonymous = await _transport_ws_query(server, {}, "{ me { id } }")
    assert anonymous == {"data": {"me": None}}


async def test_graphql_transport_ws_rejects_a_bad_token(server: str) -> None:
    async with websockets.connect(ws_url(server), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": "not-a-token"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_legacy_graphql_ws_protocol(server: str, db: Database) -> None:
    http, token, user_id = await _signed_in(server, db)
    await http.aclose()
    async with websockets.connect(ws_url(server), subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        # graphql-ws carries queries too (gql's default transport sends them): data, then complete.
        await ws.send(json.dumps({"id": "7", "type": "start", "payload": {"query": "{ me { id } }"}}))
        data = await _next_not_keepalive(ws)
        assert data == {"id": "7", "type": "data", "payload": {"data": {"me": {"id": gid(Kind.USER, user_id)}}}}
        assert await _next_not_keepalive(ws) == {"id": "7", "type": "complete"}


async def _next_not_keepalive(ws: websockets.ClientConnection) -> dict[str, object]:
    while (message := json.loads(await ws.recv()))["type"] == "ka":
        pass
    return message  # type: ignore[no-any-return]


async def test_cross_origin_websocket_is_refused_unless_allowed(server: str) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            ws_url(server),
            subprotocols=["graphql-transport-ws"],
            origin="https://evil.example",  # type: ignore[list-item,arg-type]
        ):
            pass
    assert refused.value.response.status_code == 403
