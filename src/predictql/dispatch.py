"""Starlette's ``Router`` with the route of a literal path found by a dict lookup.

Starlette tries each route's regular expression in order on every request (``Router.app``): the
REST mount has a hundred routes, and a request for ``/api/v1/lmsr/trade`` ran a few dozen of them.
Which route fully matches an HTTP request depends only on its method and route path (Route,
WebSocketRoute and Mount match on nothing else; no Host route is used here). When that route is a
``Route`` without path parameters, the path is one of that route's literal paths, a bounded set:
the outcome is remembered per (method, path) on first use and handed the same scope Starlette's
loop gives it. Every other request (paths with parameters, 404s, 405s, sockets, the lifespan) goes
through Starlette's own loop.
"""

from __future__ import annotations

from typing import Any

from starlette._utils import get_route_path
from starlette.routing import Host, Match, Route, Router
from starlette.types import Receive, Scope, Send


class Dispatch(Router):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if any(isinstance(route, Host) for route in self.routes):  # matches on a header too
            raise ValueError("Dispatch cannot remember routes that match on the Host header")
        # The paths a parameterless Route can match: only these are worth looking up.
        self._literal = {route.path for route in self.routes if isinstance(route, Route) and not route.param_convertors}
        self._chosen: dict[tuple[str, str], Route] = {}

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (path := get_route_path(scope)) in self._literal:
            key = (scope["method"], path)
            route = self._chosen.get(key)
            if route is None:
                route = self._choose(scope, key)
            if route is not None:
                if "router" not in scope:
                    scope["router"] = self
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = dict(scope.get("path_params", {}))
                await route.handle(scope, receive, send)
                return
        await super().app(scope, receive, send)

    def _choose(self, scope: Scope, key: tuple[str, str]) -> Route | None:
        """The route Starlette's loop hands the request to, when it is one to remember."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                if isinstance(route, Route) and not route.param_convertors:
                    self._chosen[key] = route
                    return route
                return None
        return None
