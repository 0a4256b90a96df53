from __future__ import annotations

import httpx

from predictql.db import Database
from tests.support import bearer, create_user, gql, sign_in, unique_email


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and isinstance(body["uptime_seconds"], int)
    assert body["timestamp"].endswith("Z")


async def test_sign_in_and_me(client: httpx.AsyncClient, db: Database) -> None:
    email = unique_email()
    await create_user(db, email=email, balance=700)
    token = await sign_in(client, email)
    client.cookies.clear()
    me = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["user"]["balance"] == 700
    data = await gql(client, "{ me { email balance } }", token=token)
    assert data == {"data": {"me": {"email": email, "balance": 700}}}
