"""``GET /ready``: readiness (our extension, not in routes.yaml; see ``predictql.readiness``)."""

from __future__ import annotations

from typing import Any

from predictql import readiness
from predictql.errors import Unavailable
from predictql.outages import RETRY_AFTER_SECONDS
from predictql.rest_compat.routing import ApiRequest, endpoint


@endpoint("GET", "/ready", auth="none")
async def ready(api: ApiRequest) -> dict[str, Any]:
    drain = getattr(api.request.state, "drain", None)  # the lifespan's predictql.drain.Drain
    found = await readiness.checks(api.db, api.settings, draining=bool(drain and drain.draining))
    failing = {name: why for name, why in found.items() if why != readiness.OK}
    if failing:
        detail = "; ".join(f"{name}: {why}" for name, why in failing.items())
        raise Unavailable(f"not ready: {detail}", retry_after=RETRY_AFTER_SECONDS)
    return {"status": "ready", "checks": found}
