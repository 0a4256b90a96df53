"""Two real ``predictql serve`` processes on one PostgreSQL database, placing crossing orders on one
market at the same time: matching is serialized by the market row lock, so nothing is filled twice.

Skipped on SQLite (embedded mode is one process by design).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from predictql.db import Database
from predictql.models import Order, Trade
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.conftest import BACKEND
from tests.e2e.conftest import start_server, stop_server
from tests.markets.factories import create_market_setup
from tests.markets.test_orderbook_services import assert_books_balanced
from tests.support import bearer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(BACKEND == "sqlite", reason="one process by design on SQLite"),
]
USERS = 24


@pytest.fixture(scope="module")
def two_servers(settings: Settings, db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    logs = tmp_path_factory.mktemp("servers")
    # 96 orders queue on one market row lock; on a starved test machine that wait can pass the
    # default statement timeout (then 503). This test is about double fills, not latency.
    patient = {"PREDICTQL_DATABASE_STATEMENT_TIMEOUT_SECONDS": "120"}
    started = [start_server(settings, Path(logs / f"server{i}.log"), **patient) for i in range(2)]
    yield [base for _, base in started]
    for process, _ in started:
        stop_server(process)


async def test_crossing_orders_from_two_processes_never_double_fill(
    two_servers: list[str], db: Database, settings: Settings
) -> None:
    _, _, (market,) = await create_market_setup(db, market_type="orderbook")
    tokens = [(await trader(db, settings, balance=200_000))[1] for _ in range(USERS)]
    rng = random.Random(20)
    bodies = []
    for index in range(USERS * 4):
        token_type = "YES" if index % 2 else "NO"
        body = {"market_id": market.id, "type": "buy", "token_type": token_type, "amount": rng.randint(1000, 8000)}
        if rng.random() < 0.8:
            body |= {"kind": "limit", "price": rng.choice([4700, 4850, 5000, 5150, 5300])}
        else:
            body |= {"kind": "market"}
        bodies.append((tokens[index % USERS], body))
    clients = [httpx.AsyncClient(base_url=base, timeout=60) for base in two_servers]
    try:
        responses = await asyncio.gather(
            *(
                clients[i % 2].post("/api/v1/market/orders", json=body, headers=bearer(token))
                for i, (token, body) in enumerate(bodies)
            )
        )
        sells = await _sell_back(clients, tokens, market.id or 0)
    finally:
        for client in clients:
            await client.aclose()
    assert [r.status_code for r in responses] == [200] * len(bodies), [r.text for r in responses if r.status_code > 200]
    assert sells and all(r.status_code == 200 for r in sells), [r.text for r in sells if r.status_code != 200]
    async with db.session() as session:
        seqs = list(await session.scalars(select(Order.seq).order_by(Order.seq)))
        filled = await session.scalar(select(func.sum(Order.filled)))
        traded = await session.scalar(select(func.sum(Trade.shares)))
        orders = list(await session.scalars(select(Order)))
    assert seqs == list(range(1, len(seqs) + 1))  # one matcher at a time per market
    assert filled == traded and traded  # every fill counted once, on both of its orders
    for order in orders:
        assert order.remaining >= 0 and order.filled >= 0
        if order.side == "buy":
            assert order.spent + order.remaining == order.amount
    await assert_books_balanced(db)


async def _sell_back(clients: list[httpx.AsyncClient], tokens: list[str], market_id: int) -> list[httpx.Response]:
    """Everyone offers half of what they hold at 5000, through both processes at once."""
    offers = []
    for index, token in enumerate(tokens):
        held = (await clients[0].get("/api/v1/market/positions/my", headers=bearer(token))).json()
        for position in held:
            if position["market_id"] == market_id and position["amount"] >= 2:
                body = {
                    "market_id": market_id,
                    "type": "sell",
                    "kind": "limit",
                    "token_type": position["token_type"],
                    "amount": position["amount"] // 2,
                    "price": 5000,
                }
                offers.append(clients[index % 2].post("/api/v1/market/orders", json=body, headers=bearer(token)))
    return list(await asyncio.gather(*offers))
