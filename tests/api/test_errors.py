"""The error envelope everywhere (DECISIONS rule 8), body limits, 500 masking and request ids."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from predictql import logs
from predictql.app import exception_handlers
from predictql.db import Database
from predictql.gateway import Gateway
from predictql.ratelimit import RateLimiter
from tests.api.test_users import fast_user
from tests.conftest import JWT_SECRET
from tests.support import bearer

MB = 1024 * 1024
SECRET = "db password is hunter2"  # must never reach a client


def envelope_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return str(body["error"]["code"])


def graphql_code(response: httpx.Response, status: int) -> str:
    """A /graphql error: GraphQL-shaped (``errors``, no ``data``) whatever layer answered it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"errors"} and body["errors"][0]["message"], body
    return str(body["errors"][0]["extensions"]["code"])


def error_code(response: httpx.Response, status: int) -> str:
    if response.request.url.path == "/graphql":
        return graphql_code(response, status)
    return envelope_code(response, status)


async def chunks(total: int, size: int = 64 * 1024, head: bytes = b"") -> AsyncIterator[bytes]:
    """A streamed body: httpx sends it without Content-Length."""
    yield head
    sent = len(head)
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


# --- routing errors ------------------------------------------------------------------------------


async def test_unknown_routes_answer_the_json_envelope(client: httpx.AsyncClient) -> None:
    html = {"Accept": "text/html"}
    for method, path in (
        ("GET", "/api/v1/nope"),
        ("POST", "/api/v1/nope"),
        ("GET", "/nope"),
        ("DELETE", "/api/v1/users/1/nope"),
        ("GET", "/media/avatars/missing.png"),
    ):
        response = await client.request(method, path, headers=html, json={} if method == "POST" else None)
        assert envelope_code(response, 404) == "NOT_FOUND", (method, path)
        assert "x-request-id" in response.headers and "x-ratelimit-limit" in response.headers


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    for method, path in (("DELETE", "/api/v1/health"), ("PUT", "/api/v1/users/5")):
        response = await client.request(method, path)
        assert envelope_code(response, 405) == "METHOD_NOT_ALLOWED", (method, path)
        assert response.headers.get("allow"), response.headers


# --- request bodies ------------------------------------------------------------------------------


async def test_malformed_and_non_object_json(client: httpx.AsyncClient) -> None:
    json_type = {"Content-Type": "application/json"}
    for raw in (b"{", b'{"email": }', b"\xff\xfe", b""):
        response = await client.post("/api/v1/auth/sign-in", content=raw, headers=json_type)
        assert envelope_code(response, 400) == "INVALID_REQUEST", raw
    for value in ([], ["a"], "text", 3, None):
        response = await client.post("/api/v1/auth/sign-in", content=orjson.dumps(value), headers=json_type)
        assert envelope_code(response, 400) == "INVALID_REQUEST", value


async def test_wrong_content_type_is_415(client: httpx.AsyncClient, db: Database) -> None:
    form = await client.post("/api/v1/auth/sign-in", data={"email": "a@example.com", "password": "x"})
    assert envelope_code(form, 415) == "UNSUPPORTED_MEDIA_TYPE"
    text = await client.post("/api/v1/auth/sign-in", content=b"{}", headers={"Content-Type": "text/plain"})
    assert envelope_code(text, 415) == "UNSUPPORTED_MEDIA_TYPE"
    _, token = await fast_user(db)
    users_page = await client.put(
        "/api/v1/users/me", content=b'{"theme": "dark"}', headers={**bearer(token), "Content-Type": "text/plain"}
    )
    assert envelope_code(users_page, 415) == "UNSUPPORTED_MEDIA_TYPE"
    with_charset = await client.put(
        "/api/v1/users/me",
        content=b'{"theme": "dark"}',
        headers={**bearer(token), "Content-Type": "application/json; charset=utf-8"},
    )
    assert with_charset.status_code == 200, with_charset.text


async def test_body_over_1mb_with_content_length(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/auth/sign-in", "/graphql", "/api/v1/nope"):
        response = await client.post(path, content=b" " * (MB + 1), headers={"Content-Type": "application/json"})
        assert error_code(response, 413) == "PAYLOAD_TOO_LARGE", path
        assert "x-ratelimit-remaining" in response.headers
    # Exactly 1 MB is allowed through to the route (which then refuses the non-object body).
    at_limit = b"[]" + b" " * (MB - 2)
    response = await client.post("/api/v1/auth/sign-in", content=at_limit, headers={"Content-Type": "application/json"})
    assert envelope_code(response, 400) == "INVALID_REQUEST"


async def test_streamed_body_over_1mb_without_content_length(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db)
    targets: list[tuple[str, str, dict[str, str]]] = [
        ("POST", "/api/v1/auth/sign-in", {"Content-Type": "application/json"}),
        ("PUT", "/api/v1/users/me", {**bearer(token), "Content-Type": "application/json"}),
        ("POST", "/graphql", {"Content-Type": "application/json"}),
        ("POST", "/api/v1/users/me/avatar", {**bearer(token), "Content-Type": "multipart/form-data; boundary=b"}),
    ]
    part = b'--b\r\nContent-Disposition: form-data; name="avatar"; filename="a.png"\r\n\r\n\x89PNG\r\n\x1a\n'
    for method, path, headers in targets:
        head = part if "avatar" in path else b""
        response = await client.request(method, path, content=chunks(MB + 10, head=head), headers=headers)
        assert "content-length" not in response.request.headers
        assert error_code(response, 413) == "PAYLOAD_TOO_LARGE", path
    # A streamed body under the limit is read normally.
    small = await client.post("/api/v1/auth/sign-in", content=chunks(1000), headers=targets[0][2])
    assert envelope_code(small, 400) == "INVALID_REQUEST"


# --- GraphQL -------------------------------------------------------------------------------------


async def test_graphql_errors_carry_a_code(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/graphql", json={"query": "{ nope }"})
    assert unknown.status_code == 200
    error = unknown.json()["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "nope" in error["message"]

    domain = await client.post("/graphql", json={"query": '{ user(id: "abc") { id } }'})
    assert domain.status_code == 200
    assert domain.json()["errors"][0]["extensions"]["code"] == "INVALID_ID"

    missing = await client.post("/graphql", json={"query": '{ user(id: "usr_987654321") { id } }'})
    assert missing.json() == {"data": {"user": None}}  # a lookup by id is nullable: no such user is null


async def test_graphql_transport_errors_are_4xx_json(client: httpx.AsyncClient) -> None:
    cases = (
        (b"{bad", "application/json", 400, "BAD_REQUEST"),
        (b"[1]", "application/json", 400, "BAD_REQUEST"),
        (b"q", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
    )
    for raw, content_type, status, code in cases:
        response = await client.post("/graphql", content=raw, headers={"Content-Type": content_type})
        assert graphql_code(response, status) == code, raw


# --- unexpected exceptions -----------------------------------------------------------------------


class Capture(logging.Handler):
    """Keeps each record with the request id in force when it was logged, and both formats."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[logging.LogRecord, str | None, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        plain = logs.PlainFormatter("%(levelname)s %(name)s %(message)s").format(record)
        self.seen.append((record, logs.request_id.get(), plain, logs.JsonFormatter().format(record)))


@pytest.fixture
def error_logs() -> Iterator[Capture]:
    capture = Capture()
    logger = logging.getLogger("predictql.errors")
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)


async def _boom(request: Request) -> Response:
    raise RuntimeError(SECRET)


async def _echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


def gateway(app: Any) -> Gateway:
    return Gateway(app, limiter=RateLimiter(1000), secret_key=JWT_SECRET, max_body=MB)


def starlette_app() -> Gateway:
    """A tiny app built like the real one: Starlette with the app's exception handlers, in a Gateway."""
    routes = [Route("/boom", _boom, methods=["GET", "POST"]), Route("/echo", _echo, methods=["POST"])]
    return gateway(Starlette(routes=routes, exception_handlers=exception_handlers()))


def http_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.9.0.1", 1)), base_url="http://t")


def assert_masked(response: httpx.Response, capture: Capture) -> str:
    assert envelope_code(response, 500) == "INTERNAL_ERROR"
    rid = response.headers["x-request-id"]
    message = response.json()["error"]["message"]
    assert rid in message
    assert SECRET not in response.text and "Traceback" not in response.text and "RuntimeError" not in response.text
    errors = [entry for entry in capture.seen if entry[0].levelno >= logging.ERROR]
    assert len(errors) == 1, capture.seen
    record, logged_rid, plain, as_json = errors[0]
    assert logged_rid == rid and rid in plain
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    entry = orjson.loads(as_json)
    assert entry["request_id"] == rid and SECRET in entry["exception"]
    return rid


async def test_exception_in_a_starlette_route_is_masked_and_logged(error_logs: Capture) -> None:
    async with http_client(starlette_app()) as http:
        response = await http.get("/boom")
        assert_masked(response, error_logs)
        assert "x-ratelimit-limit" in response.headers

        error_logs.seen.clear()
        given = await http.post("/boom", headers={"X-Request-Id": "trace-42.a:b_c"}, json={})
        assert assert_masked(given, error_logs) == "trace-42.a:b_c"

        error_logs.seen.clear()
        fine = await http.post("/echo", content=b"hello")
        assert fine.status_code == 200 and fine.content == b"hello"
        assert not error_logs.seen


async def test_exception_in_a_bare_asgi_app_is_masked_and_logged(error_logs: Capture) -> None:
    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError(SECRET)

    async with http_client(gateway(bare)) as http:
        assert_masked(await http.get("/anything"), error_logs)


async def test_streamed_body_limit_in_a_wrapped_app(error_logs: Capture) -> None:
    async with http_client(starlette_app()) as http:
        response = await http.post("/echo", content=chunks(MB + 1))
        assert envelope_code(response, 413) == "PAYLOAD_TOO_LARGE"
        fits = await http.post("/echo", content=chunks(MB))
        assert fits.status_code == 200 and len(fits.content) == MB
    assert not [entry for entry in error_logs.seen if entry[0].levelno >= logging.ERROR]


# --- request ids ---------------------------------------------------------------------------------


async def test_request_id_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/api/v1/health", headers={"X-Request-Id": "abc-123_x.y:z"})
    assert given.headers["x-request-id"] == "abc-123_x.y:z"

    generated = set()
    for headers in (
        {},
        {"X-Request-Id": "x" * 129},
        {"X-Request-Id": "a b"},
        {"X-Request-Id": "<script>"},
        {"X-Request-Id": ""},
    ):
        response = await client.get("/api/v1/nope", headers=headers)
        rid = response.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid), (headers, rid)
        generated.add(rid)
    assert len(generated) == 5  # a fresh id each time

    longest = "y" * 128
    assert (await client.get("/api/v1/health", headers={"X-Request-Id": longest})).headers["x-request-id"] == longest


async def test_request_id_with_a_trailing_newline_is_replaced() -> None:
    """Raw ASGI: a value such as ``abc\\n`` must not be echoed (it would split a header line)."""
    sent: list[Message] = []

    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"x-request-id", b"abc\n")],
        "client": ("10.9.0.2", 1),
    }
    await gateway(ok)(scope, receive, send)
    headers = dict(sent[0]["headers"])
    assert re.fullmatch(rb"[0-9a-f]{32}", headers[b"x-request-id"]), headers
