"""``dispatch.App`` answers every error case as Starlette's own two layers do, with one layer; a
WebSocket of a literal route is handed to its endpoint from that layer, as Starlette would hand it."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException, WebSocketException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from predictql.app import exception_handlers
from predictql.dispatch import App, Dispatch, _Errors


class Boom(Exception):
    pass


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def not_found(request: Request) -> Response:
    raise HTTPException(404)


async def teapot(request: Request) -> Response:
    raise HTTPException(418, "short and stout")  # no handler of its status: the HTTPException one


async def boom(request: Request) -> Response:
    raise Boom("before the answer")


class Late:
    """An ASGI app (not a function: Starlette would call it with a request) failing mid-answer."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise self.error


async def custom(request: Request) -> Response:
    raise KeyError("k")  # a handler of its own class


async def key_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"key": str(exc)}, 409)


ROUTES = [
    Route("/ok", ok),
    Route("/not-found", not_found),
    Route("/teapot", teapot),
    Route("/boom", boom),
    Route("/late", Late(Boom("after the answer started"))),
    # Handled, but too late: a RuntimeError, then the 500 handler (whose answer is not sent).
    Route("/late-http", Late(HTTPException(404))),
    Route("/custom", custom),
    Route("/only-get", ok, methods=["GET"]),
]


def _apps() -> tuple[Starlette, Starlette]:
    handlers = {**exception_handlers(), KeyError: key_error}
    ours = App(exception_handlers=handlers)
    ours.router = Dispatch(ROUTES, redirect_slashes=False)
    theirs = Starlette(routes=ROUTES, exception_handlers=handlers)
    theirs.router.redirect_slashes = False
    return ours, theirs


async def _answer(app: Starlette, method: str, path: str) -> tuple[list[Message], str | None]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "scheme": "http",
        "server": ("test", 80),
        "state": {},
    }
    try:
        await app(scope, receive, send)
    except Exception as exc:
        return sent, f"{type(exc).__name__}: {exc}"
    return sent, None


async def test_the_one_layer_is_used() -> None:
    ours, _ = _apps()
    assert isinstance(ours.build_middleware_stack(), _Errors)


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/ok"),
        ("GET", "/not-found"),
        ("GET", "/teapot"),
        ("GET", "/boom"),
        ("GET", "/late"),
        ("GET", "/late-http"),
        ("GET", "/custom"),
        ("POST", "/only-get"),
        ("GET", "/nowhere"),
        ("GET", "/nowhere/"),
    ],
)
async def test_the_same_answer_and_exception_as_starlette(method: str, path: str) -> None:
    ours, theirs = _apps()
    assert await _answer(ours, method, path) == await _answer(theirs, method, path)


# -- WebSockets: a literal WebSocketRoute's ASGI endpoint is called from the one layer ----------------


class Socket:
    """An ASGI WebSocket endpoint (called as is by its route) recording the scope it is given and
    the Starlette layers it is called through; accepts, then raises ``error`` if any."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.seen: list[tuple[dict[str, Any], list[str]]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        layers, frame = [], sys._getframe(1)
        while frame is not None:
            if "starlette" in frame.f_code.co_filename:
                layers.append(frame.f_code.co_qualname)
            frame = frame.f_back
        kept = {k: v for k, v in scope.items() if k not in ("app", "router")}
        self.seen.append((kept, layers))
        await send({"type": "websocket.accept"})
        if self.error is not None:
            raise self.error


SOCKETS = {
    "/ws": Socket(),
    "/ws-not-found": Socket(HTTPException(404)),  # our 404 handler's envelope, sent as a denial response
    "/ws-closed": Socket(WebSocketException(4001, "no")),  # Starlette's default handler: a close
    "/ws-boom": Socket(Boom("on a socket")),  # no handler: raised (to the gateway)
    "/ws-custom": Socket(KeyError("k")),
}


def _socket_apps() -> tuple[Starlette, Starlette]:
    handlers = {**exception_handlers(), KeyError: key_error}
    routes = [Route("/ws", ok), Mount("/api", routes=[WebSocketRoute("/ws", Socket())])]
    routes += [WebSocketRoute(path, endpoint) for path, endpoint in SOCKETS.items()]
    routes.append(WebSocketRoute("/fn", _socket_function))  # a function: Starlette's websocket_session
    ours = App(exception_handlers=handlers)
    ours.router = Dispatch(routes, redirect_slashes=False)
    theirs = Starlette(routes=routes, exception_handlers=handlers)
    theirs.router.redirect_slashes = False
    return ours, theirs


async def _socket_function(websocket: WebSocket) -> None:
    await websocket.close(4002)


async def _session(app: Starlette, path: str) -> tuple[list[Message], str | None, dict[str, Any]]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "websocket",
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "scheme": "ws",
        "server": ("test", 80),
        "subprotocols": [],
        "state": {},
    }
    error = None
    try:
        await app(scope, receive, send)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    return sent, error, scope


@pytest.mark.parametrize("path", [*SOCKETS, "/fn", "/api/ws", "/nowhere"])
async def test_a_socket_gets_the_same_scope_messages_and_exception_as_from_starlette(path: str) -> None:
    ours, theirs = _socket_apps()
    endpoint = SOCKETS.get(path)
    for _ in range(2):  # the second from what the router remembered
        mine, theirs_ = await _session(ours, path), await _session(theirs, path)
        assert mine[:2] == theirs_[:2]
        assert mine[2]["app"] is ours and mine[2]["router"] is ours.router
    if endpoint is not None:
        (ours_scope, ours_layers), (their_scope, their_layers) = endpoint.seen[-2], endpoint.seen[-1]
        assert _comparable(ours_scope) == _comparable(their_scope)
        assert ours_scope["endpoint"] is their_scope["endpoint"] is endpoint
        # Called from the one layer: none of Starlette's middleware, router or route frames.
        assert ours_layers == ["Starlette.__call__"], ours_layers
        assert "ExceptionMiddleware.__call__" in their_layers


def _comparable(scope: dict[str, Any]) -> dict[str, Any]:
    """The scope with its exception handlers' bound methods (of two ExceptionMiddleware
    instances, ours and Starlette's) as their functions."""
    exceptions, statuses = scope["starlette.exception_handlers"]
    handlers = tuple({k: getattr(v, "__func__", v) for k, v in table.items()} for table in (exceptions, statuses))
    return {**scope, "starlette.exception_handlers": handlers}
