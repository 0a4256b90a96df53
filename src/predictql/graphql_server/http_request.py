"""Reading one GraphQL-over-HTTP request, before anything runs (the GraphQL over HTTP spec).

Every check a request must pass lives here, so the anonymous response cache, persisted queries
and execution all see the same validated request. A request that fails is a ``RequestError``:
the view answers it GraphQL-shaped (``{"errors": [...]}``, no ``data``) with a 4xx status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from strawberry.types.graphql import OperationType

from predictql.jsonutil import loads

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
ALLOWED_METHODS = ("GET", "POST")
# Variables and extensions deeper than this are refused: no input type of ours nests so far, and
# deeper values would reach recursive code (coercion, hashing, encoding) for nothing.
MAX_NESTING = 32


class RequestError(Exception):
    """A request that cannot run: the status, a stable code and the real reason."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> RequestError:
    return RequestError(400, "BAD_REQUEST", message)


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    method: str
    query: str | None
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


def response_media_type(accept: str | None) -> str:
    """The media type to answer in: the client's preferred of the two, ``application/json`` by default.

    ``application/graphql-response+json`` changes how request errors are answered (4xx instead of
    200); a client that does not ask for it (or asks for nothing we serve) gets ``application/json``.
    """
    best, best_q = JSON, -1.0
    for part in (accept or "").split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        served = {GRAPHQL_RESPONSE: GRAPHQL_RESPONSE, JSON: JSON, "application/*": JSON, "*/*": JSON}.get(media)
        quality = _quality(params)
        if served is not None and quality > 0 and quality > best_q:
            best, best_q = served, quality
    return best


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


async def read_request(request: Request) -> GraphQLRequest:
    method = request.method
    if method not in ALLOWED_METHODS:
        raise RequestError(
            405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on /graphql", {"Allow": ", ".join(ALLOWED_METHODS)}
        )
    payload = _query_params(request) if method == "GET" else await _json_body(request)
    return _parameters(method, payload)


def _query_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    for name in ("variables", "extensions"):
        if params.get(name):
            params[name] = _decode(params[name].encode(), f"the `{name}` parameter")
        else:
            params.pop(name, None)
    return params


async def _json_body(request: Request) -> dict[str, Any]:
    media, _, params = request.headers.get("content-type", "").partition(";")
    if media.strip().lower() != JSON:
        raise RequestError(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
    charset = _param(params, "charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise RequestError(415, "UNSUPPORTED_MEDIA_TYPE", "the request body must be UTF-8 encoded")
    raw = await request.body()
    if not raw:
        raise bad_request("the request body is empty: send a JSON object with a `query`")
    payload = _decode(raw, "the request body")
    if isinstance(payload, list):
        raise bad_request("batched requests are not supported: send one operation per request")
    if not isinstance(payload, dict):
        raise bad_request("the request body must be a JSON object")
    return payload


def _param(params: str, wanted: str) -> str | None:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == wanted:
            return value.strip().strip('"')
    return None


def _decode(raw: bytes, what: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request(f"{what} is not valid UTF-8") from None
    try:
        return loads(text)
    except ValueError as exc:
        raise bad_request(f"{what} is not valid JSON: {exc}") from None


def _parameters(method: str, payload: dict[str, Any]) -> GraphQLRequest:
    query = payload.get("query")
    if query is not None and not isinstance(query, str):
        raise bad_request("`query` must be a string")
    name = payload.get("operationName")
    if name is not None and not isinstance(name, str):
        raise bad_request("`operationName` must be a string or null")
    return GraphQLRequest(
        method=method,
        query=query,
        operation_name=name or None,  # "" is what some clients send for "no name"
        variables=_object(payload, "variables"),
        extensions=_object(payload, "extensions"),
    )


def _object(payload: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f"`{name}` must be a JSON object or null")
    if _depth(value) > MAX_NESTING:
        raise bad_request(f"`{name}` is nested deeper than {MAX_NESTING} levels")
    return value


def _depth(value: object) -> int:
    """Nesting depth of a decoded JSON value, without recursion (the value may be very deep)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_NESTING:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


ALLOWED_OVER = {
    "GET": frozenset({OperationType.QUERY}),  # a GET must not change anything
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}


def not_over(method: str, operation_type: OperationType) -> RequestError:
    """The error for an operation this method does not carry."""
    if operation_type is OperationType.SUBSCRIPTION:
        return RequestError(
            400,
            "OPERATION_NOT_SUPPORTED",
            "subscriptions are not served over HTTP: open a WebSocket to /graphql (graphql-transport-ws or graphql-ws)",
        )
    return RequestError(405, "METHOD_NOT_ALLOWED", f"{operation_type.value}s need POST", {"Allow": "POST"})
