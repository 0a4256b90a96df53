"""A ``serve`` and ``user create`` started together on a fresh data directory both succeed: the
SQLite schema upgrade is serialized across processes (it crashed with "table users already exists")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import free_port, wait_healthy

pytestmark = pytest.mark.e2e


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREDICTQL_")}
    env.update(
        PREDICTQL_DATA_DIR=str(data_dir),  # no DATABASE_URL: the default SQLite file inside it
        PREDICTQL_LOG_LEVEL="WARNING",
        PREDICTQL_PASSWORD_HASH_PROFILE="test",
    )
    return env


def _cli(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "predictql", *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def test_serve_and_user_create_on_a_fresh_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    env = _env(data_dir)
    port = free_port()
    server = _cli("serve", "--port", str(port), env=env, log=tmp_path / "serve.log")
    creators = [
        _cli("user", "create", f"u{i}@example.com", "--password", "long-enough", env=env, log=tmp_path / f"c{i}.log")
        for i in range(3)
    ]
    try:
        for i, creator in enumerate(creators):
            assert creator.wait(timeout=60) == 0, (tmp_path / f"c{i}.log").read_text()
        base = wait_healthy(server, f"http://127.0.0.1:{port}", tmp_path / "serve.log")
        for i in range(3):
            signed_in = httpx.post(
                f"{base}/api/v1/auth/sign-in", json={"email": f"u{i}@example.com", "password": "long-enough"}
            )
            assert signed_in.status_code == 200, signed_in.text
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "already exists" not in (tmp_path / "serve.log").read_text()
