"""Node.js clients against a real ``predictql serve``: the graphql-http audit and Apollo's APQ link.

The audit (GraphQL over HTTP spec) must pass every MUST and every SHOULD
(``PREDICTQL_AUDIT_STRICT=should``). The server runs with the anonymous response cache on, as in
production: a cached answer must never bypass validation. By hand, against any server:
``npm ci --prefix tests/audit && node tests/audit/audit.mjs http://127.0.0.1:8000/graphql``
(and ``node tests/audit/apollo_apq.mjs <same url>``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from predictql.db import Database
from predictql.settings import Settings
from tests.e2e.conftest import start_server, stop_server

AUDIT = Path(__file__).resolve().parents[1] / "audit"
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")]


def _installed() -> None:
    if (AUDIT / "node_modules" / "graphql-http").is_dir() and (AUDIT / "node_modules" / "@apollo").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AUDIT, check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def graphql_url(settings: Settings, db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _installed()
    log = tmp_path_factory.mktemp("audit") / "server.log"
    process, base = start_server(settings, log, PREDICTQL_GRAPHQL_CACHE_TTL_MS="60000")
    yield f"{base}/graphql"
    stop_server(process)


def _node(script: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREDICTQL_AUDIT_STRICT": "should"}
    return subprocess.run(["node", str(AUDIT / script), url], env=env, capture_output=True, text=True, timeout=120)


def test_graphql_http_audit_passes(graphql_url: str) -> None:
    run = _node("audit.mjs", graphql_url)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 MUST failed, 0 SHOULD failed" in run.stdout, run.stdout


def test_apollo_persisted_query_link_works_unchanged(graphql_url: str) -> None:
    run = _node("apollo_apq.mjs", graphql_url)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("ok   hashes over") == 2, run.stdout
