"""How the app hands an HTTP request to its route: Starlette's, with less work per request.

``Dispatch``: Starlette's ``Router`` with the route of a literal path found by a dict lookup.

Starlette tries each route's regular expression in order on every request (``Router.app``): the
REST mount has a hundred routes, and a request for ``/api/v1/lmsr/trade`` ran a few dozen of them.
Which route fully matches an HTTP request depends only on its method and route path (Route,
WebSocketRoute and Mount match on nothing else; no Host route is used here). When that route is a
``Route`` without path parameters, the path is one of that route's literal paths, a bounded set:
the outcome is remembered per (method, path) on first use and handed the same scope Starlette's
loop gives it. Every other request (paths with parameters, 404s, 405s, sockets, the lifespan) goes
through Starlette's own loop. A WebSocket whose route is a literal-path ``WebSocketRoute`` with its
ASGI endpoint as handler (``/graphql``) is found the same way (``socket_route``) for ``App``.

``App``: Starlette, with its two layers around the router (``ServerErrorMiddleware`` and
``ExceptionMiddleware``, each wrapping ``send`` and, for the latter, building a ``Request`` per
request) done as one for HTTP: the same handlers called in the same cases, with one ``send``
wrapper; such a WebSocket's endpoint is called from that layer too, with the scope and the exception
handlers Starlette's layers give it, and no suspended coroutine of theirs for the socket's life (an
idle subscriber's memory, issue 14 point 3). Other WebSockets and the lifespan go through
Starlette's own layers.
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
from starlette.routing import BaseRoute, Host, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket


class Dispatch(Router):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if any(isinstance(route, Host) for route in self.routes):  # matches on a header too
            raise ValueError("Dispatch cannot remember routes that match on the Host header")
        # The paths a parameterless Route can match: only these are worth looking up.
        self._literal = {route.path for route in self.routes if isinstance(route, Route) and not route.param_convertors}
        self._chosen: dict[tuple[str, str], Route] = {}
        self._sockets = {r.path for r in self.routes if isinstance(r, WebSocketRoute) and _direct_socket(r)}
        self._socket_routes: dict[str, WebSocketRoute | None] = {}
        self._mounted = self._mounted_literals()

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = get_route_path(scope)
            if path in self._literal:
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
            elif (mount := self._mounted.get(path)) is not None:
                # What Starlette's loop and ``Mount.handle`` do for it, without the loop's regular
                # expressions and the mounted router's ``__call__`` (the REST API's literal routes).
                _, child = mount.matches(scope)
                if "router" not in scope:
                    scope["router"] = self
                scope["route"] = mount
                scope.update(child)
                await cast(Dispatch, mount.app).app(scope, receive, send)
                return
        await super().app(scope, receive, send)

    def _mounted_literals(self) -> dict[str, Mount]:
        """The literal paths of each mounted ``Dispatch`` (without middleware of its own), by their path
        here, when Starlette's loop hands every request for that path to the mount: no route before it
        matches the path (which route matches an HTTP request at all depends on its path only)."""
        found: dict[str, Mount] = {}
        for mount in self.routes:
            if not isinstance(mount, Mount):
                continue
            inner = mount.app
            if not isinstance(inner, Dispatch) or inner.middleware_stack != inner.app:
                continue
            for literal in inner._literal:
                path = mount.path + literal
                scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}
                first = next((r for r in self.routes if r.matches(scope)[0] is not Match.NONE), None)
                if first is mount and path not in self._literal:
                    found[path] = mount
        return found

    def socket_route(self, scope: Scope) -> WebSocketRoute | None:
        """The route of a WebSocket when Starlette's loop would hand it to a literal-path
        ``WebSocketRoute`` that calls its endpoint as is (no ``websocket_session``, no middleware):
        the caller may then call that endpoint itself, with the scope as ``prepare_socket`` sets it."""
        path = get_route_path(scope)
        if path not in self._sockets or self.middleware_stack != self.app:
            return None
        if path in self._socket_routes:
            return self._socket_routes[path]
        chosen = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                chosen = route if isinstance(route, WebSocketRoute) and _direct_socket(route) else None
                break
            if match is Match.PARTIAL:
                break
        self._socket_routes[path] = chosen
        return chosen

    def prepare_socket(self, scope: Scope, route: WebSocketRoute) -> None:
        """The scope as ``Router.app`` and ``WebSocketRoute.matches`` leave it for ``route``."""
        if "router" not in scope:
            scope["router"] = self
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(scope.get("path_params", {}))

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


def _direct_socket(route: BaseRoute) -> bool:
    """A ``WebSocketRoute`` of a literal path whose handler is its ASGI endpoint itself."""
    return isinstance(route, WebSocketRoute) and not route.param_convertors and route.app is route.endpoint


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
        self.sockets: Dispatch | None = handling.app if isinstance(handling.app, Dispatch) else None
        self.server_error: Any = errors.handler
        self.handlers = (handling._exception_handlers, handling._status_handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            sockets = self.sockets
            route = sockets.socket_route(scope) if sockets is not None and scope["type"] == "websocket" else None
            if sockets is None or route is None:
                await self.stack(scope, receive, send)
                return
            # A WebSocket of a literal route (/graphql): its endpoint called from here, not through
            # ServerErrorMiddleware (which passes sockets through), ExceptionMiddleware, the router
            # twice and the route: seven suspended coroutines, a Starlette WebSocket and three
            # closures less for each idle subscriber (~4 KB). The same scope, and an exception meets
            # the same handlers as ExceptionMiddleware would have given it.
            scope["starlette.exception_handlers"] = self.handlers
            sockets.prepare_socket(scope, route)
            try:
                await route.endpoint(scope, receive, send)
            except Exception as exc:
                exceptions, statuses = self.handlers
                handler = statuses.get(exc.status_code) if isinstance(exc, HTTPException) else None
                if handler is None:
                    handler = _lookup_exception_handler(exceptions, exc)
                if handler is None:
                    raise
                response = await cast(Any, handler)(WebSocket(scope, receive, send), exc)
                if response is not None:  # e.g. a denial response (ASGI's websocket.http.response)
                    await response(scope, receive, send)
                exc.__traceback__ = None
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
