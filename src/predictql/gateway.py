"""The outermost ASGI layer, shared by REST and GraphQL.

Plain ASGI (no BaseHTTPMiddleware) so it adds no task per request. It gives every request an id
(honoured from ``X-Request-Id``, else the trace id when traced, else generated; echoed back, put in
every log line), enforces the
body limit and the rate limits, adds the ``X-RateLimit-*`` headers, writes the access log, and turns
any unexpected exception into a masked 500 envelope logged with the request id.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from predictql import after_response, auth, logs, metrics
from predictql.clientip import ClientAddress
from predictql.drain import Drain, refuse_going_away
from predictql.errors import PayloadTooLarge
from predictql.jsonutil import dumps
from predictql.ratelimit import RateLimiter, Verdict
from predictql.subscriptions.streams import SocketGate, refuse
from predictql.ws_guard import Bucket, Metered, offer_send_now, offered_send_now, refuse_rate_limited

HEALTH_PATH = "/api/v1/health"
GRAPHQL_PATH = "/graphql"
CLIENT_CLOSED = 499  # access-log status of a request whose client went away (nginx's convention)
log = logging.getLogger("predictql.access")
error_log = logging.getLogger("predictql.errors")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # used with fullmatch: no "$" before a newline


class BodyTooLarge(PayloadTooLarge):
    """Raised from ``receive`` when a streamed body passes the limit; REST maps it to 413."""

    def __init__(self) -> None:
        super().__init__("request body larger than 1 MB")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _token(scope: Scope) -> str | None:
    header = _header(scope, b"authorization") or ""
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    cookie = _header(scope, b"cookie") or ""
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "access_token":
            return value
    return None


_RANDOM = bytearray()  # os.urandom read 4 KB at a time: one system call per 256 request ids


def new_request_id() -> str:
    """``uuid.uuid4().hex`` (random, version 4, RFC 4122 variant) without building a UUID object."""
    if len(_RANDOM) < 16:
        _RANDOM.extend(os.urandom(4096))
    raw = _RANDOM[-16:]
    del _RANDOM[-16:]
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


def error_body(path: str, code: str, message: str) -> bytes:
    """The REST envelope, or on /graphql the shape every GraphQL client reads (``errors``, no ``data``)."""
    if path == GRAPHQL_PATH:
        return dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    return dumps({"error": {"code": code, "message": message}})


async def _send_error(
    send: Send, scope: Scope, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = error_body(scope["path"], code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def budget_keys(client_ip: str, token: str | None, secret_key: str) -> list[str]:
    """The rate-limit budgets a request spends: its client IP's, and its user's or API token's."""
    keys = [f"ip:{client_ip}"]
    if token:
        if token.startswith(auth.API_TOKEN_PREFIX):
            keys.append(f"tok:{auth.sha256(token)[:24]}")
        elif (user_id := auth.peek_user_id(secret_key, token)) is not None:
            keys.append(f"user:{user_id}")
    return keys


class Gateway:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        secret_key: str,
        max_body: int,
        clients: ClientAddress | None = None,
        ws_rate: tuple[float, int] = (20.0, 100),
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.secret_key = secret_key
        self.max_body = max_body
        self.clients = clients or ClientAddress(())
        self.ws_rate = ws_rate  # (messages per second, burst) per socket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        if given and _REQUEST_ID.fullmatch(given):
            rid = given
        else:  # traced (predictql.tracing): the trace id, so the id a client sees finds the trace
            ids = logs.trace_ids()
            rid = ids[0] if ids is not None else new_request_id()
        token = logs.request_id.set(rid)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["limiter"] = self.limiter  # GraphQL operations over a socket spend the same budgets
        self.clients.apply(scope)
        try:
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, send)
            else:
                deferred = after_response.begin()
                try:
                    await self._http(scope, receive, send, rid)
                finally:
                    after_response.finish(deferred)
        finally:
            logs.request_id.reset(token)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every WebSocket (GraphQL and the legacy feeds) counts against the process's cap, spends
        one request of its client's budgets, and has its message rate bounded (see ws_guard)."""
        verdict = await self.limiter.hit(*self._keys(scope))
        if not verdict.allowed:
            await refuse_rate_limited(scope, receive, send, verdict.retry_after)
            return
        drain: Drain | None = scope["state"].get("drain")
        if drain is not None and drain.draining:  # shutting down: reconnect to another process
            await refuse_going_away(scope, receive, send)
            return
        gate: SocketGate | None = scope["state"].get("sockets")
        if gate is not None and not gate.enter():
            await refuse(scope, receive, send)
            return
        now = offered_send_now(scope)  # the server's pre-built frame writer (ws_protocol), if any
        try:
            if drain is None:
                socket = Metered(receive, send, Bucket(*self.ws_rate), now)
                offer_send_now(scope, socket)
                await self.app(scope, socket.receive, socket.send)
            else:
                drained = drain.open(receive, send, now)
                try:
                    socket = Metered(drained.receive, drained.send, Bucket(*self.ws_rate), drained.send_now)
                    offer_send_now(scope, socket)
                    await self.app(scope, socket.receive, socket.send)
                finally:
                    drain.close(drained)
        finally:
            if gate is not None:
                gate.leave()

    def _keys(self, scope: Scope) -> list[str]:
        client = scope.get("client")
        return budget_keys(client[0] if client else "unknown", _token(scope), self.secret_key)

    async def _http(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500, "started": False, "too_large": False, "disconnected": False}
        # nosniff on every response: a browser renders each body only as its declared type.
        extra: list[tuple[bytes, bytes]] = [(b"x-request-id", rid.encode()), (b"x-content-type-options", b"nosniff")]
        try:
            verdict: Verdict = await self.limiter.hit(*self._keys(scope))
            extra.extend(verdict.headers())
            # Health checks are counted (their headers stay honest) but never refused: the
            # documented /health never answers with an error body.
            if not verdict.allowed and scope["path"] != HEALTH_PATH:
                # Refused: over budget (429), or the limiter's store is down and it fails closed (503).
                status, code, why = (
                    (503, "SERVICE_UNAVAILABLE", "rate limiter unavailable")
                    if verdict.unavailable
                    else (429, "RATE_LIMITED", "too many requests")
                )
                status_holder["status"] = status
                retry = [(b"retry-after", str(verdict.retry_after).encode())]
                await _send_error(send, scope, status, code, why, extra + retry)
                return
            length = _header(scope, b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                status_holder["status"] = 413
                await _send_error(send, scope, 413, "PAYLOAD_TOO_LARGE", "request body larger than 1 MB", extra)
                return
            decorated = self._decorated(send, scope, extra, status_holder)
            await self.app(scope, self._limited(receive, status_holder), decorated)
        except Exception:
            if status_holder["disconnected"]:  # ClientDisconnect, as raised or as wrapped by the app
                status_holder["status"] = CLIENT_CLOSED
                log.info("client disconnected before its request body was complete")
                return
            if status_holder["too_large"]:  # BodyTooLarge, as raised or as wrapped by the app
                if not status_holder["started"]:
                    status_holder["status"] = 413
                    await _send_error(send, scope, 413, "PAYLOAD_TOO_LARGE", "request body larger than 1 MB", extra)
                return
            error_log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not status_holder["started"]:
                status_holder["status"] = 500
                await _send_error(send, scope, 500, "INTERNAL_ERROR", f"internal error (request id {rid})", extra)
        finally:
            metrics.observe_http(scope, status_holder["status"], time.perf_counter() - started)
            if log.isEnabledFor(logging.INFO):  # production logs at WARNING: no record, no ``extra`` built
                log.info(
                    "%s %s %s",
                    scope.get("method"),
                    scope.get("path"),
                    status_holder["status"],
                    extra={
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status_holder["status"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "client": (scope.get("client") or ("-",))[0],
                    },
                )

    def _limited(self, receive: Receive, holder: dict[str, Any]) -> Receive:
        seen = 0
        limit = self.max_body

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.disconnect":
                holder["disconnected"] = True
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    holder["too_large"] = True
                    raise BodyTooLarge
            return message

        return wrapped

    def _decorated(self, send: Send, scope: Scope, extra: list[tuple[bytes, bytes]], holder: dict[str, Any]) -> Send:
        async def wrapped(message: Message) -> None:
            if holder["too_large"]:
                # A streamed body (no Content-Length) passed the limit while the app was reading it.
                # Whatever the app answers now (a 500 from an error handler, a parser's 400) is a
                # consequence of the cut-off body: answer the one documented 413 instead.
                if message["type"] == "http.response.start" and not holder["started"]:
                    holder["started"] = True
                    holder["status"] = 413
                    await _send_error(send, scope, 413, "PAYLOAD_TOO_LARGE", "request body larger than 1 MB", extra)
                return
            if holder["disconnected"]:
                # The client left (mid-body, or while a response was pending): no one reads this. The
                # access log says 499, nginx's "client closed request", not the app's error answer.
                holder["status"] = CLIENT_CLOSED
                return
            if message["type"] == "http.response.start":
                holder["started"] = True
                holder["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return wrapped
