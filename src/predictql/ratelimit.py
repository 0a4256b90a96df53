"""Request budgets per client IP and per signed-in user (DECISIONS rule 22).

``limits`` keeps the counters: in process memory when embedded, in Redis when ``REDIS_URL`` is
set, so every process behind a load balancer spends one shared budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # unix seconds

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_at).encode()),
        ]


class RateLimiter:
    def __init__(self, per_minute: int, redis_url: str | None = None) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            self.storage = RedisStorage(uri, implementation="redispy")
        else:
            self.storage = MemoryStorage()
        self.strategy = FixedWindowRateLimiter(self.storage)

    async def hit(self, *keys: str) -> Verdict:
        """Spend one request from every key's budget; the tightest budget decides."""
        worst: Verdict | None = None
        for key in keys:
            allowed = await self.strategy.hit(self.item, key)
            stats = await self.strategy.get_window_stats(self.item, key)
            verdict = Verdict(allowed, self.item.amount, stats.remaining, int(math.ceil(stats.reset_time)))
            if worst is None or (not verdict.allowed, -verdict.remaining) > (not worst.allowed, -worst.remaining):
                worst = verdict
        assert worst is not None
        return worst

    async def reset(self) -> None:
        await self.storage.reset()
