"""Personal API tokens: shown once, stored hashed, read-only unless created with ``write``."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from predictql import auth
from predictql.db import Database
from predictql.models import ApiToken, User
from predictql.settings import Settings
from tests.api.test_auth import assert_error, signed_in
from tests.support import bearer, gql

TOKENS = "/api/v1/users/me/api-tokens"
UPDATE_ME = "mutation($name: String!) { updateMe(input: {name: $name}) { user { name } } }"


async def mint(
    client: httpx.AsyncClient, session_token: str, *, name: str = "bot", write: bool = False
) -> dict[str, Any]:
    response = await client.post(TOKENS, json={"name": name, "write": write}, headers=bearer(session_token))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_shows_the_secret_once_and_stores_only_its_hash(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    signed = await signed_in(db, settings)
    user_id, session_token = signed.user_id, signed.access
    created = await mint(client, session_token, name="  trading bot  ")
    assert set(created) == {"id", "name", "prefix", "write", "created_at", "token"}
    assert created["token"].startswith("pq_") and len(created["token"]) >= 40
    assert created["prefix"] == created["token"][:10]
    assert created["name"] == "trading bot" and created["write"] is False
    assert isinstance(created["id"], int) and created["created_at"].endswith("Z")

    async with db.session() as session:
        row = await session.get(ApiToken, created["id"])
    assert row is not None and row.user_id == user_id and row.revoked_at is None
    assert row.token_hash == auth.sha256(created["token"]) and created["token"] not in row.token_hash

    listed = await client.get(TOKENS, headers=bearer(session_token))
    assert listed.status_code == 200
    assert listed.json() == [{key: value for key, value in created.items() if key != "token"}]
    assert created["token"] not in listed.text


async def test_read_only_token_reads_but_cannot_write(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    signed = await signed_in(db, settings)
    user_id, session_token = signed.user_id, signed.access
    token = (await mint(client, session_token))["token"]

    me = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["user"]["id"] == user_id
    assert me.json()["user"]["balance"] == 0  # it acts as the user: private fields included

    refused = await client.put("/api/v1/users/me", json={"name": "Robot"}, headers=bearer(token))
    assert_error(refused, 403, "token_read_only")
    data = await gql(client, UPDATE_ME, {"name": "Robot"}, token=token)
    assert data["data"] is None
    assert data["errors"][0]["extensions"]["code"] == "token_read_only"
    assert (await gql(client, "{ me { id } }", token=token))["data"]["me"]["id"] == f"usr_{user_id}"

    async with db.session() as session:
        assert (await session.get(User, user_id)).name != "Robot"  # type: ignore[union-attr]


async def test_write_token_can_write(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    session_token = (await signed_in(db, settings)).access
    token = (await mint(client, session_token, write=True))["token"]
    response = await client.put("/api/v1/users/me", json={"name": "Robot"}, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Robot"
    data = await gql(client, UPDATE_ME, {"name": "Robot Two"}, token=token)
    assert data == {"data": {"updateMe": {"user": {"name": "Robot Two"}}}}


async def test_revoked_token_stops_working(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    session_token = (await signed_in(db, settings)).access
    keep = await mint(client, session_token, name="keep")
    drop = await mint(client, session_token, name="drop", write=True)
    assert (await client.get("/api/v1/auth/me", headers=bearer(drop["token"]))).status_code == 200

    response = await client.delete(f"{TOKENS}/{drop['id']}", headers=bearer(session_token))
    assert response.status_code == 200 and response.json() == {}
    assert_error(await client.get("/api/v1/auth/me", headers=bearer(drop["token"])), 401, "UNAUTHORIZED")
    assert_error(
        await client.put("/api/v1/users/me", json={"name": "x"}, headers=bearer(drop["token"])), 401, "unauthorized"
    )
    assert (await gql(client, "{ me { id } }", token=drop["token"]))["data"] == {"me": None}
    assert [t["id"] for t in (await client.get(TOKENS, headers=bearer(session_token))).json()] == [keep["id"]]
    assert (await client.get("/api/v1/auth/me", headers=bearer(keep["token"]))).status_code == 200
    # Revoking twice, or a token that is not there, is 404.
    assert_error(await client.delete(f"{TOKENS}/{drop['id']}", headers=bearer(session_token)), 404, "not_found")
    assert_error(await client.delete(f"{TOKENS}/abc", headers=bearer(session_token)), 400, "invalid_id")


async def test_cannot_revoke_another_users_token(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    owner = (await signed_in(db, settings)).access
    other = (await signed_in(db, settings)).access
    token = await mint(client, owner)
    assert_error(await client.delete(f"{TOKENS}/{token['id']}", headers=bearer(other)), 404, "not_found")
    assert (await client.get("/api/v1/auth/me", headers=bearer(token["token"]))).status_code == 200
    assert (await client.get(TOKENS, headers=bearer(other))).json() == []


async def test_api_tokens_cannot_mint_api_tokens(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    session_token = (await signed_in(db, settings)).access
    writer = (await mint(client, session_token, write=True))["token"]
    reader = (await mint(client, session_token))["token"]
    by_writer = await client.post(TOKENS, json={"name": "child", "write": True}, headers=bearer(writer))
    assert_error(by_writer, 403, "forbidden")
    by_reader = await client.post(TOKENS, json={"name": "child"}, headers=bearer(reader))
    assert_error(by_reader, 403, "token_read_only")
    mutation = 'mutation { createApiToken(input: {name: "child", canWrite: true}) { token } }'
    data = await gql(client, mutation, token=writer)
    assert data["data"] is None and data["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert len((await client.get(TOKENS, headers=bearer(session_token))).json()) == 2


async def test_anonymous_and_invalid_requests(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    assert_error(await client.get(TOKENS), 401, "unauthorized")
    assert_error(await client.post(TOKENS, json={"name": "x"}), 401, "unauthorized")
    assert_error(await client.delete(f"{TOKENS}/1"), 401, "unauthorized")
    session_token = (await signed_in(db, settings)).access
    for body in ({}, {"name": "   "}, {"name": "x" * 101}, {"name": "x", "write": "yes"}, {"name": 5}):
        response = await client.post(TOKENS, json=body, headers=bearer(session_token))
        assert_error(response, 400, "invalid_body")
    assert (await client.get(TOKENS, headers=bearer(session_token))).json() == []


async def test_at_most_twenty_live_tokens(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    session_token = (await signed_in(db, settings)).access
    ids = [(await mint(client, session_token, name=f"t{i}"))["id"] for i in range(20)]
    over = await client.post(TOKENS, json={"name": "one too many"}, headers=bearer(session_token))
    assert_error(over, 400, "invalid_body")
    assert (await client.delete(f"{TOKENS}/{ids[0]}", headers=bearer(session_token))).status_code == 200
    await mint(client, session_token, name="fits again")
    async with db.session() as session:
        count = len((await session.scalars(select(ApiToken.id))).all())
    assert count == 21  # revoked rows stay, for the audit trail
