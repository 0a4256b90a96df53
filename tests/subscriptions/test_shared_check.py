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


def _gated(monkeypatch: pytest.MonkeyPatch) -> tuple[list[object], asyncio.Event]:
    reads: list[object] = []
    gate = asyncio.Event()
    original = live_state.market_state

    async def read(session: Any, actor: Any, market_id: int) -> Any:
        reads.append(actor)
        await gate.wait()
        return await original(session, actor, market_id)

    monkeypatch.setattr(live_state, "market_state", read)
    return reads, gate


async def test_anonymous_subscribers_at_once_share_one_check(
    live: Live, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, (market,) = await create_market_setup(db)
    reads, gate = _gated(monkeypatch)
    async with GraphQLSocket(live.app) as one, GraphQLSocket(live.app) as two:
        ops = [await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, market.id)}) for ws in (one, two)]
        await asyncio.sleep(0.2)  # both checks asked for; the first read waits at the gate
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
    reads, gate = _gated(monkeypatch)
    async with GraphQLSocket(live.app) as one, GraphQLSocket(live.app) as two:
        ops = [await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, market.id)}) for ws in (one, two)]
        await asyncio.sleep(0.2)
        gate.set()
        for ws, op in ((one, ops[0]), (two, ops[1])):
            failed = await ws.next(op)
            assert failed["data"] is None and failed["errors"][0]["extensions"]["code"] == "market_not_found"
            assert (await ws.next(op))["type"] == "complete"
    assert len(reads) == 1
    assert live.bus.stats()["channels"] == 0
