"""Expected errors are data: a stable ``code`` and an English ``message``.

No HTTP here. Each class names a *kind* of failure; the REST layer maps kinds to status codes in
one place (``rest_compat/errors.py``) and GraphQL puts ``code`` into ``extensions.code``. Codes are
the ones the Intotes pages document for the action (their case included, see DECISIONS.md rule 8).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected failure."""

    default_code = "BAD_REQUEST"

    def __init__(
        self, message: str, code: str | None = None, *, commit: bool = False, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        # The input field at fault (its GraphQL name, ``marketId``) when one is: a mutation's
        # ``userErrors.field`` points at it.
        self.field = field
        # True when the work done before the failure must still be kept (a wrong-code counter,
        # a revoked token family): the transaction commits, then the error propagates.
        self.commit = commit

    @property
    def graphql_code(self) -> str:
        """The code GraphQL answers with: ``code``, unless REST's documented code hides a difference."""
        return self.code

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled whole whatever the subclass's ``__init__`` takes (``services.writer_relay`` sends
        a writer item's error from the worker that executed it to the one that answers)."""
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[DomainError], args: tuple[Any, ...], state: dict[str, Any]) -> DomainError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class InvalidInput(DomainError):
    default_code = "INVALID_REQUEST"


class Unauthenticated(DomainError):
    default_code = "UNAUTHORIZED"


class TokenExpired(Unauthenticated):
    """An access token whose signature is valid but whose ``exp`` has passed.

    REST answers it as its pages document (401 ``UNAUTHORIZED``); GraphQL tells it apart as
    ``TOKEN_EXPIRED`` so that a client knows to refresh rather than sign in again.
    """

    @property
    def graphql_code(self) -> str:
        return "TOKEN_EXPIRED"


class Forbidden(DomainError):
    default_code = "FORBIDDEN"


class NotFound(DomainError):
    default_code = "NOT_FOUND"


class Conflict(DomainError):
    default_code = "CONFLICT"


class Unprocessable(DomainError):
    """Well-formed but unusable in this state (an idempotency key reused with another body)."""

    default_code = "UNPROCESSABLE"


class InsufficientFunds(DomainError):
    """Not enough balance; the LMSR trade page answers this with 402, others with 400."""

    default_code = "INSUFFICIENT_BALANCE"


class PayloadTooLarge(DomainError):
    default_code = "PAYLOAD_TOO_LARGE"


class RateLimited(DomainError):
    default_code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A configured dependency (OAuth provider, mail, the database) is not set up or not reachable."""

    default_code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str, code: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after  # seconds, when a retry is expected to work (Retry-After)
