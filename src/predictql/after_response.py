"""Work that starts only once the response has been sent.

Forgot-password looks the address up and mails after answering, so that the answer takes the same
time whether the address exists. A task created during the request would still share the event
loop with the rest of that request (its database round trips interleave with sending the
response) and make the existing-address answer measurably slower under load. So the gateway opens
a list per HTTP request and starts what was deferred into it after the last byte is sent; outside
a request (a WebSocket operation, a test calling a service) deferred work starts at once.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token

_pending: ContextVar[list[Callable[[], None]] | None] = ContextVar("after_response", default=None)


def defer(start: Callable[[], None]) -> None:
    pending = _pending.get()
    if pending is None:
        start()
    else:
        pending.append(start)


def begin() -> Token[list[Callable[[], None]] | None]:
    return _pending.set([])


def finish(token: Token[list[Callable[[], None]] | None]) -> None:
    """Start everything deferred during the request (called once its response is sent)."""
    pending = _pending.get() or []
    _pending.reset(token)
    for start in pending:
        start()
