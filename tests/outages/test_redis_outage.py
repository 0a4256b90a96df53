"""The Redis server behind the bus and the rate limiter goes away and comes back, under two real
``predictql serve`` processes: one whose limiter fails open (the default) keeps serving, one that
fails closed answers 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After`` (health still answers); once
Redis is back both serve normally and an open subscription receives the next trade in seq order.

The Redis server is the test's own (``owned.OwnedRedis``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from predictql.db import Database
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.e2e.conftest import start_server, stop_server
from tests.markets.factories import create_market_setup
from tests.outages.owned import OwnedRedis, next_trade, subscribe_trades, unavailable
from tests.support import bearer

pytestmark = pytest.mark.e2e


@pytest.fixture
def redis() -> Iterator[OwnedRedis]:
    owned = OwnedRedis()
    owned.start()
    yield owned
    owned.stop()


@pytest.fixture
def servers(settings: Settings, db: Database, redis: OwnedRedis, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(fails open, fails closed), sharing the test database and the owned Redis."""
    own = settings.model_copy(update={"broadcast_url": redis.url, "redis_url": redis.url})
    started = [
        start_server(own, tmp_path / f"{name}.log", PREDICTQL_RATE_LIMIT_FAIL_OPEN=value)
        for name, value in (("open", "true"), ("closed", "false"))
    ]
    yield started[0][1], started[1][1]
    for process, _ in started:
        stop_server(process)


async def _trade(http: httpx.AsyncClient, token: str, market_id: int) -> httpx.Response:
    body = {"market_id": market_id, "side": "buy_yes", "amount_type": "spend", "amount": 1000}
    return await http.post("/api/v1/lmsr/trade", json=body, headers=bearer(token))


async def test_redis_down_fails_open_or_closed_per_setting_and_the_bus_comes_back(
    servers: tuple[str, str], redis: OwnedRedis, db: Database, settings: Settings
) -> None:
    fails_open, fails_closed = servers
    _, _, (market,) = await create_market_setup(db)
    _, token = await trader(db, settings, balance=1_000_000)
    market_id = market.id or 0
    ws = await subscribe_trades(fails_open, market_id)
    opened = httpx.AsyncClient(base_url=fails_open, timeout=30)
    closed = httpx.AsyncClient(base_url=fails_closed, timeout=30)
    try:
        assert (await _trade(closed, token, market_id)).status_code == 200  # published through Redis
        before = await next_trade(ws)

        # Waits for the process (and polls the new one): in a thread, the socket's client keeps running.
        await asyncio.to_thread(redis.stop)
        assert (await opened.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
        refused = await closed.get("/api/v1/auth/me", headers=bearer(token))
        assert unavailable(refused), refused.text
        assert (await closed.get("/api/v1/health")).status_code == 200

        await asyncio.to_thread(redis.start)
        for _ in range(100):  # the limiter reconnects on its next request; each try is one round trip
            if (await closed.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200:
                break
        else:
            raise AssertionError("the fail-closed server did not serve again")
        assert (await _trade(closed, token, market_id)).status_code == 200
        after = await next_trade(ws)  # the open server's bus reconnected (or replayed from the log)
        assert after["seq"] == before["seq"] + 1
    finally:
        await ws.close()
        await opened.aclose()
        await closed.aclose()
