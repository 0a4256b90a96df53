"""Password guessing is bounded per account and per client IP, with a short exponential back-off.

Every failed sign-in counts against the address it named (normalised; also when no such account
exists, so that being limited tells nothing about which addresses are registered) and against the
client IP. Within ``WINDOW`` of the first failure, the first few failures are free
(``PREDICTQL_SIGN_IN_FREE_FAILURES_PER_ACCOUNT``, 5, and ``..._PER_IP``, 20: a shared office or
carrier address holds many people who mistype); each one after them locks further sign-ins for that account
(or IP) for 1, 2, 4, ... seconds, capped at ``MAX_LOCK``. A locked sign-in is answered
``RATE_LIMITED`` with ``Retry-After`` and is not verified nor counted, so an attacker cannot extend
a lock by hammering it: the owner is kept out for at most ``MAX_LOCK`` after the attacker's last
*verified* guess, while the attacker gets about a dozen guesses an hour per account.

A successful sign-in does not clear the count: an attacker interleaving guesses with the owner's
sign-ins would otherwise start afresh after each of them. The counters live in the rate limiter's
store (Redis when configured), so all processes share them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from limits.aio.storage import Storage

from predictql.errors import RateLimited

log = logging.getLogger("predictql.sign_in_limits")

WINDOW = 3600  # seconds a run of failures is remembered, from its first failure
MAX_LOCK = 300  # seconds


def lock_seconds(failures: int, free: int) -> int:
    """The lock after the ``failures``-th failure: none while free, then 1, 2, 4 ... up to MAX_LOCK."""
    if failures <= free:
        return 0
    return int(min(MAX_LOCK, 2 ** min(failures - free - 1, 16)))


@dataclass(frozen=True)
class SignInGuard:
    storage: Storage
    client_ip: str
    namespace: str = "LIMITER"
    free_per_account: int = 5
    free_per_ip: int = 20

    def _subjects(self, email: str) -> list[tuple[str, int]]:
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return [(f"account:{account}", self.free_per_account), (f"ip:{self.client_ip}", self.free_per_ip)]

    def _key(self, kind: str, subject: str) -> str:
        return f"{self.namespace}/signin/{kind}/{subject}"

    async def check(self, email: str) -> None:
        """Raise ``RATE_LIMITED`` while the account or the IP is locked."""
        try:
            waits = [await self._locked_for(subject) for subject, _ in self._subjects(email)]
        except Exception:  # the store is down: as with the request limits, serve rather than refuse
            log.warning("sign-in limit store failed; not limiting", exc_info=True)
            return
        if max(waits) > 0:
            raise RateLimited("too many failed sign-ins; try again later", retry_after=max(waits))

    async def _locked_for(self, subject: str) -> int:
        key = self._key("lock", subject)
        if await self.storage.get(key) <= 0:
            return 0
        return max(1, math.ceil(await self.storage.get_expiry(key) - time.time()))

    async def failed(self, email: str) -> None:
        try:
            for subject, free in self._subjects(email):
                failures = await self.storage.incr(self._key("fail", subject), WINDOW)
                if lock := lock_seconds(failures, free):
                    await self.storage.incr(self._key("lock", subject), lock)
        except Exception:
            log.warning("sign-in limit store failed; failure not counted", exc_info=True)


def guard_for(connection: object) -> SignInGuard | None:
    """The guard for a Starlette request or socket: the gateway's limiter store and client IP."""
    limiter = getattr(getattr(connection, "state", None), "limiter", None)
    if limiter is None:  # an app without the gateway (tests of the bare Starlette app)
        return None
    client = getattr(connection, "client", None)
    settings = connection.state.settings  # type: ignore[attr-defined]
    return SignInGuard(
        limiter.storage,
        client.host if client else "unknown",
        limiter.item.namespace,
        free_per_account=settings.sign_in_free_failures_per_account,
        free_per_ip=settings.sign_in_free_failures_per_ip,
    )
