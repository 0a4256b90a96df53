"""The graphql-http audit (GraphQL over HTTP spec) against a real ``predictql serve``.

Every MUST and every SHOULD has to pass (``PREDICTQL_AUDIT_STRICT=should``). The server runs with
the anonymous response cache on, as in production: a cached answer must never bypass validation.
By hand: ``npm ci --prefix tests/audit && node tests/audit/audit.mjs http://127.0.0.1:8000/graphql``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from predictql.db import Database
from predictql.settings import Settings
from tests.e2e.conftest import start_server, stop_server

pytestmark = pytest.mark.e2e
AUDIT = Path(__file__).resolve().parents[1] / "audit"


def _installed() -> None:
    if (AUDIT / "node_modules" / "graphql-http").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AUDIT, check=True, capture_output=True, timeout=300)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_graphql_http_audit_passes(settings: Settings, db: Database, tmp_path: Path) -> None:
    _installed()
    process, base = start_server(settings, tmp_path / "server.log", PREDICTQL_GRAPHQL_CACHE_TTL_MS="60000")
    try:
        run = subprocess.run(
            ["node", str(AUDIT / "audit.mjs"), f"{base}/graphql"],
            env={**os.environ, "PREDICTQL_AUDIT_STRICT": "should"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop_server(process)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 MUST failed, 0 SHOULD failed" in run.stdout, run.stdout
