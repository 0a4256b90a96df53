"""Through a real ``predictql serve``: a forged X-Forwarded-For buys no extra budget.

uvicorn alone would believe the header from 127.0.0.1 (its FORWARDED_ALLOW_IPS default); the
server runs it without proxy headers and the gateway trusts only PREDICTQL_TRUSTED_PROXIES.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from predictql.settings import Settings
from tests.e2e.conftest import start_server, stop_server

PROBE = {"query": "{ __typename }"}


async def _statuses(base: str, headers: list[dict[str, str]]) -> list[int]:
    async with httpx.AsyncClient(base_url=base) as http:
        return [(await http.post("/graphql", json=PROBE, headers=h)).status_code for h in headers]


async def test_forged_forwarded_for_shares_the_peer_budget(settings: Settings, tmp_path: Path) -> None:
    prefix = f"{settings.bus_channel_prefix}xff-{secrets.token_hex(4)}:"  # fresh counters
    process, base = start_server(
        settings, tmp_path / "server.log", PREDICTQL_RATE_LIMIT_PER_MINUTE="5", PREDICTQL_BUS_CHANNEL_PREFIX=prefix
    )
    try:
        # The health probe of start_server spent one request of 127.0.0.1's budget.
        forged = [{"X-Forwarded-For": f"198.18.0.{n}"} for n in range(6)]
        assert await _statuses(base, forged) == [200] * 4 + [429] * 2
    finally:
        stop_server(process)


async def test_a_trusted_proxy_is_believed(settings: Settings, tmp_path: Path) -> None:
    prefix = f"{settings.bus_channel_prefix}xff-{secrets.token_hex(4)}:"
    process, base = start_server(
        settings,
        tmp_path / "server.log",
        PREDICTQL_RATE_LIMIT_PER_MINUTE="5",
        PREDICTQL_BUS_CHANNEL_PREFIX=prefix,
        PREDICTQL_TRUSTED_PROXIES="127.0.0.1",
    )
    try:
        one_client = [{"X-Forwarded-For": f"198.18.0.{n}, 203.0.113.5"} for n in range(6)]
        assert await _statuses(base, one_client) == [200] * 5 + [429]
        assert await _statuses(base, [{"X-Forwarded-For": "203.0.113.6"}]) == [200]
    finally:
        stop_server(process)
