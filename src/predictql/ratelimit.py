"""Request budgets per client IP and per signed-in user (DECISIONS rule 22).

With ``REDIS_URL`` set the counters live in Redis, so every process behind a load balancer spends
one shared budget: one Lua script (``SPEND``) counts a request against all its keys' fixed windows
and answers each key's hits and time left, one round trip a request. Its keys are those of
``limits``' fixed window (``LIMITS:<namespace>/<key>/<amount>/1/minute``, a minute from the first
hit), so processes of the release before, which spent through ``limits``, share the same budgets
during a rolling deploy. Without Redis the counters are a dict of this process, counted
as ``limits``' fixed window in memory counts them (a window of a minute from a key's first hit),
without its per-hit coroutines, locks and expiry task: every request of every transport spends
from it. Its ``MemoryStorage`` still holds what others keep beside the budgets (sign-in failures).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from redis import asyncio as aioredis

log = logging.getLogger("predictql.ratelimit")
SWEEP_SECONDS = 60.0  # how often the in-process counters drop the windows that ended

# KEYS: the counters; ARGV[1]: a window in milliseconds. Answers hits, then milliseconds left, per
# key. A counter without an expiry (its first hit, or a write that lost it) starts its window now.
SPEND = """
local out = {}
for i, key in ipairs(KEYS) do
    local hits = redis.call("INCR", key)
    local left = redis.call("PTTL", key)
    if left < 0 then
        left = tonumber(ARGV[1])
        redis.call("PEXPIRE", key, left)
    end
    out[2 * i - 1] = hits
    out[2 * i] = left
end
return out
"""


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
            url = redis_url.removeprefix("async+")
            # Bounded waits: a Redis that stopped answering must not hold every request. One pool
            # for the budgets and for what ``limits`` keeps beside them (sign-in failures).
            # (``limits`` spells a socket ``redis+unix://``, redis-py ``unix://``.)
            pool = aioredis.ConnectionPool.from_url(
                url.replace("redis+unix://", "unix://", 1), socket_timeout=2, socket_connect_timeout=2
            )
            # ``limits`` takes a pool (its redis-py bridge hands it to ``Redis``), typed more narrowly.
            pool_option: dict[str, Any] = {"connection_pool": pool}
            self.storage = RedisStorage("async+" + url, implementation="redispy", **pool_option)
            # EVALSHA; on NOSCRIPT (a restarted or flushed Redis) redis-py loads it and runs it again.
            self._spend = aioredis.Redis(connection_pool=pool).register_script(SPEND)
            head, _, tail = f"{RedisStorage.PREFIX}:{self.item.key_for(chr(0))}".partition(chr(0))
            self._key_head, self._key_tail = head, tail
        else:
            self.storage = MemoryStorage()
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
        """``_hit_here`` on the counters in Redis, in one round trip: the same windows and answers."""
        head, tail = self._key_head, self._key_tail
        counts = await self._spend(keys=[f"{head}{key}{tail}" for key in keys], args=[int(self.expiry * 1000)])
        now = time.time()
        return _tightest(
            self.item.amount, [(int(counts[i]), now + int(counts[i + 1]) / 1000) for i in range(0, len(counts), 2)]
        )

    def _hit_here(self, keys: tuple[str, ...]) -> Verdict:
        """``_hit`` on the counters of this process: the same windows and answers."""
        windows, now = self._windows, time.time()
        assert windows is not None
        if now - self._swept_at >= SWEEP_SECONDS:
            self._swept_at = now
            for ended in [key for key, (_, ends) in windows.items() if ends <= now]:
                del windows[ended]
        spent: list[tuple[int, float]] = []
        for key in keys:
            window = windows.get(key)
            if window is None or window[1] <= now:
                window = windows[key] = [0, now + self.expiry]
            window[0] += 1
            spent.append((int(window[0]), window[1]))
        return _tightest(self.item.amount, spent)

    async def reset(self) -> None:
        if self._windows is not None:
            self._windows.clear()
        await self.storage.reset()


def _tightest(amount: int, spent: list[tuple[int, float]]) -> Verdict:
    """The verdict of the tightest of a request's keys, each ``(hits, unix time its window ends)``:
    refused before allowed, then the fewest remaining (hits count up to one past the budget); the
    first of equals (``max`` keeps the first)."""
    hits, ends = max(spent, key=lambda key: min(key[0], amount + 1))
    return Verdict(hits <= amount, amount, max(0, amount - hits), ends)
