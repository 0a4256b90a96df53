"""A real ``predictql serve`` process on a free port, sharing the test database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from predictql.db import Database
from predictql.settings import Settings
from predictql.ws_protocol import DroppingWebSocketProtocol
from tests.conftest import JWT_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def uvicorn_serving(app: ASGIApp, **config: Any) -> AsyncIterator[int]:
    """``app`` under uvicorn in this process with ``predictql serve``'s WebSocket protocol (no
    deflate), plus ``config``; yields its port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_level="warning",
            ws=DroppingWebSocketProtocol,
            ws_per_message_deflate=False,
            **config,
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(300):  # uvicorn has no start event; its own flag, polled
            if server.started:
                break
            await asyncio.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 10)


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREDICTQL_")}
    env.update(
        PREDICTQL_ENVIRONMENT="test",
        PREDICTQL_DATA_DIR=str(settings.data_dir),
        PREDICTQL_DATABASE_URL=settings.resolved_database_url,
        PREDICTQL_BROADCAST_URL=settings.broadcast_url,
        # This run's channels only: test runs sharing one Redis must not hear each other.
        PREDICTQL_BUS_CHANNEL_PREFIX=settings.bus_channel_prefix,
        PREDICTQL_JWT_SECRET=JWT_SECRET,
        PREDICTQL_RATE_LIMIT_PER_MINUTE="1000000",
        PREDICTQL_SIGN_IN_FREE_FAILURES_PER_IP="1000000",  # every test signs in from 127.0.0.1
        PREDICTQL_GRAPHQL_CACHE_TTL_MS="0",
        PREDICTQL_LOG_LEVEL="WARNING",
        PREDICTQL_PASSWORD_HASH_PROFILE=settings.password_hash_profile,
    )
    if settings.redis_url:
        env["PREDICTQL_REDIS_URL"] = settings.redis_url
    if settings.mail_outbox:
        env["PREDICTQL_MAIL_OUTBOX"] = str(settings.mail_outbox)
    env.update(extra)
    return env


def start_server(
    settings: Settings, log_path: Path, *, startup_timeout: float = 120, **extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "predictql", "serve", "--port", str(port)],
        env=server_env(settings, PREDICTQL_PUBLIC_URL=f"http://127.0.0.1:{port}", **extra),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, wait_healthy(process, f"http://127.0.0.1:{port}", log_path, startup_timeout)


def wait_healthy(process: subprocess.Popen[bytes], base: str, log_path: Path, timeout: float = 90) -> str:
    """Poll the health route until the process answers (or exits, or the time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return base
        except httpx.HTTPError:
            time.sleep(0.1)  # a poll interval for another process's port, not a wait for our own work
    process.kill()
    raise RuntimeError(f"server did not start: {log_path.read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def server(settings: Settings, db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, base = start_server(settings, tmp_path_factory.mktemp("server") / "server.log")
    yield base
    stop_server(process)
