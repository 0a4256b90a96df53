"""A PostgreSQL cluster and a redis-server that a test owns: started on free ports in a temp dir,
stopped, frozen (SIGSTOP) and started again at will, and removed at the end; and the client
steps the outage tests share (the outage answer, a trades subscription over a real socket).

initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user (runuser).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.e2e.conftest import free_port
from tests.support import Kind, gid

FREEZE_LIMIT_SECONDS = 60.0
TRADES = """subscription($m: ID, $from: Long) { trades(marketId: $m, fromSeq: $from) { kind seq data { id } } }"""


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: these tests need the PostgreSQL server binaries")
    return path


class OwnedPostgres:
    def __init__(self) -> None:
        self._thaw_timer: threading.Timer | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="pq-owned-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres")
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if self._as_postgres else list(args)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def ensure_started(self) -> None:
        if not (self.data / "postmaster.pid").exists():
            self.start()

    def _postmaster(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def _children(self, postmaster: int) -> list[int]:
        listed = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
        return [int(pid) for pid in listed]

    def freeze(self, at_most: float = FREEZE_LIMIT_SECONDS) -> None:
        """SIGSTOP the postmaster and every backend: connections stay open and nothing answers.

        The postmaster stops first, and its children are listed only then: a backend it forked
        between a listing and its stop once went on answering (health said "ok" on a frozen
        cluster in one CI run). Returns once every process is seen stopped.

        A freeze can never outlive ``at_most`` seconds: a timer thaws the cluster even if the test
        never gets to (a frozen cluster left behind hangs every later step that touches it, down to
        the fixtures' teardown closing their connections, where no test timeout helps)."""
        self._thaw_timer = threading.Timer(at_most, self.thaw)
        self._thaw_timer.daemon = True
        self._thaw_timer.start()
        postmaster = self._postmaster()
        _signal([postmaster], signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while True:
            running = [pid for pid in [postmaster, *self._children(postmaster)] if not _stopped(pid)]
            if not running:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not freeze: {running} still running")
            _signal(running, signal.SIGSTOP)
            time.sleep(0.01)

    def thaw(self) -> None:
        timer, self._thaw_timer = self._thaw_timer, None
        if timer is not None:
            timer.cancel()
        postmaster = self._postmaster()
        _signal([*self._children(postmaster), postmaster], signal.SIGCONT)

    def remove(self) -> None:
        try:
            self.thaw()
            self.stop()
        except (OSError, subprocess.CalledProcessError):
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


def _signal(pids: list[int], signum: int) -> None:
    """A process that exits meanwhile is skipped (its ProcessLookupError once left the cluster
    half frozen)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _stopped(pid: int) -> bool:
    """Stopped by a signal, or gone (exited, or a zombie its stopped parent cannot reap): the state
    field of ``/proc/<pid>/stat``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "TtZX"


class OwnedRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True)
            if probe.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def unavailable(response: httpx.Response) -> bool:
    """The documented outage answer: 503, the envelope's ``SERVICE_UNAVAILABLE``, ``Retry-After``."""
    return (
        response.status_code == 503
        and response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        and int(response.headers.get("retry-after", "0")) > 0
    )


async def subscribe_trades(base: str, market_id: int) -> Any:
    """A real graphql-transport-ws socket on one market's trades, from seq 0: the trades made before
    the subscription is live are replayed, so none is missed."""
    ws = await websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    payload = {"query": TRADES, "variables": {"m": gid(Kind.MARKET, market_id), "from": 0}}
    await ws.send(json.dumps({"id": "t", "type": "subscribe", "payload": payload}))
    return ws


async def next_trade(ws: Any) -> dict[str, Any]:
    """The next trade message (heartbeats skipped)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert message["type"] == "next", message
        item = message["payload"]["data"]["trades"]
        if item["kind"] == "LIVE":
            return item  # type: ignore[no-any-return]
