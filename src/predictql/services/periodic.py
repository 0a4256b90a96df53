"""Passes the app's lifespan runs every few seconds until shutdown (the order and P2P expiry
sweeps, the loop events): one loop for all, so a failed pass is logged alike everywhere and never
ends its task (the next pass may find the database back)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def every(interval: float, run: Callable[[], Awaitable[object]], log: logging.Logger, what: str) -> None:
    """``run()`` every ``interval`` seconds, the first after one interval, until cancelled; a pass
    that raises is logged on ``log`` as "``what`` failed" and the next one runs as usual."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run()
        except Exception:
            log.exception("%s failed", what)
