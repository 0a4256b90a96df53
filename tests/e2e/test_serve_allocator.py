"""``predictql serve`` runs on glibc's malloc (``PYTHONMALLOC=malloc``, README "Memory under sustained
load"): it re-executes itself once, in the same process, unless told otherwise. A real process each;
the memory census (``PREDICTQL_DEBUG_MEMORY``) says which allocator Python's objects live in."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from predictql import allocator
from predictql.db import Database
from predictql.settings import Settings
from tests.conftest import BACKEND
from tests.e2e.conftest import free_port, server_env, stop_server, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(allocator._libc() is None, reason="glibc only")]


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _serve(
    settings: Settings, tmp_path: Path, *args: str, censuses: int = 1, **extra: str
) -> tuple[list[dict[str, str]], list[dict[str, float]]]:
    """Starts ``serve *args`` without PYTHONMALLOC in its environment (plus ``extra``); returns the
    environments of the process Popen started and of its children, and pymalloc's figures from the
    first ``censuses`` censuses."""
    port = free_port()
    census = tmp_path / "census.jsonl"
    env = server_env(
        settings,
        PREDICTQL_PUBLIC_URL=f"http://127.0.0.1:{port}",
        PREDICTQL_DEBUG_MEMORY=str(census),
        PREDICTQL_DEBUG_MEMORY_SECONDS="0.5",
    )
    env.pop("PYTHONMALLOC", None)
    env.update(extra)
    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "predictql", "serve", "--port", str(port), *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}", log, timeout=120)
        # The pid Popen started (the re-execution kept it), then its children (--workers).
        environs = [_environ(pid) for pid in [process.pid, *_children(process.pid)]]
        deadline = time.monotonic() + 60
        while not census.exists() or len(census.read_text().splitlines()) < censuses:
            assert time.monotonic() < deadline, f"no census: {log.read_text()}"
            time.sleep(0.2)  # polls another process's file
        rows = [json.loads(line)["pymalloc"] for line in census.read_text().splitlines()[:censuses]]
    finally:
        stop_server(process)
    return environs, rows


def test_serve_re_executes_itself_on_glibc_malloc(settings: Settings, db: Database, tmp_path: Path) -> None:
    (environ,), (pymalloc,) = _serve(settings, tmp_path)
    assert environ.get("PYTHONMALLOC") == "malloc"
    assert pymalloc["arenas"] == 0, pymalloc  # no object in pymalloc's arenas: glibc holds them all


def test_the_setting_keeps_python_s_own_allocator(settings: Settings, db: Database, tmp_path: Path) -> None:
    (environ,), (pymalloc,) = _serve(settings, tmp_path, PREDICTQL_PYTHONMALLOC="off")
    assert "PYTHONMALLOC" not in environ
    assert pymalloc["arenas"] > 10, pymalloc  # the server's objects fill dozens of 1 MiB arenas


@pytest.mark.skipif(BACKEND == "sqlite", reason="--workers needs PostgreSQL")
def test_workers_inherit_glibc_malloc(settings: Settings, db: Database, tmp_path: Path) -> None:
    environs, rows = _serve(settings, tmp_path, "--workers", "2", censuses=4)
    assert len(environs) >= 3, environs  # the supervisor and its two workers
    assert all(environ.get("PYTHONMALLOC") == "malloc" for environ in environs)
    assert all(pymalloc["arenas"] == 0 for pymalloc in rows), rows  # rows from either worker
