"""Every REST module registers its endpoints on import; this collects them as Starlette routes."""

from __future__ import annotations

from starlette.routing import BaseRoute

from predictql.rest_compat import (  # noqa: F401  (registration on import)
    auth,
    events,
    health,
    notifications,
    orders,
    pools,
    referrals,
    trading,
    users,
    watchlist,
)
from predictql.rest_compat.routing import REGISTRY, to_route
from predictql.rest_compat.ws_feeds import ws_routes


def all_routes() -> list[BaseRoute]:
    # Literal segments before parameters: /users/me must not be taken by /users/{id}.
    ordered = sorted(REGISTRY, key=lambda spec: ("{" in spec.path.split("/")[-1], spec.path))
    return [*(to_route(spec) for spec in ordered), *ws_routes()]
