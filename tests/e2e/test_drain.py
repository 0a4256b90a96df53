"""SIGTERM mid-load (README "Readiness and drain"): a real ``predictql serve`` (A) takes trades from
several concurrent writers (each with its own ``Idempotency-Key``) while a client follows the
market's trades over ``graphql-transport-ws``. On SIGTERM:

- the socket is closed with **1001** (going away), not cut;
- every write that got an answer got 200: in-flight writes finished; a write that found the
  process gone (no answer) is retried with the same key on the next process (B), as a client behind
  a load balancer would, and the key makes that safe;
- A exits;
- the client reconnects to B with ``fromSeq`` = the last seq it saw and receives every trade it
  missed: the trades delivered over both sockets are exactly the trades in the database, each once.

Runs on both stores: A and B run one after the other on the test database (B resumes from the
stream log, which needs no shared bus).
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlmodel import col, func, select

from predictql.db import Database
from predictql.models import Trade
from predictql.schema.ids import Kind
from predictql.settings import Settings
from tests.api.test_lmsr_api import TRADE, trader
from tests.e2e.conftest import start_server, stop_server
from tests.markets.factories import create_market_setup
from tests.support import bearer, gid, wait_until

pytestmark = pytest.mark.e2e

TRADES = """subscription($m: ID, $from: Long) { trades(marketId: $m, fromSeq: $from) { kind seq data { id } } }"""
WRITERS = 4
TERM_AFTER = 8  # successful trades before SIGTERM


async def _subscribe(base: str, market_id: int, from_seq: int) -> Any:
    ws = await websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    payload = {"query": TRADES, "variables": {"m": gid(Kind.MARKET, market_id), "from": from_seq}}
    await ws.send(json.dumps({"id": "t", "type": "subscribe", "payload": payload}))
    return ws


async def _follow(ws: Any, seen: list[tuple[int, str]]) -> int | None:
    """Appends (seq, trade id) of every LIVE item until the socket closes; returns its close code."""
    try:
        while True:
            message = json.loads(await ws.recv())
            assert message["type"] == "next", message
            item = message["payload"]["data"]["trades"]
            if item["kind"] == "LIVE":
                seen.append((item["seq"], item["data"]["id"]))
            else:
                assert item["kind"] == "HEARTBEAT", item  # never a GAP
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


class Load:
    def __init__(self, token: str, market_id: int) -> None:
        self.body = {"market_id": market_id, "side": "buy_yes", "amount_type": "spend", "amount": 1000}
        self.headers = bearer(token)
        self.ok: list[str] = []
        self.unanswered: list[str] = []  # sent, no answer: the process was going away
        self.failed: list[tuple[str, int, str]] = []

    async def writer(self, base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            while True:
                key = uuid.uuid4().hex
                try:
                    response = await http.post(TRADE, json=self.body, headers={**self.headers, "Idempotency-Key": key})
                except httpx.TransportError:
                    self.unanswered.append(key)
                    return
                if response.status_code == 200:
                    self.ok.append(key)
                else:
                    self.failed.append((key, response.status_code, response.text))
                    return


async def test_sigterm_mid_load_loses_no_write_and_no_stream_message(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    _, _, (market,) = await create_market_setup(db)
    market_id = market.id or 0
    _, token = await trader(db, settings, balance=10_000_000)
    process, a = start_server(settings, tmp_path / "a.log", startup_timeout=120)
    try:
        seen_on_a: list[tuple[int, str]] = []
        ws = await _subscribe(a, market_id, 0)
        following = asyncio.create_task(_follow(ws, seen_on_a))
        load = Load(token, market_id)
        writers = [asyncio.create_task(load.writer(a)) for _ in range(WRITERS)]
        await wait_until(lambda: len(load.ok) >= TERM_AFTER or bool(load.failed), within=60)
        assert not load.failed, load.failed
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            close_code = await following
            await asyncio.gather(*writers)
        assert close_code == 1001
        assert await asyncio.to_thread(process.wait, 60) is not None
    finally:
        stop_server(process)
    assert not load.failed, load.failed
    assert "Traceback" not in (tmp_path / "a.log").read_text()

    process, b = start_server(settings, tmp_path / "b.log", startup_timeout=120)
    try:
        async with httpx.AsyncClient(base_url=b, timeout=60) as http:
            for key in load.unanswered:  # done on A or not: the key makes the retry safe
                retried = await http.post(TRADE, json=load.body, headers={**load.headers, "Idempotency-Key": key})
                assert retried.status_code == 200, retried.text
        async with db.session() as session:
            stored = (await session.execute(select(func.count()).where(col(Trade.market_id) == market_id))).scalar_one()
        assert stored == len(load.ok) + len(load.unanswered)  # every write done, none twice

        last_seq = seen_on_a[-1][0] if seen_on_a else 0
        seen_on_b: list[tuple[int, str]] = []
        ws = await _subscribe(b, market_id, last_seq)
        following = asyncio.create_task(_follow(ws, seen_on_b))
        await wait_until(lambda: len(seen_on_a) + len(seen_on_b) >= stored, within=30)
        await ws.close()
        await following
    finally:
        stop_server(process)
    seqs = [seq for seq, _ in seen_on_a + seen_on_b]
    assert seqs == sorted(set(seqs)), "a duplicate or out-of-order message"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a missed message"
    assert len({trade_id for _, trade_id in seen_on_a + seen_on_b}) == stored
