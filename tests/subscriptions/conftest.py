"""An app running in process (its lifespan, its bus), reached over ASGI by HTTP and WebSocket."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from predictql.app import create_app
from predictql.db import Database
from predictql.settings import Settings
from predictql.subscriptions.bus import Bus
from tests.conftest import make_settings
from tests.support import BASE, Lifespan

# Channels of this run: test runs sharing one Redis must not hear each other's markets.
PREFIX = f"pqtest-{os.getpid()}:"


@dataclass
class Live:
    app: Lifespan
    http: httpx.AsyncClient
    db: Database  # the app's own: its commits publish on the app's bus
    bus: Bus
    settings: Settings


@asynccontextmanager
async def live_app(settings: Settings, **overrides: Any) -> AsyncIterator[Live]:
    app_settings = make_settings(
        settings.resolved_database_url, settings.data_dir, bus_channel_prefix=PREFIX, **overrides
    )
    async with Lifespan(create_app(app_settings, run_migrations=False)) as running:
        transport = httpx.ASGITransport(app=running, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield Live(running, http, running.state["db"], running.state["bus"], app_settings)


@pytest.fixture
async def live(settings: Settings, db: Database) -> AsyncIterator[Live]:
    async with live_app(settings) as running:
        yield running


@pytest.fixture
def live_with(settings: Settings, db: Database) -> Callable[..., AbstractAsyncContextManager[Live]]:
    """An app with other settings (``live_with(bus_queue_size=2)``)."""
    return lambda **overrides: live_app(settings, **overrides)
