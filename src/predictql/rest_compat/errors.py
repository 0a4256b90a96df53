"""The REST error envelope ``{"error": {"code", "message"}}`` and the one kind -> status map."""

from __future__ import annotations

from starlette.responses import Response

from predictql import errors
from predictql.jsonutil import dumps

STATUS: dict[type[errors.DomainError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Unprocessable: 422,
    errors.InsufficientFunds: 400,
    errors.PayloadTooLarge: 413,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
}
# Codes whose status is fixed by HTTP itself, whatever kind of error carries them.
CODE_STATUS = {"UNSUPPORTED_MEDIA_TYPE": 415, "PAYLOAD_TOO_LARGE": 413}
# Generic codes that pages written in lower_snake case spell in lower case (DECISIONS rule 8).
GENERIC = {"UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "INVALID_REQUEST", "TOKEN_EXPIRED", "INVALID_TOKEN"}
LOWER = {"INVALID_REQUEST": "invalid_body"}


def status_of(error: errors.DomainError, overrides: dict[str, int] | None = None) -> int:
    if overrides and error.code in overrides:
        return overrides[error.code]
    if error.code in CODE_STATUS:
        return CODE_STATUS[error.code]
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def envelope(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = dumps({"error": {"code": code, "message": message}})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def domain_response(
    error: errors.DomainError, *, lower: bool = False, overrides: dict[str, int] | None = None
) -> Response:
    code = error.code
    if lower and code in GENERIC:
        code = LOWER.get(code, code.lower())
    retry_after = error.retry_after if isinstance(error, errors.RateLimited | errors.Unavailable) else None
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return envelope(status_of(error, overrides), code, error.message, headers)
