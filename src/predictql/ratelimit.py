"""Request budgets per client IP and per signed-in user (DECISIONS rule 22).

``limits`` keeps the counters in Redis when ``REDIS_URL`` is set, so every process behind a load
balancer spends one shared budget. Without Redis the counters are a dict of this process, counted
as ``limits``' fixed window in memory counts them (a window of a minute from a key's first hit),
without its per-hit coroutines, locks and expiry task: every request of every transport spends
from it. Its ``MemoryStorage`` still holds what others keep beside the budgets (sign-in failures).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

log = logging.getLogger("predictql.ratelimit")
SWEEP_SECONDS = 60.0  # how often the in-process counters drop the windows that ended


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_time: float  # unix time at which the window ends
    unavailable: bool = False  # refused because the counters' store is down (fail closed): 503

    @property
    def reset_at(self) -> int:
        """``X-RateLimit-Reset``: whole unix seconds, never before the window really ends."""
        return math.ceil(self.reset_time)

    @property
    def retry_after(self) -> int:
        # From the exact end of the window: rounding twice would answer 61 s for a 60 s window.
        return max(1, math.ceil(self.reset_time - time.time()))

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_at).encode()),
        ]


class RateLimiter:
    def __init__(
        self, per_minute: int, redis_url: str | None = None, *, namespace: str = "LIMITER", fail_open: bool = True
    ) -> None:
        # The namespace prefixes every counter key: deployments (or test runs) that share one
        # Redis keep separate budgets by using different namespaces.
        self.item = RateLimitItemPerMinute(per_minute, namespace=namespace)
        self.expiry = self.item.get_expiry()
        self.storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            # Bounded waits: a Redis that stopped answering must not hold every request.
            self.storage = RedisStorage(uri, implementation="redispy", socket_timeout=2, socket_connect_timeout=2)
        else:
            self.storage = MemoryStorage()
        self.strategy = FixedWindowRateLimiter(self.storage)
        self._complained_at = 0.0
        self.fail_open = fail_open
        # Without Redis: key -> [hits, unix time its window ends], swept of ended windows each minute.
        self._windows: dict[str, list[float]] | None = None if redis_url else {}
        self._swept_at = 0.0

    async def hit(self, *keys: str) -> Verdict:
        """Spend one request from every key's budget; the tightest budget decides.

        If the counters' store (Redis) fails, the request is let through when ``fail_open`` (the
        default: an outage of the limiter must not become an outage of the whole API), else refused
        as unavailable. It is logged, at most once a minute.
        """
        if self._windows is not None:
            return self._hit_here(keys)
        try:
            return await self._hit(keys)
        except Exception:
            now = time.time()
            if now - self._complained_at >= 60:
                self._complained_at = now
                how = "serving without limits" if self.fail_open else "refusing requests (fail closed)"
                log.warning("rate limiter storage failed; %s", how, exc_info=True)
            return Verdict(self.fail_open, self.item.amount, self.item.amount, now + 5, not self.fail_open)

    async def _hit(self, keys: tuple[str, ...]) -> Verdict:
        worst: Verdict | None = None
        for key in keys:
            allowed = await self.strategy.hit(self.item, key)
            stats = await self.strategy.get_window_stats(self.item, key)
            verdict = Verdict(allowed, self.item.amount, stats.remaining, float(stats.reset_time))
            if worst is None or (not verdict.allowed, -verdict.remaining) > (not worst.allowed, -worst.remaining):
                worst = verdict
        assert worst is not None
        return worst

    def _hit_here(self, keys: tuple[str, ...]) -> Verdict:
        """``_hit`` on the counters of this process: the same windows and answers."""
        windows, amount, now = self._windows, self.item.amount, time.time()
        assert windows is not None
        if now - self._swept_at >= SWEEP_SECONDS:
            self._swept_at = now
            for ended in [key for key, (_, ends) in windows.items() if ends <= now]:
                del windows[ended]
        worst, rank = None, -1.0
        for key in keys:
            window = windows.get(key)
            if window is None or window[1] <= now:
                window = windows[key] = [0, now + self.expiry]
            window[0] += 1
            # The tightest, as ``_hit`` ranks them: refused before allowed, then the fewest remaining;
            # the first of equals.
            if (tightness := min(window[0], amount + 1)) > rank:
                worst, rank = window, tightness
        assert worst is not None
        hits, ends = int(worst[0]), worst[1]
        return Verdict(hits <= amount, amount, max(0, amount - hits), ends)

    async def reset(self) -> None:
        if self._windows is not None:
            self._windows.clear()
        await self.storage.reset()
