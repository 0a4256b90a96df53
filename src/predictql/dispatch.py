"""How the app hands an HTTP request to its route: Starlette's, with less work per request.

``Dispatch``: Starlette's ``Router`` with the route of a literal path found by a dict lookup.

Starlette tries each route's regular expression in order on every request (``Router.app``): the
REST mount has a hundred routes, and a request for ``/api/v1/lmsr/trade`` ran a few dozen of them.
Which route fully matches an HTTP request depends only on its method and route path (Route,
WebSocketRoute and Mount match on nothing else; no Host route is used here). When that route is a
``Route`` without path parameters, the path is one of that route's literal paths, a bounded set:
the outcome is remembered per (method, path) on first use and handed the same scope Starlette's
loop gives it. Every other request (paths with parameters, 404s, 405s, sockets, the lifespan) goes
through Starlette's own loop.

``App``: Starlette, with its two layers around the router (``ServerErrorMiddleware`` and
``ExceptionMiddleware``, each wrapping ``send`` and, for the latter, building a ``Request`` per
request) done as one for HTTP: the same handlers called in the same cases, with one ``send``
wrapper. WebSockets and the lifespan go through Starlette's own layers.
"""

from __future__ import annotations

from typing import Any, cast

from starlette._exception_handler import _lookup_exception_handler
from starlette._utils import get_route_path, is_async_callable
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.routing import Host, Match, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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


class App(Starlette):
    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        errors, handling = stack, getattr(stack, "app", None)
        if not (
            isinstance(errors, ServerErrorMiddleware)
            and isinstance(handling, ExceptionMiddleware)
            and handling.app is self.router  # no middleware of the app's own in between
            and not self.debug
            and errors.handler is not None
            and all(is_async_callable(h) for h in (errors.handler, *self.exception_handlers.values()))
        ):
            return stack
        return _Errors(stack, errors, handling)


class _Errors:
    """``ServerErrorMiddleware(ExceptionMiddleware(router))`` for HTTP, as one layer."""

    def __init__(self, stack: ASGIApp, errors: ServerErrorMiddleware, handling: ExceptionMiddleware) -> None:
        self.stack = stack
        self.router = handling.app
        self.server_error: Any = errors.handler
        self.handlers = (handling._exception_handlers, handling._status_handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.stack(scope, receive, send)
            return
        scope["starlette.exception_handlers"] = self.handlers
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            try:
                await self.router(scope, receive, sender)
            except Exception as exc:  # ExceptionMiddleware's part (wrap_app_handling_exceptions)
                exceptions, statuses = self.handlers
                handler = statuses.get(exc.status_code) if isinstance(exc, HTTPException) else None
                if handler is None:
                    handler = _lookup_exception_handler(exceptions, exc)
                if handler is None:
                    raise exc
                if started:
                    raise RuntimeError("Caught handled exception, but response already started.") from exc
                response = await cast(Any, handler)(Request(scope, receive, send), exc)
                if response is not None:
                    await response(scope, receive, sender)
                exc.__traceback__ = None  # reused exception instances accumulate tracebacks
        except Exception as exc:  # ServerErrorMiddleware's part: the 500 handler, then re-raised
            response = await self.server_error(Request(scope), exc)
            if not started:
                await response(scope, receive, send)
            raise exc
