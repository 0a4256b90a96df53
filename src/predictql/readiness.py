"""Is this process ready for traffic? (``GET /api/v1/ready``, README "Readiness and drain").

Liveness stays with ``/api/v1/health`` (documented shape, never an error body). Readiness checks
what a request needs: the database answers, its schema is at the migration head this code expects,
every configured Redis (bus, rate limiter) answers ``PING``, and the process is not draining. Each
check is bounded by ``PREDICTQL_READY_TIMEOUT_SECONDS``; the route answers 503 with the envelope
while any fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from functools import cache

from alembic.script import ScriptDirectory
from redis import asyncio as aioredis
from sqlalchemy import text

from predictql import migrate
from predictql.db import Database
from predictql.settings import Settings

OK = "ok"


@cache
def migration_head() -> str | None:
    return ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


def redis_urls(settings: Settings) -> list[str]:
    """Every Redis this process uses, once each (the bus and the rate limiter may share one)."""
    urls = [settings.broadcast_url, settings.redis_url or ""]
    return sorted({url for url in urls if url.startswith(("redis://", "rediss://", "unix://"))})


async def _database(db: Database) -> str:
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
    current = await migrate.current_revision(db.engine)
    head = migration_head()
    return OK if current == head else f"schema at {current}, code expects {head}"


async def _redis(url: str, seconds: float) -> str:
    client = aioredis.Redis.from_url(url, socket_connect_timeout=seconds, socket_timeout=seconds)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return OK


async def _bounded(check: Awaitable[str], seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            return await check
    except TimeoutError:
        return f"no answer within {seconds:g} s"
    except Exception as exc:  # any failure means not ready; the reason is shown to the operator
        return f"down ({type(exc).__name__})"


async def checks(db: Database, settings: Settings, *, draining: bool) -> dict[str, str]:
    """Check name -> ``"ok"`` or why not. ``redis`` is absent when none is configured."""
    timeout = settings.ready_timeout_seconds
    # Named by host, port and db only: a password in the URL is not shown.
    names = ["database", *(f"redis {url.split('://', 1)[-1].rsplit('@', 1)[-1]}" for url in redis_urls(settings))]
    jobs = [_database(db), *(_redis(url, timeout) for url in redis_urls(settings))]
    results = await asyncio.gather(*(_bounded(job, timeout) for job in jobs))
    found = dict(zip(names, results, strict=True))
    found["process"] = "draining (shutting down)" if draining else OK
    return found
