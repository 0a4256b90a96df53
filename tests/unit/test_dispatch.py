"""``Dispatch`` hands every request to the route Starlette's ``Router`` hands it to, with the same scope;
the gateway's request ids are what ``uuid.uuid4().hex`` gives."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from predictql.dispatch import Dispatch
from predictql.gateway import new_request_id
from predictql.rest_compat.routes import all_routes

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _paths(routes: list[BaseRoute]) -> list[str]:
    literal = [route.path for route in routes if isinstance(route, Route)]
    # A literal path, a path with parameters, one routed nowhere, one of a parameter's literal look-alike.
    return [*literal, *(path.replace("{", "").replace("}", "") for path in literal), "/nowhere", "/markets/7"]


async def _handled(app: Router, scope: Scope, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    seen: list[tuple[Any, ...]] = []

    async def handle(self: BaseRoute, scope: Scope, receive: Receive, send: Send) -> None:
        if isinstance(self, Mount):
            await original_mount(self, scope, receive, send)
            return
        kept = {k: v for k, v in scope.items() if k not in ("router", "app")}
        seen.append((self, kept))

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(("default", {k: v for k, v in scope.items() if k not in ("router", "app")}))

    original_mount = Mount.handle
    monkeypatch.setattr(Route, "handle", handle)
    monkeypatch.setattr(Mount, "handle", handle)
    for router in (app, *(r.app for r in app.routes if isinstance(r, Mount) and isinstance(r.app, Router))):
        monkeypatch.setattr(router, "default", default)
    await app.app(dict(scope), _never, _never)  # twice: the second from what was remembered
    await app.app(dict(scope), _never, _never)
    monkeypatch.undo()
    assert len(seen) == 2 and seen[0] == seen[1]
    return seen[0]


async def _never(*_: Any) -> Any:
    raise AssertionError("not called")


async def test_every_rest_path_and_method_goes_where_starlette_sends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = all_routes()
    ours = Router([Route("/graphql", _never), Mount("/api/v1", app=Dispatch(routes, redirect_slashes=False))])
    starlettes = Router([Route("/graphql", _never), Mount("/api/v1", app=Router(routes, redirect_slashes=False))])
    top = Dispatch(
        [
            Route("/graphql", _never),
            Route("/metrics", _never, methods=["GET"]),
            Route("/metrics", _never, methods=["POST"]),  # a PARTIAL match first
            Mount("/api", app=Router([Route("/x/y", _never)])),
        ]
    )
    top_starlettes = Router(top.routes)
    compared = await _compare_api(ours, starlettes, routes, monkeypatch)
    for path in ("/graphql", "/metrics", "/api/x", "/api/x/y", "/other"):
        for method in METHODS:
            scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
            assert await _handled(top, scope, monkeypatch) == await _handled(top_starlettes, scope, monkeypatch)
    assert compared > 500


async def test_a_mounted_dispatchs_literal_paths_go_where_starlette_sends_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The top router finds a literal path of a mounted ``Dispatch`` by its full path (the REST API's):
    the same route and scope as Starlette's loop and ``Mount``, also when a route before the mount
    claims the path (here ``/api/v1/health``, for some methods) or a mount before it takes a prefix."""
    routes = all_routes()

    def app(inner: type[Router]) -> list[BaseRoute]:
        return [
            Route("/graphql", _never),
            Route("/api/v1/health", _never, methods=["POST"]),  # before the mount: it takes the path
            Mount("/api/v1/lmsr", app=inner([Route("/trade", _never)])),  # a mount before the mount
            Mount("/api/v1", app=inner(routes, redirect_slashes=False)),
        ]

    ours, starlettes = Dispatch(app(Dispatch)), Router(app(Router))
    assert "/api/v1/users/me" in ours._mounted and "/api/v1/health" not in ours._mounted
    assert ours._mounted["/api/v1/lmsr/trade"].path == "/api/v1/lmsr"  # the first mount's, not the API's
    compared = await _compare_api(ours, starlettes, routes, monkeypatch)
    assert compared > 500


def test_generated_request_ids_are_uuid4_hex() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for rid in ids:
        parsed = uuid.UUID(hex=rid)
        assert parsed.hex == rid and parsed.version == 4 and parsed.variant == uuid.RFC_4122


async def _compare_api(
    ours: Router, starlettes: Router, routes: list[BaseRoute], monkeypatch: pytest.MonkeyPatch
) -> int:
    """Each documented path under ``/api/v1`` in every method: the same route and scope from both
    routers; how many were compared."""
    compared = 0
    for path in _paths(routes):
        for method in METHODS:
            scope = {"type": "http", "method": method, "path": "/api/v1" + path, "root_path": "", "headers": []}
            assert await _handled(ours, scope, monkeypatch) == await _handled(starlettes, scope, monkeypatch)
            compared += 1
    return compared
