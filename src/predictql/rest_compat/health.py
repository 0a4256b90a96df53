"""``GET /health``: liveness plus a database round trip; never an error body."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from predictql.db import utcnow
from predictql.rest_compat.routing import ApiRequest, endpoint


@endpoint("GET", "/health", auth="none")
async def health(api: ApiRequest) -> dict[str, Any]:
    started: float = api.state("started_at")
    status = "ok"
    try:
        async with api.db.session() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        status = "degraded"
    return {"status": status, "timestamp": utcnow(), "uptime_seconds": int(time.monotonic() - started)}
