"""marketUpdated's subscribe-time visibility check: anonymous sockets subscribing to one market while
its read is in flight share that read (one session for a burst of connects); the answer is each
one's, a refusal included; a signed-in caller reads alone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from predictql.db import Database
from predictql.models import Event
from predictql.resolvers import subscriptions as resolvers
from predictql.services import live as live_state
from tests.markets.factories import create_market_setup
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import MARKET, data
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, gid


def _gated(monkeypatch: pytest.MonkeyPatch) -> tuple[list[object], asyncio.Event, list[object]]:
    """Market reads wait at the gate; returns the reads started, the gate and the checks asked for."""
    reads: list[object] = []
    checks: list[object] = []
    gate = asyncio.Event()
    original, checked = live_state.market_state, resolvers._checked

    async def read(session: Any, actor: Any, market_id: int) -> Any:
        reads.append(actor)
        await gate.wait()
        return await original(session, actor, market_id)

    def check(context: Any, key: Any, run: Any) -> Any:
        checks.append(key)
        return checked(context, key, run)

    monkeypatch.setattr(live_state, "market_state", read)
    monkeypatch.setattr(resolvers, "_checked", check)
    return reads, gate, checks


async def _both_asked(checks: list[object]) -> None:
    for _ in range(500):
        if len(checks) == 2:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"checks asked for: {checks}")


async def test_anonymous_subscribers_at_once_share_one_check(
    live: Live, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, (market,) = await create_market_setup(db)
    reads, gate, checks = _gated(monkeypatch)
    async with GraphQLSocket(live.app) as one, GraphQLSocket(live.app) as two:
        ops = [await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, market.id)}) for ws in (one, two)]
        await _both_asked(checks)  # the first read waits at the gate
        assert len(reads) == 1
        gate.set()
        for ws, op in ((one, ops[0]), (two, ops[1])):
            assert data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
    assert len(reads) == 2  # one check for both, then the (shared) snapshot
    assert not resolvers._checking


async def test_a_shared_check_refuses_each_subscriber_of_a_hidden_market(
    live: Live, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, (market,) = await create_market_setup(db)
    async with db.transaction() as session:
        await session.execute(update(Event).where(col(Event.id) == market.event_id).values(is_active=False))
    reads, gate, checks = _gated(monkeypatch)
    async with GraphQLSocket(live.app) as one, GraphQLSocket(live.app) as two:
        ops = [await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, market.id)}) for ws in (one, two)]
        await _both_asked(checks)
        gate.set()
        for ws, op in ((one, ops[0]), (two, ops[1])):
            failed = await ws.next(op)
            assert failed["data"] is None and failed["errors"][0]["extensions"]["code"] == "market_not_found"
            assert (await ws.next(op))["type"] == "complete"
    assert len(reads) == 1
    assert live.bus.stats()["channels"] == 0
