"""Subscription fan-out on one server process, against a naive per-subscriber broadcaster loop.

    python bench/bench_fanout.py [--quick | --smoke] [--subscribers 1000,5000] [--seconds 10] [--rate 10]
                                 [--clients 4] [--client raw|websockets] [--servers ours,naive]
                                 [--out fanout.json]

The issue's two runs: ``--subscribers 1000 --rate 10`` (deliveries per CPU-second against the naive
loop of the same run, p99, KB per idle subscriber) and ``--subscribers 10000 --rate 1`` (p99).
``--smoke`` (CI, seconds): 20 subscribers, 1 s of updates, both servers; exits non-zero unless
every frame arrived, and records nothing.

For each server and each subscriber count N, a fresh server process (pinned to CPU 0):

1. N GraphQL WebSocket subscriptions (``graphql-transport-ws``, no per-message deflate) to
   ``marketUpdated`` on one market, opened by ``--clients`` client processes pinned to CPU 1
   (``--client raw``, the default: non-blocking sockets on one ``epoll`` that do the HTTP upgrade
   and parse the server's frames themselves, ``RawSubscriber``; ``--client websockets``: asyncio +
   ``websockets``, the first client); each waits for its first frame, so every subscription is live.
   Memory per idle subscriber = the server's RSS growth over those connections / N.
2. A price update every 1/``--rate`` s (default 100 ms) for ``--seconds``: a ``MarketState`` JSON (the services'
   serializer, its ``at`` the publish time) published on Redis to the market's channel, exactly
   what a trade's commit publishes. The server's Redis listener, bus, GraphQL resolver and
   WebSocket send path all run as in production; only the trade's own database work is left out
   (it is not fan-out work and would be charged to the CPU figure).
3. Delivery latency = client receive time - publish time (carried in ``volume``, in microseconds:
   ``at`` is serialized to the second; one clock: one machine); server CPU per
   delivered message = the server's utime+stime over the publishing window (plus a drain) /
   frames the clients received. Client CPU is reported too (per second and per frame). The raw
   client's receive time is the kernel's, of the bytes reaching its socket (``SO_TIMESTAMPNS``), so
   the clients' own CPU (10,000 frames a second on one core at 10,000 subscribers) is not charged
   to the server; the ``websockets`` client's is when it parsed the frame.

Servers: ``ours`` is ``predictql serve`` (SQLite for the snapshot, Redis bus); ``naive`` is
``bench/naive_fanout.py`` under the same uvicorn settings. Needs Redis
(``PREDICTQL_BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/0``). Writes
``bench/results/fanout.json`` (``--quick``: ``fanout-quick.json``) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import resource
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BENCH, JWT_SECRET, free_port, record, started

REDIS_URL = os.environ.get("PREDICTQL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CLIENT_CPU = 1  # the server is pinned to CPU 0 by harness.started
CONNECT_TIMEOUT = float(os.environ.get("PREDICTQL_BENCH_CONNECT_TIMEOUT", "300"))  # s per client process
INTERVAL = 0.1  # seconds between price updates by default (the 100 ms); --rate changes it
QUERY = (
    "subscription($id: ID!) { marketUpdated(marketId: $id) "
    "{ kind seq data { marketId yesPrice noPrice yesProbability volume at } } }"
)
STAMP = re.compile(r'"volume": ?(\d+)')
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- server processes ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def run_delay(pid: int) -> float:
    """Seconds the process was runnable but waiting for a CPU (other load on the machine)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def drain(seen: list[Any], expected: int, quiet: float = 2.0, limit: float = 150.0) -> None:
    """Until every frame arrived, or none arrived for ``quiet`` seconds (or ``limit`` passed)."""
    deadline, last, since = time.monotonic() + limit, -1, time.monotonic()
    while time.monotonic() < deadline:
        total = sum(counter.value for counter in seen)
        if total >= expected:
            return
        if total != last:
            last, since = total, time.monotonic()
        elif time.monotonic() - since > quiet:
            return
        time.sleep(0.05)


def pin(pid: int, cpu: int) -> None:
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {cpu})


@contextmanager
def running(argv: list[str], env: dict[str, str], base: str, health: str) -> Iterator[int]:
    """The server's pid (its CPU time and RSS are read from /proc)."""
    with started(argv, env, base, health) as process:
        yield process.pid


def server_env(db_url: str, data_dir: Path, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREDICTQL_")}
    env.update(
        PREDICTQL_DATABASE_URL=db_url,
        PREDICTQL_DATA_DIR=str(data_dir),
        PREDICTQL_JWT_SECRET=JWT_SECRET,
        PREDICTQL_ENVIRONMENT="production",
        PREDICTQL_LOG_LEVEL="WARNING",
        PREDICTQL_BROADCAST_URL=REDIS_URL,
        PREDICTQL_BENCH_BUS_URL=REDIS_URL,
        PREDICTQL_BUS_CHANNEL_PREFIX=prefix,
        PREDICTQL_RATE_LIMIT_PER_MINUTE="100000000",
        PREDICTQL_WS_MAX_CONNECTIONS="100000",
    )
    return env


def ours(port: int, env: dict[str, str]) -> Any:
    argv = [sys.executable, "-m", "predictql", "serve", "--port", str(port)]
    return running(argv, env, f"http://127.0.0.1:{port}", "/api/v1/health")


def naive(port: int, env: dict[str, str]) -> Any:
    # The same uvicorn settings as ``predictql serve`` (cli._serve): no deflate, the same pings.
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "naive_fanout:app",
        "--app-dir",
        str(BENCH),
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--ws-per-message-deflate",
        "false",
        "--ws-ping-interval",
        "50",
        "--ws-ping-timeout",
        "10",
    ]
    return running(argv, env, f"http://127.0.0.1:{port}", "/health")


async def seed(db_url: str, data_dir: Path) -> tuple[int, int]:
    """One live LMSR market of an active event; returns its id and its channel's stream head."""
    from predictql import migrate
    from predictql.auth import Actor
    from predictql.db import Database, make_engine, utcnow
    from predictql.services import accounts, events, pools
    from predictql.subscriptions import topics
    from predictql.subscriptions.stream_log import StreamLog

    engine = make_engine(db_url)
    await migrate.upgrade(engine)
    db = Database(engine)
    async with db.transaction() as session:
        creator = await accounts.create_user(
            session, email="creator@bench.test", password="benchmark", verified=True, is_creator=True
        )
        actor = Actor(user_id=creator.id, is_creator=True)
        event = await events.create_event(session, actor, events.EventFields(name="Fan-out", tags=["bench"]))
        event.is_active = True
        fields = pools.PoolFields(
            name="Main",
            finish_at=utcnow() + timedelta(days=30),
            live_at=utcnow() - timedelta(minutes=1),
            market_names=["A"],
            market_probabilities=[0.5],
            lmsr_b_kopecks=100_000_000,
        )
        pool = await pools.create_pool(session, actor, event.id or 0, fields)
        market = (await events.markets_of(session, [pool.id or 0]))[pool.id or 0][0]
    head = await StreamLog(db).head(topics.market_channel(market.id or 0))
    await db.dispose()
    return market.id or 0, head


# -- client processes ---------------------------------------------------------------------------


def client_process(
    url: str, count: int, market_id: int, ready: Any, stop: Any, out: Any, seen: Any, kind: str = "raw"
) -> None:
    pin(0, CLIENT_CPU)
    if kind == "raw":
        _raw_client(url, count, market_id, ready, stop, out, seen)
    else:
        asyncio.run(_client(url, count, market_id, ready, stop, out, seen))


def _subscribe_message(market_id: int) -> str:
    return json.dumps(
        {"id": "1", "type": "subscribe", "payload": {"query": QUERY, "variables": {"id": f"mkt_{market_id}"}}}
    )


async def _client(url: str, count: int, market_id: int, ready: Any, stop: Any, out: Any, seen: Any) -> None:
    """The first client (``--client websockets``): asyncio + ``websockets``, ~32 us of CPU per frame."""
    import websockets

    latencies: list[float] = []
    failures = 0
    subscribe = _subscribe_message(market_id)
    gate = asyncio.Semaphore(64)  # handshakes in flight

    async def one() -> None:
        nonlocal failures
        try:
            async with gate:
                ws = await websockets.connect(
                    url,
                    subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                    compression=None,
                    open_timeout=60,
                    ping_interval=None,
                    max_queue=None,
                )
                await ws.send('{"type":"connection_init","payload":{}}')
                await ws.recv()  # connection_ack
                await ws.send(subscribe)
                await ws.recv()  # the first frame (a snapshot): the subscription is live
        except Exception:
            failures += 1
            if len(live) + failures >= count:
                settled.set()
            return
        live.append(ws)
        if len(live) + failures >= count:
            settled.set()
        async for text in ws:
            assert isinstance(text, str)
            found = STAMP.search(text)
            if found is None or '"LIVE"' not in text:
                continue
            latencies.append(time.time() - int(found.group(1)) / 1e6)
            seen.value += 1

    live: list[Any] = []
    settled = asyncio.Event()  # every subscription is live or failed
    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await settled.wait()
    await _report(len(live), failures, latencies, ready, stop, out)
    for task in tasks:
        task.cancel()
    os._exit(0)  # closing thousands of sockets politely would only slow the next run


async def _report(live: int, failures: int, latencies: list[float], ready: Any, stop: Any, out: Any) -> None:
    ready.put((live, failures))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, stop.wait)
    cpu = cpu_seconds(os.getpid())
    out.put((latencies, cpu, latencies))  # parsed when received
    out.close()
    out.join_thread()  # flushed before the hard exit


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client-to-server frame (RFC 6455 5.3)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    key = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
    return head + mask + masked


STAMP_BYTES = re.compile(rb'"volume": ?(\d+)')


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux: the kernel's receive time of the bytes
TIMESTAMP_SPACE = socket.CMSG_SPACE(16)  # a struct timespec
TIMESPEC = struct.Struct("qq")
CONNECTING, UPGRADING, ACKING, SUBSCRIBING, LIVE = range(5)


class RawSubscriber:
    """One graphql-transport-ws subscription over a raw non-blocking socket (the default client):
    the HTTP upgrade, ``connection_init``, ``subscribe``, then the server's frames parsed here
    (unmasked; text, ping, close). Each read carries the kernel's receive time of its bytes
    (``SO_TIMESTAMPNS``), so a frame's latency ends when it reached the client's socket, not when
    this process got round to parsing it: at 10,000 subscribers the clients' own CPU (one core for
    all of them) would otherwise delay the last frames of an update by ~0.2-0.3 s whatever the
    server does."""

    __slots__ = ("buffer", "latencies", "parsed", "request", "seen", "sock", "started", "state", "subscribe")

    def __init__(
        self,
        sock: socket.socket,
        request: bytes,
        subscribe: bytes,
        latencies: tuple[list[float], list[float]],
        seen: Any,
    ) -> None:
        self.sock, self.request, self.subscribe, self.seen = sock, request, subscribe, seen
        self.latencies, self.parsed = latencies  # to the kernel's receive time; to when parsed here
        self.buffer = b""
        self.state = CONNECTING
        self.started = time.monotonic()

    def connected(self) -> None:
        error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise ConnectionError(os.strerror(error))
        self.state = UPGRADING
        self.sock.sendall(self.request)

    def read(self) -> bool:
        """Read what arrived and handle it: False if the socket is over."""
        try:
            data, ancillary, _flags, _address = self.sock.recvmsg(65536, TIMESTAMP_SPACE)
        except (BlockingIOError, InterruptedError):
            return True
        if not data:
            return False
        stamp = None
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                seconds, nanoseconds = TIMESPEC.unpack_from(value)
                stamp = seconds + nanoseconds / 1e9
        if stamp is None:
            stamp = time.time()
        if self.state == LIVE and not self.buffer and data[0] == 0x81:  # the usual read: one whole text frame
            second = data[1]
            if (second < 126 and len(data) == 2 + second) or (
                second == 126 and len(data) == 4 + (data[2] << 8 | data[3])
            ):
                self._text(data, stamp)  # the header cannot match the stamp's pattern
                return True
        return self.feed(data, stamp)

    def feed(self, data: bytes, stamp: float) -> bool:
        buffer = self.buffer + data if self.buffer else data
        if self.state == UPGRADING:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return True
            if not buffer.startswith(b"HTTP/1.1 101"):
                return False
            self.state = ACKING
            buffer = buffer[end + 4 :]
            self.sock.sendall(client_frame(1, b'{"type":"connection_init","payload":{}}'))
        size, start = len(buffer), 0
        while size - start >= 2:
            second = buffer[start + 1]
            length, at = second & 0x7F, start + 2
            if length == 126:
                if size - start < 4:
                    break
                length, at = int.from_bytes(buffer[start + 2 : start + 4], "big"), start + 4
            elif length == 127:
                if size - start < 10:
                    break
                length, at = int.from_bytes(buffer[start + 2 : start + 10], "big"), start + 10
            if second & 0x80:  # a masked server frame: not a WebSocket server
                return False
            if size - at < length:
                break
            opcode = buffer[start] & 0x0F
            payload = buffer[at : at + length]
            start = at + length
            if opcode == 1:
                self._text(payload, stamp)
            elif opcode == 9:  # ping: the server closes a socket whose pongs stop
                self.sock.sendall(client_frame(0xA, payload))
            elif opcode == 8:
                return False
        self.buffer = buffer[start:] if start < size else b""
        return True

    def _text(self, payload: bytes, stamp: float) -> None:
        if self.state == LIVE:
            found = STAMP_BYTES.search(payload)
            if found is not None and b'"LIVE"' in payload:
                published = int(found.group(1)) / 1e6
                self.latencies.append(stamp - published)
                self.parsed.append(time.time() - published)
                self.seen.value += 1
        elif self.state == ACKING:  # connection_ack
            self.state = SUBSCRIBING
            self.sock.sendall(self.subscribe)
        else:  # the first frame (a snapshot): the subscription is live
            self.state = LIVE


def _raw_client(url: str, count: int, market_id: int, ready: Any, stop: Any, out: Any, seen: Any) -> None:
    """The default client (``--client raw``): ``RawSubscriber``s on one ``epoll``, 64 handshakes in
    flight, each given 60 s to go live."""
    import base64
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    subscribe = client_frame(1, _subscribe_message(market_id).encode())
    latencies: list[float] = []
    parsed: list[float] = []
    poll = select.epoll()
    subscribers: dict[int, RawSubscriber] = {}
    opening: set[RawSubscriber] = set()
    started = opened = failed = 0

    def start() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
        subscriber = RawSubscriber(sock, request, subscribe, (latencies, parsed), seen)
        sock.connect_ex((host, port))
        subscribers[sock.fileno()] = subscriber
        opening.add(subscriber)
        poll.register(sock.fileno(), select.EPOLLOUT)

    def drop(subscriber: RawSubscriber) -> None:
        nonlocal failed
        fd = subscriber.sock.fileno()
        if fd >= 0:
            poll.unregister(fd)
            subscribers.pop(fd, None)
        subscriber.sock.close()
        if subscriber in opening:
            opening.discard(subscriber)
            failed += 1

    def handle(events: list[tuple[int, int]]) -> None:
        nonlocal opened
        for fd, _mask in events:
            subscriber = subscribers.get(fd)
            if subscriber is None:
                continue
            try:
                if subscriber.state == CONNECTING:
                    subscriber.connected()
                    poll.modify(fd, select.EPOLLIN)
                    continue
                alive = subscriber.read()
            except OSError:
                alive = False
            if not alive:
                drop(subscriber)
            elif opening and subscriber.state == LIVE and subscriber in opening:
                opening.discard(subscriber)
                opened += 1

    while opened + failed < count:
        while started < count and len(opening) < 64:
            start()
            started += 1
        handle(poll.poll(0.5))
        limit = time.monotonic() - 60
        for subscriber in [s for s in opening if s.started < limit]:
            drop(subscriber)
    ready.put((opened, failed))
    while not stop.is_set():
        handle(poll.poll(0.1))
    cpu = cpu_seconds(os.getpid())
    out.put((latencies, cpu, parsed))
    out.close()
    out.join_thread()  # flushed before the hard exit below
    os._exit(0)  # closing thousands of sockets politely would only slow the next run


# -- one measurement ----------------------------------------------------------------------------


def publish_updates(prefix: str, market_id: int, head: int, count: int, interval: float = INTERVAL) -> None:
    """``count`` MarketState messages, one every INTERVAL, each stamped with its publish time in
    ``volume`` (microseconds since the epoch: ``at`` is serialized to the second, too coarse), and
    numbered after the channel's head as a commit numbers them (``stream_log.wire``)."""
    import redis

    from predictql.subscriptions.stream_log import wire
    from predictql.subscriptions.topics import MarketState

    client = redis.Redis.from_url(REDIS_URL)
    channel = prefix + f"market:{market_id}"
    start = time.monotonic()
    for index in range(count):
        time.sleep(max(0.0, start + index * interval - time.monotonic()))
        q_yes = 1000 * (index + 1)
        stamp = time.time_ns() // 1000
        state = MarketState(
            market_id,
            1,
            1,
            0.5 + index * 1e-4,
            5000 + index,
            5000 - index,
            q_yes,
            0,
            stamp,
            False,
            False,
            None,
            datetime.now(UTC),
        )
        client.publish(channel, wire(head + 1 + index, state.to_json()))
    client.close()


def measure(
    name: str,
    pid: int,
    url: str,
    subscribers: int,
    clients: int,
    market: tuple[int, int],
    prefix: str,
    seconds: float,
    profile: Path | None = None,
    interval: float = INTERVAL,
    client: str = "raw",
) -> dict[str, Any]:
    market_id, head = market
    ctx = mp.get_context("fork")
    ready, out, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    time.sleep(0.5)
    rss_before = rss_bytes(pid)
    shares = [subscribers // clients + (1 if i < subscribers % clients else 0) for i in range(clients)]
    seen = [ctx.RawValue("q", 0) for _ in shares]  # frames received so far, per client process
    procs = [
        ctx.Process(target=client_process, args=(url, n, market_id, ready, stop, out, counter, client))
        for n, counter in zip(shares, seen, strict=True)
    ]
    connect_start = time.monotonic()
    for proc in procs:
        proc.start()
    opened = failed = 0
    for _ in procs:
        ok, bad = ready.get(timeout=CONNECT_TIMEOUT)
        opened, failed = opened + ok, failed + bad
    connect_seconds = time.monotonic() - connect_start
    time.sleep(1.0)
    rss_idle = rss_bytes(pid)
    idle_start, idle_cpu0 = time.monotonic(), cpu_seconds(pid)
    time.sleep(1.0)
    idle_cpu_per_s = (cpu_seconds(pid) - idle_cpu0) / (time.monotonic() - idle_start)
    clients_cpu0 = sum(cpu_seconds(proc.pid or 0) for proc in procs)
    updates = max(1, round(seconds / interval))
    spy = None
    if profile is not None:  # py-spy samples the server while it delivers (adds its own overhead)
        profile.mkdir(parents=True, exist_ok=True)
        out_file = profile / f"{name}-{subscribers}.collapsed"
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "--duration",
                str(int(seconds) + 1),
                "--output",
                str(out_file),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
    cpu0, wall0, wait0 = cpu_seconds(pid), time.monotonic(), run_delay(pid)
    publish_updates(prefix, market_id, head, updates, interval)
    drain(seen, updates * opened)
    cpu1, wall1, wait1 = cpu_seconds(pid), time.monotonic(), run_delay(pid)
    clients_cpu1 = sum(cpu_seconds(proc.pid or 0) for proc in procs)
    if spy is not None:
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a loaded machine: the clients must still be stopped
            spy.kill()
    stop.set()
    latencies: list[float] = []
    parsed: list[float] = []
    for _ in procs:
        got, _cpu, got_parsed = out.get(timeout=120)
        latencies.extend(got)
        parsed.extend(got_parsed)
    for proc in procs:
        proc.join(timeout=10)
    delivered = len(latencies)
    cpu = cpu1 - cpu0
    latencies.sort()
    parsed.sort()

    def pct(p: float, values: list[float] = latencies) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 2) if values else float("nan")

    row = {
        "server": name,
        "subscribers": subscribers,
        "updates_per_second": round(1 / interval, 3),
        "opened": opened,
        "failed": failed,
        "connect_seconds": round(connect_seconds, 2),
        "updates": updates,
        "expected": updates * opened,
        "delivered": delivered,
        "delivery_p50_ms": pct(0.50),
        "delivery_p99_ms": pct(0.99),
        "delivery_max_ms": pct(1.0),
        # the same latency to when the client process parsed the frame (the websockets client's
        # only figure): what the clients' own CPU adds
        "parsed_p50_ms": pct(0.50, parsed),
        "parsed_p99_ms": pct(0.99, parsed),
        "server_cpu_seconds": round(cpu, 3),
        "window_seconds": round(wall1 - wall0, 2),
        "server_cpu_us_per_delivery": round(cpu / delivered * 1e6, 2) if delivered else None,
        "deliveries_per_cpu_second": round(delivered / cpu) if cpu else None,
        "server_cpu_utilization": round(cpu / (wall1 - wall0), 3),
        "server_runqueue_wait_seconds": round(wait1 - wait0, 3),
        "server_idle_cpu_per_second": round(idle_cpu_per_s, 4),
        "client": client,
        "client_cpu_utilization": round((clients_cpu1 - clients_cpu0) / (wall1 - wall0), 3),
        "client_cpu_us_per_frame": round((clients_cpu1 - clients_cpu0) / delivered * 1e6, 2) if delivered else None,
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_idle_mb": round(rss_idle / 2**20, 1),
        "rss_kb_per_idle_subscriber": round((rss_idle - rss_before) / max(opened, 1) / 1024, 2),
        "mean_latency_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1,000 subscribers, 3 s of updates (< 60 s)")
    parser.add_argument("--subscribers", default="200,1000,5000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4, help="client processes (pinned to CPU 1)")
    parser.add_argument("--profile", type=Path, help="py-spy the servers while they deliver; collapsed stacks here")
    parser.add_argument("--smoke", action="store_true", help="CI: 20 subscribers, 1 s; fails unless all arrive")
    parser.add_argument("--rate", type=float, default=1 / INTERVAL, help="price updates per second")
    parser.add_argument("--servers", default="ours,naive", help="which servers to measure")
    parser.add_argument(
        "--client",
        choices=("raw", "websockets"),
        default="raw",
        help="subscribers' client: raw sockets on uvloop (default), or asyncio + websockets (the first client)",
    )
    parser.add_argument("--out", help="results file name in bench/results (default fanout.json)")
    args = parser.parse_args()
    counts = [1000] if args.quick else [20] if args.smoke else [int(n) for n in args.subscribers.split(",")]
    seconds = 3.0 if args.quick else 1.0 if args.smoke else args.seconds
    clients = 1 if args.smoke else args.clients
    interval = 1 / args.rate
    servers = [(name, start) for name, start in (("ours", ours), ("naive", naive)) if name in args.servers.split(",")]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # clients and servers inherit it
    data_dir = Path(tempfile.mkdtemp(prefix="predictql-bench-fanout-"))
    db_url = f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
    market = asyncio.run(seed(db_url, data_dir))
    prefix = f"bench{os.getpid()}:"
    rows = []
    try:
        for subscribers in counts:
            for name, start in servers:
                port = free_port()
                with start(port, server_env(db_url, data_dir, prefix)) as pid:
                    url = f"ws://127.0.0.1:{port}/graphql"
                    rows.append(
                        measure(
                            name,
                            pid,
                            url,
                            subscribers,
                            clients,
                            market,
                            prefix,
                            seconds,
                            args.profile,
                            interval,
                            args.client,
                        )
                    )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    ratios = []
    for subscribers in counts if len(servers) == 2 else []:
        mine = next(r for r in rows if r["server"] == "ours" and r["subscribers"] == subscribers)
        base = next(r for r in rows if r["server"] == "naive" and r["subscribers"] == subscribers)
        ratios.append(
            {
                "subscribers": subscribers,
                "cpu_per_delivery_ours_over_naive": _ratio(
                    mine["server_cpu_us_per_delivery"], base["server_cpu_us_per_delivery"]
                ),
                "p50_ours_over_naive": _ratio(mine["delivery_p50_ms"], base["delivery_p50_ms"]),
                "p99_ours_over_naive": _ratio(mine["delivery_p99_ms"], base["delivery_p99_ms"]),
                "memory_per_subscriber_ours_over_naive": _ratio(
                    mine["rss_kb_per_idle_subscriber"], base["rss_kb_per_idle_subscriber"]
                ),
            }
        )
    results = {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d"),
        "quick": args.quick,
        "interval_ms": interval * 1000,
        "seconds": seconds,
        "clients": clients,
        "cpus": os.cpu_count(),
        "bus": "redis",
        "load_average": os.getloadavg(),  # the machine is shared: what else ran
        "targets": {
            "deliveries_per_cpu_second": 30000,
            "p99_ms_1000_at_10_per_s": 100,
            "kb_per_idle_subscriber": 30,
            "p99_ms_10000_at_1_per_s": 250,
        },
        "runs": rows,
        "ratios": ratios,
    }
    print(
        f"\n{'server':<6} {'subs':>5} {'delivered/expected':>19} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'us CPU/msg':>10} {'msgs/CPU-s':>10} {'KB/idle sub':>11} {'client CPU':>10} {'client us/frame':>15} "
        f"{'parsed p99':>10}"
    )
    for r in rows:
        print(
            f"{r['server']:<6} {r['subscribers']:>5} {r['delivered']:>9}/{r['expected']:<9} "
            f"{r['delivery_p50_ms']:>8} {r['delivery_p99_ms']:>8} {r['server_cpu_us_per_delivery']!s:>10} "
            f"{r['deliveries_per_cpu_second']!s:>10} {r['rss_kb_per_idle_subscriber']:>11} "
            f"{r['client_cpu_utilization']:>10} {r['client_cpu_us_per_frame']!s:>15} {r['parsed_p99_ms']:>10}"
        )
    for ratio in ratios:
        print("ours/naive", json.dumps(ratio))
    if args.smoke:
        missing = [r for r in rows if r["failed"] or r["delivered"] != r["expected"]]
        if missing:
            sys.exit(f"smoke: frames missing: {missing}")
        print("smoke: every frame arrived")
        return
    print("recorded", record(args.out or ("fanout-quick.json" if args.quick else "fanout.json"), results))


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


if __name__ == "__main__":
    main()
