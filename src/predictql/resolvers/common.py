"""Small helpers every resolver module shares."""

from __future__ import annotations

import base64
import binascii
import functools
import typing
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import strawberry
from strawberry.utils.str_converters import to_camel_case

from predictql.errors import DomainError, Forbidden, InvalidInput, RateLimited, Unauthenticated, Unavailable
from predictql.schema.payloads import MutationPayload, UserError

P = ParamSpec("P")
R = TypeVar("R", bound=MutationPayload)

# What the input cannot fix stays a top-level error (GRAPHQL.md, Mutations); the rest is userErrors.
TOP_LEVEL: tuple[type[DomainError], ...] = (Unauthenticated, Forbidden, RateLimited, Unavailable)
# ... except a sign-in's own input: wrong credentials or an unverified email are fixed by the input.
SIGN_IN_CODES = {"INVALID_CREDENTIALS", "EMAIL_NOT_VERIFIED"}
# The input field a code is about, when the error does not name one itself.
FIELD_OF_CODE = {
    "INVALID_SIDE": "side",
    "INVALID_AMOUNT": "amount",
    "INSUFFICIENT_BALANCE": "amount",
    "INVALID_PRICE": "price",
    "INVALID_CODE": "code",
    "EMAIL_EXISTS": "email",
    "INVALID_LANGUAGE": "language",
    "INVALID_NICKNAME": "nickname",
    "NICKNAME_TAKEN": "nickname",
    "INVALID_THEME": "theme",
    "INVALID_PROBABILITIES": "prices",
    "DUPLICATE_CLIENT_ORDER_ID": "clientOrderId",
    "MARKET_NOT_FOUND": "marketId",
    "POSITION_NOT_FOUND": "marketId",
    "ORDER_NOT_FOUND": "id",
    "USER_NOT_FOUND": "userId",
    "POOL_NOT_FOUND": "poolId",
    "FILE_TOO_LARGE": "contentBase64",
    "INVALID_FILE_TYPE": "contentBase64",
}

# The one `input` argument of every mutation.
INPUT = strawberry.argument(description="What to change; the input type describes each field.")

# The `after` argument of every connection field.
AFTER = strawberry.argument(
    description="The endCursor (or an edge's cursor) to continue after; null for the first page."
)


def _input_fields(kwargs: dict[str, Any]) -> set[str]:
    given = kwargs.get("input")
    return {to_camel_case(name) for name in vars(given)} if given is not None else set()


def user_errors(resolver: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A mutation resolver whose business failures become its payload's ``userErrors``.

    The resolver's ``transaction()`` has rolled back by the time the error arrives here (inside an
    idempotency unit, its savepoint has), so nothing of a failed mutation is written, unless the
    error says its work must be kept (``commit=True``, a wrong-code counter).
    """

    @functools.wraps(resolver)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await resolver(*args, **kwargs)
        except DomainError as error:
            if isinstance(error, TOP_LEVEL) and error.code not in SIGN_IN_CODES:
                raise
            field = error.field or FIELD_OF_CODE.get(error.code.upper())
            payload: type[R] = typing.get_type_hints(resolver)["return"]
            return payload(user_errors=[UserError.from_error(error, field if field in _input_fields(kwargs) else None)])

    return wrapper


def decode_base64(value: str, name: str = "contentBase64", code: str = "INVALID_REQUEST") -> bytes:
    """A file sent inside a GraphQL document; strict (no whitespace, no missing padding)."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{name} is not valid base64", code=code, field=name) from None
