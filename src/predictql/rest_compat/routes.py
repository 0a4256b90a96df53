"""Every REST module registers its endpoints on import; this collects them as Starlette routes.

One route per path, answering every method: a method the path does not have is 405 with ``Allow``
listing all of the path's methods. Because each route claims its path for every method, a literal
segment wins over a parameter whatever the method (``GET /users/me`` is 405 ``Allow: PUT``, never
``GET /users/{id}`` with id "me"): routes are ordered literal-before-parameter, segment by segment.
"""

from __future__ import annotations

from collections import defaultdict

from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from predictql.rest_compat import (  # noqa: F401  (registration on import)
    alerts,
    assets,
    auth,
    card,
    comments,
    events,
    health,
    notifications,
    openapi,
    orders,
    p2p,
    pools,
    ready,
    referrals,
    support_chat,
    trading,
    users,
    watchlist,
    withdrawals,
)
from predictql.rest_compat.errors import envelope
from predictql.rest_compat.routing import REGISTRY, Endpoint, handler
from predictql.rest_compat.ws_feeds import ws_routes


def all_routes() -> list[BaseRoute]:
    by_path: dict[str, list[Endpoint]] = defaultdict(list)
    for spec in REGISTRY:
        by_path[spec.path].append(spec)
    ordered = sorted(by_path, key=_specificity)
    return [*(Route(path, _PathEndpoint(by_path[path])) for path in ordered), *ws_routes()]


def _specificity(path: str) -> list[tuple[bool, str]]:
    """Sorts literal segments before parameters at the first position where two paths differ."""
    return [("{" in segment, segment) for segment in path.split("/")]


class _PathEndpoint:
    """The ASGI app of one path (an app, not a function, so Starlette routes every method to it)."""

    def __init__(self, specs: list[Endpoint]) -> None:
        self.handlers = {spec.method: handler(spec) for spec in specs}
        if "GET" in self.handlers:
            self.handlers.setdefault("HEAD", self.handlers["GET"])  # as Starlette does for a GET route
        self.allow = ", ".join(sorted(self.handlers))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        run = self.handlers.get(request.method)
        if run is None:
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {self.allow}"
            response = envelope(405, "METHOD_NOT_ALLOWED", message, headers={"Allow": self.allow})
        else:
            response = await run(request)
        await response(scope, receive, send)
