"""Background price sources, chosen in settings (README "Asset prices, FX and loop events").

- ``PREDICTQL_PRICE_SOURCE=bybit``: ``bybit.BybitFeed`` (WebSocket tickers, REST fallback).
- ``PREDICTQL_FX_SOURCE=cbr``: ``cbr.CbrFeed`` (the central bank's daily JSON).
- ``operator`` (the default for both): nothing runs; prices come from ``predictql prices set`` /
  ``predictql fx set`` and the admin mutations.

Every process runs the configured feeds: each records what it hears through ``services.assets``,
which keeps the newest price per symbol and one history point per period, so the stored prices are
the same whichever process heard them (the database is the truth, the bus fans out).
"""

from __future__ import annotations

import asyncio

from predictql.db import Database
from predictql.settings import Settings


def start(db: Database, settings: Settings) -> list[asyncio.Task[None]]:
    from predictql.price_feeds.bybit import BybitFeed
    from predictql.price_feeds.cbr import CbrFeed

    tasks: list[asyncio.Task[None]] = []
    if settings.price_source == "bybit":
        tasks.append(asyncio.create_task(BybitFeed(db, settings).run(), name="bybit price feed"))
    if settings.fx_source == "cbr":
        tasks.append(asyncio.create_task(CbrFeed(db, settings).run(), name="cbr fx feed"))
    return tasks
