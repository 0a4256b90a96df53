"""Shared benchmark plumbing: a bench database, servers pinned to a core, wrk pinned to the other.

The load generator is wrk (C, Debian package `wrk`): a Python client would be the bottleneck and
distort every ratio. Each scenario is measured against the raw ASGI baseline in the same run.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PG_ADMIN = os.environ.get("PREDICTQL_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
SERVER_CPU, LOAD_CPU = "0", "1"
JWT_SECRET = "bench-secret-" + "x" * 40


@dataclass
class Measurement:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    server_cpu_ms_per_request: float | None = None  # the server's process tree; robust to a busy machine

    def ratio_to(self, baseline: Measurement) -> float:
        return self.requests_per_second / baseline.requests_per_second


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pin(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


@contextmanager
def started(
    argv: list[str], env: dict[str, str], base: str, health: str, cpus: str = SERVER_CPU
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process pinned to ``cpus`` (the server CPU), once ``base + health`` answers 200;
    stopped after. (``taskset`` execs the server: the process's pid is the server's.)"""
    log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen([*_pin(cpus), *argv], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180  # a loaded shared machine starts it slowly
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited; see {log.name}")
            try:
                if httpx.get(base + health, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {log.name}")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


SERVER_PIDS: dict[str, int] = {}  # base URL -> pid of the server answering there (for its CPU time)


@contextmanager
def server(argv: list[str], env: dict[str, str], port: int, health: str, cpus: str = SERVER_CPU) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    with started(argv, env, base, health, cpus) as process:
        SERVER_PIDS[base] = process.pid
        try:
            yield base
        finally:
            SERVER_PIDS.pop(base, None)


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (``state`` first), None once it has gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(entry.name)) is not None and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its live descendants (``--workers`` children), in seconds.
    Unlike requests per wall second it hardly moves when other work shares the machine."""
    total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
    for each in [pid, *children(pid)]:
        fields = _stat_fields(each)
        if fields is None:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
        if each != pid:
            total += sum(cpu_seconds(child) for child in children(each))
    return total


def command_cpu_seconds(command: str, contains: str = "") -> float:
    """CPU seconds of every live process named ``command`` (``/proc/PID/comm``) whose command line
    holds ``contains``. Without ``contains``, what their exited children spent is added (a postmaster's
    ``cutime``: the backends that ended), so a backend that exits mid-run is not lost; with it (one
    database's backends, by their process title) only the live ones count."""
    total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != command:
                continue
            if contains and contains.encode() not in (entry / "cmdline").read_bytes():
                continue
        except OSError:
            continue
        fields = _stat_fields(entry.name)
        if fields is not None:
            used = fields[11:13] if contains else fields[11:15]
            total += sum(int(field) for field in used) / ticks
    return total


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine, all cores (``/proc/stat``: everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def load_cpu_seconds() -> float:
    """CPU seconds of this process's waited-for children (the load generator once ``wrk`` returned:
    servers are still running, so they are not waited for yet)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuAccount:
    """Where a run's CPU went, in CPU seconds over ``wall`` seconds (issue 14: whether a second
    worker has a core to use). ``postgres`` is every PostgreSQL process on the machine (other
    databases' too), ``postgres_bench`` the bench database's live backends (what serves this run);
    ``other`` is the machine's busy time that the run's own processes did not spend (other people's
    load on a shared machine, and PostgreSQL's background writers)."""

    wall: float
    server: float
    postgres: float
    postgres_bench: float
    redis: float
    load: float
    machine: float

    @property
    def other(self) -> float:
        return max(0.0, self.machine - self.ours)

    @property
    def ours(self) -> float:
        """The run's own CPU: the server, the bench database's backends, Redis and the load generator."""
        return self.server + self.postgres_bench + self.redis + self.load


@contextmanager
def cpu_account(server_pids: list[int], database: str) -> Iterator[list[CpuAccount]]:
    """Measure the block: yields a list that holds the ``CpuAccount`` once the block has ended
    (``server``: the process trees of ``server_pids``)."""

    def sample() -> tuple[float, ...]:
        return (
            time.monotonic(),
            sum(cpu_seconds(pid) for pid in server_pids),
            command_cpu_seconds("postgres"),
            command_cpu_seconds("postgres", f" {database} "),
            command_cpu_seconds("redis-server"),
            load_cpu_seconds(),
            machine_cpu_seconds(),
        )

    before, result = sample(), []
    yield result
    deltas = [round(after - start, 3) for after, start in zip(sample(), before, strict=True)]
    result.append(CpuAccount(*deltas))


def wait_settled(base: str, workers: int = 1, timeout: float = 120.0) -> None:
    """Until the server answering at ``base`` runs ``workers`` processes (``serve --workers N``: the
    supervisor's children) and its process tree is idle (every worker done starting), so no start-up
    CPU is charged to a measurement."""
    pid, deadline = SERVER_PIDS[base], time.monotonic() + timeout
    while workers > 1 and len(children(pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.2)
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - before < 0.05:  # under 10 % of a core
            return
        before = now


def baseline_server(port: int) -> server:  # type: ignore[valid-type]
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "hello_asgi:app",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--ws-per-message-deflate",
        "false",
        "--app-dir",
        str(BENCH),
    ]
    return server(argv, dict(os.environ), port, "/")


def predictql_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREDICTQL_")}
    env.update(
        PREDICTQL_DATABASE_URL=database_url,
        PREDICTQL_DATA_DIR=str(data_dir),
        PREDICTQL_JWT_SECRET=JWT_SECRET,
        PREDICTQL_RATE_LIMIT_PER_MINUTE="100000000",
        PREDICTQL_LOG_LEVEL="WARNING",
        PREDICTQL_ENVIRONMENT="production",
        **extra,
    )
    return env


def predictql_server(port: int, env: dict[str, str], *args: str, cpus: str = SERVER_CPU) -> server:  # type: ignore[valid-type]
    """``predictql serve`` (plus ``args``, e.g. ``--workers 2``) pinned to ``cpus``."""
    argv = [sys.executable, "-m", "predictql", "serve", "--port", str(port), *args]
    return server(argv, env, port, "/api/v1/health", cpus)


_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    name: str,
    url: str,
    *,
    seconds: int,
    connections: int,
    script: Path | None = None,
    timeout: float | None = None,
    patience: float = 0.0,
) -> Measurement:
    """``timeout``: wrk's per-request timeout (its default is 2 s; a request slower than that is
    counted as an error and left out of the latencies). ``patience``: while a window ends with
    neither an answer nor an error, run another, for up to that many seconds (smoke runs: wrk drops
    what is still in flight when its window ends, so a 1-s window on a loaded machine could count
    no answer from a server that is only slow; one that never answers still fails)."""
    deadline = time.monotonic() + patience
    while True:
        measured = _wrk_window(name, url, seconds=seconds, connections=connections, script=script, timeout=timeout)
        if measured.requests or measured.errors or time.monotonic() >= deadline:
            return measured
        print(f"{name}: no answer within {seconds} s, another window", file=sys.stderr)


def _wrk_window(
    name: str, url: str, *, seconds: int, connections: int, script: Path | None, timeout: float | None
) -> Measurement:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is required: apt-get install wrk")
    argv = [*_pin(LOAD_CPU), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if timeout is not None:
        argv.append(f"--timeout={timeout:g}s")
    if script is not None:
        argv += ["-s", str(script)]
    pid = next((pid for base, pid in SERVER_PIDS.items() if url.startswith(base)), None)
    cpu_before = cpu_seconds(pid) if pid is not None and Path("/proc").is_dir() else None
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu_before if pid is not None and cpu_before is not None else None
    latency = {pct: float(value) * _UNIT[unit] for pct, value, unit in _LATENCY.findall(out)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(errors_match.group(1)) if errors_match else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    cpu_per_request = round(cpu * 1000 / requests, 3) if cpu is not None and requests else None
    return Measurement(name, rps, latency.get("50", 0.0), latency.get("99", 0.0), requests, errors, cpu_per_request)


async def _admin(sql: str) -> None:
    from predictql.db import make_engine

    engine = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        from sqlalchemy import text

        await conn.execute(text(sql))
    await engine.dispose()


@contextmanager
def bench_database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="predictql-bench-"))
        yield f"sqlite+aiosqlite:///{directory / 'bench.db'}"
        shutil.rmtree(directory, ignore_errors=True)
        return
    from sqlalchemy.engine import make_url

    name = f"predictql_bench_{os.getpid()}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def ledger_balanced(database_url: str) -> bool:
    """Whether the ledger's trial balance still holds after a run (smoke modes fail when it does not)."""
    from predictql.db import Database, make_engine
    from predictql.services import ledger

    db = Database(make_engine(database_url))
    async with db.session() as session:
        balanced = (await ledger.trial_balance(session)).ok
    await db.dispose()
    return balanced


def smoke_failures(rows: list[Measurement]) -> list[str]:
    """What makes a smoke run of wrk scenarios fail: a scenario with no answers, or any error (a
    non-2xx answer or a socket error; smoke runs give wrk a long timeout, so a slow CI machine is
    not an error)."""
    return [f"{m.name}: {m.requests} answers, {m.errors} errors" for m in rows if m.requests == 0 or m.errors]


SMOKE_TIMEOUT = 30.0  # wrk's per-request timeout in smoke runs, seconds
SMOKE_PATIENCE = 60.0  # how long a smoke scenario may take to answer at all (wrk's patience), seconds


def record(file_name: str, payload: dict[str, object]) -> Path:
    path = BENCH / "results" / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def as_dict(measurement: Measurement) -> dict[str, object]:
    return asdict(measurement)


def report(rows: list[Measurement], baseline: Measurement) -> list[dict[str, object]]:
    """Print the table of ``rows`` against ``baseline`` (measured in the same run); the rows as recorded."""
    print(
        f"{'scenario':<12} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs raw ASGI':>12}"
        f" {'server CPU ms/req':>18}"
    )
    for m in rows:
        cpu = "" if m.server_cpu_ms_per_request is None else f"{m.server_cpu_ms_per_request:.3f}"
        print(
            f"{m.name:<12} {m.requests_per_second:>10.1f} {m.p50_ms:>8.2f} {m.p99_ms:>8.2f} {m.errors:>7} "
            f"{m.ratio_to(baseline) * 100:>11.2f}% {cpu:>18}"
        )
    return [as_dict(m) | {"ratio_to_raw_asgi": round(m.ratio_to(baseline), 4)} for m in rows]
