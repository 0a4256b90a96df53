"""GraphQL-over-HTTP responses: the body shape, the status and the media type.

- A *request error* (nothing executed: unreadable request, parse or validation failure, variables
  that do not coerce) has no ``data`` entry. It answers 400 in ``application/graphql-response+json``
  and 200 in ``application/json`` (the spec's rule for legacy clients); an unreadable HTTP request
  (bad JSON, wrong content type, wrong method) is 4xx in both.
- A result that executed keeps ``data`` (even ``null``) and answers 200.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from starlette.responses import Response
from strawberry.types import ExecutionResult

from predictql.graphql_server.http_request import GRAPHQL_RESPONSE, RequestError
from predictql.jsonutil import dumps


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def error_response(error: RequestError, media: str) -> Response:
    return Response(dumps(error_body(error.code, error.message)), error.status, error.headers, media_type=media)


def is_request_error(result: ExecutionResult) -> bool:
    """Nothing executed: no data, and no error belongs to a field (field errors carry a path)."""
    return result.data is None and bool(result.errors) and all(error.path is None for error in result.errors or ())


def result_response(result: ExecutionResult, media: str, sub_response: Response) -> Response:
    body: dict[str, Any] = {}
    status = 200
    if is_request_error(result):
        if media == GRAPHQL_RESPONSE:
            status = 500 if _internal(result.errors or []) else 400
    else:
        body["data"] = result.data
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        body["extensions"] = result.extensions
    response = Response(dumps(body), sub_response.status_code or status, media_type=media)
    response.headers.raw.extend(sub_response.headers.raw)  # cookies set by a resolver
    return response


def _internal(errors: list[GraphQLError]) -> bool:
    """An unexpected failure before execution (in an extension) is the server's, not the client's."""
    return any((error.extensions or {}).get("code") == "INTERNAL_ERROR" for error in errors)
