"""A session ends everywhere, across processes: two real ``predictql serve`` processes on one
PostgreSQL database and one Redis bus. Sockets signed in on process B stream; the session is
signed out (or the user loses a role) through process A; B's sockets close with 4403.

Skipped without Redis and on SQLite, like ``test_scale_out`` (whose two processes it reuses).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import websockets
from redis import asyncio as aioredis

from predictql.db import Database
from predictql.subscriptions import topics
from tests.api.test_auth import forgot
from tests.api.test_lmsr_api import trader
from tests.conftest import BACKEND, REDIS_URL
from tests.e2e.test_scale_out import (  # noqa: F401  (fixtures: processes runs behind nginx, on direct)
    RECEIVE_TIMEOUT,
    direct,
    processes,
    redis,
    subscribed,
    ws_url,
)
from tests.support import Mailbox, bearer, create_user, sign_in, unique_email

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(REDIS_URL is None, reason="PREDICTQL_TEST_REDIS_URL not set: the memory bus is one process"),
    pytest.mark.skipif(BACKEND == "sqlite", reason="several processes need PostgreSQL (SQLite is one process)"),
]
__all__ = ["processes", "redis"]  # fixtures shared with test_scale_out

CLOSE_BOUND = 2.0  # seconds from the revoking request on A to the close on B
MY_BALANCE = "subscription { myBalance { kind seq data { cash } } }"


async def signed_in_socket(base: str, token: str, protocol: str) -> websockets.ClientConnection:
    """A socket on ``base`` signed in with ``token`` whose myBalance stream has started."""
    ws = await websockets.connect(ws_url(base, "/graphql"), subprotocols=[protocol], compression=None)  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT))["type"] == "connection_ack"
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    await ws.send(json.dumps({"id": "1", "type": start, "payload": {"query": MY_BALANCE}}))
    while True:  # the snapshot: the stream is live (legacy keep-alives skipped)
        message = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT))
        if message["type"] in ("next", "data"):
            assert message["payload"]["data"]["myBalance"]["kind"] == "SNAPSHOT", message
            return ws


async def close_of(ws: websockets.ClientConnection) -> tuple[int | None, str | None]:
    """How ``ws`` was closed by the server (frames before the close are skipped)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "the socket dropped without a close frame"
        return closed.rcvd.code, closed.rcvd.reason


async def test_signing_out_on_one_process_closes_the_sockets_of_the_session_on_the_other(
    processes: tuple[str, str], db: Database, settings: Any, redis: aioredis.Redis
) -> None:
    a, b = processes
    user_id, token = await trader(db, settings, balance=10_000)
    _, other_token = await trader(db, settings, balance=10_000)  # another user: streams on
    sockets = [await signed_in_socket(b, token, protocol) for protocol in ("graphql-transport-ws", "graphql-ws")]
    bystander = await signed_in_socket(b, other_token, "graphql-transport-ws")
    try:
        await subscribed(redis, topics.user_access_channel(user_id))  # B listens for this user's sessions
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=a, timeout=RECEIVE_TIMEOUT) as http_a:
            response = await http_a.delete("/api/v1/auth/logout", headers=bearer(token))
        assert response.status_code == 200, response.text
        closes = await asyncio.gather(*(close_of(ws) for ws in sockets))
        elapsed = time.monotonic() - started
        assert closes == [(4403, "session ended")] * 2
        assert elapsed < CLOSE_BOUND, f"closing across processes took {elapsed:.2f} s"
        with pytest.raises(TimeoutError):  # the other user's socket is untouched
            await asyncio.wait_for(bystander.recv(), 0.3)
    finally:
        for ws in [*sockets, bystander]:
            await ws.close()


async def test_a_password_reset_on_one_process_closes_the_sockets_on_the_other(
    processes: tuple[str, str], db: Database, settings: Any, redis: aioredis.Redis
) -> None:
    a, b = processes
    email = unique_email("reset-e2e")
    user_id = await create_user(db, email=email)
    async with httpx.AsyncClient(base_url=a, timeout=RECEIVE_TIMEOUT) as http_a:
        token = await sign_in(http_a, email)
        ws = await signed_in_socket(b, token, "graphql-transport-ws")
        try:
            await subscribed(redis, topics.user_access_channel(user_id))
            reset = await forgot(http_a, Mailbox(settings.mail_outbox), email)  # mailed by A after its answer
            body = {"token": reset, "new_password": "another password"}
            assert (await http_a.post("/api/v1/auth/reset-password", json=body)).status_code == 200
            assert await close_of(ws) == (4403, "session ended")
        finally:
            await ws.close()
