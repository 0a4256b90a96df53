"""``dispatch.App`` answers every error case as Starlette's own two layers do, with one layer."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

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
