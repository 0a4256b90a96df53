"""Real clients against a real server: Python ``gql`` over legacy graphql-ws, and Apollo's APQ wire exchange."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
import websockets
from gql import Client, GraphQLRequest, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportQueryError, TransportServerError
from gql.transport.websockets import WebsocketsTransport

from predictql.db import Database
from tests.e2e.test_server import _signed_in, ws_url
from tests.support import Kind, gid

pytestmark = pytest.mark.e2e


async def _token(server: str, db: Database) -> tuple[str, int]:
    http, token, user_id = await _signed_in(server, db)
    await http.aclose()
    return token, user_id


async def test_gql_default_websocket_transport_runs_query_mutation_and_subscription(server: str, db: Database) -> None:
    token, user_id = await _token(server, db)
    transport = WebsocketsTransport(url=ws_url(server), init_payload={"Authorization": f"Bearer {token}"})
    async with Client(transport=transport) as session:
        assert transport.subprotocol == "graphql-ws"  # what gql picks first: the legacy protocol
        me = await session.execute(gql("{ me { id balance } }"))
        assert me == {"me": {"id": gid(Kind.USER, user_id), "balance": 1234}}
        rename = """mutation Rename($name: String!) {
          updateMe(input: {name: $name}) { user { id name } userErrors { field message code } } }"""
        changed = await session.execute(GraphQLRequest(rename, variable_values={"name": "Over Legacy WS"}))
        assert changed == {
            "updateMe": {"user": {"id": gid(Kind.USER, user_id), "name": "Over Legacy WS"}, "userErrors": []}
        }
        refused = await session.execute(GraphQLRequest(rename, variable_values={"name": "   "}))
        assert refused["updateMe"]["user"] is None and refused["updateMe"]["userErrors"][0]["code"] == "INVALID_BODY"
        again = await session.execute(gql("{ me { name } }"))
        assert again == {"me": {"name": "Over Legacy WS"}}  # the socket's loaders do not serve stale rows
        with pytest.raises(TransportQueryError) as invalid:
            await session.execute(gql("{ me { noSuchField } }"))
        assert invalid.value.errors and invalid.value.errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        stream = session.subscribe(gql("subscription { myBalance { kind data { cash } } }"))
        first = await anext(stream)
        assert first["myBalance"]["kind"] == "SNAPSHOT" and first["myBalance"]["data"]["cash"] == 1234
        await stream.aclose()


async def test_legacy_graphql_ws_closes_a_bad_token_with_4403(server: str) -> None:
    async with websockets.connect(ws_url(server), subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": "not-a-token"}}))
        refused = json.loads(await ws.recv())
        assert refused["type"] == "connection_error" and refused["payload"]["code"]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    transport = WebsocketsTransport(url=ws_url(server), init_payload={"token": "not-a-token"})
    with pytest.raises((TransportServerError, TransportQueryError)):
        async with Client(transport=transport):
            pass


# --- automatic persisted queries, as Apollo's PersistedQueryLink sends them -----------------------

QUERY = "query Probe { __typename }"
SHA = hashlib.sha256(QUERY.encode()).hexdigest()
HASH_ONLY = {"persistedQuery": {"version": 1, "sha256Hash": SHA}}
APOLLO_ACCEPT = {"Accept": "application/graphql-response+json,application/json;q=0.9"}


async def test_apq_exchange_over_post_and_get(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, headers=APOLLO_ACCEPT) as http:
        # 1. hash only: unknown, answered 200 (the link turns APQ off after a 400) with Apollo's code.
        miss = await http.post("/graphql", json={"operationName": "Probe", "extensions": HASH_ONLY})
        assert miss.status_code == 200
        assert miss.json() == {
            "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
        }
        # 2. hash and text together: checked, run and remembered.
        full = await http.post("/graphql", json={"query": QUERY, "operationName": "Probe", "extensions": HASH_ONLY})
        assert full.json() == {"data": {"__typename": "Query"}}
        # 3. hash only again, over POST and over GET (useGETForHashedQueries).
        assert (await http.post("/graphql", json={"extensions": HASH_ONLY})).json() == {"data": {"__typename": "Query"}}
        params = {"operationName": "Probe", "extensions": json.dumps(HASH_ONLY)}
        got = await http.get("/graphql", params=params)
        assert got.status_code == 200 and got.json() == {"data": {"__typename": "Query"}}
        # A hash that does not match the text is refused; so is an unknown version.
        wrong = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
        mismatch = await http.post("/graphql", json={"query": QUERY, "extensions": wrong})
        assert mismatch.status_code == 400 and "does not match" in mismatch.json()["errors"][0]["message"]
        v2 = {"persistedQuery": {"version": 2, "sha256Hash": SHA}}
        assert (await http.post("/graphql", json={"extensions": v2})).status_code == 400


async def test_apq_miss_then_text_over_get_and_mutations_need_post(server: str) -> None:
    query = "query ProbeGet { __typename }"
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}}
    async with httpx.AsyncClient(base_url=server) as http:
        params = {"extensions": json.dumps(persisted)}
        miss = await http.get("/graphql", params=params)
        assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert (await http.get("/graphql", params={**params, "query": query})).json() == {
            "data": {"__typename": "Query"}
        }
        assert (await http.get("/graphql", params=params)).json() == {"data": {"__typename": "Query"}}
        mutation = 'mutation { forgotPassword(input: {email: "nobody@example.com"}) { userErrors { code } } }'
        hashed = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(mutation.encode()).hexdigest()}}
        refused = await http.get("/graphql", params={"query": mutation, "extensions": json.dumps(hashed)})
        assert refused.status_code == 405 and refused.headers["allow"] == "POST"


async def test_gql_http_transport_sends_hash_and_text(server: str) -> None:
    """gql cannot send a hash alone, but its second APQ step (hash + text, in extensions) works."""
    text = GraphQLRequest("query GqlProbe { __typename }").payload["query"]  # gql sends the printed document
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(text.encode()).hexdigest()}}
    async with Client(transport=AIOHTTPTransport(url=f"{server}/graphql")) as session:
        result = await session.execute(GraphQLRequest(text, extensions=persisted))
        assert result == {"__typename": "Query"}
    async with httpx.AsyncClient(base_url=server) as http:
        stored = await http.post("/graphql", json={"extensions": persisted})
        assert stored.json() == {"data": {"__typename": "Query"}}
