"""The in-process counters answer as ``limits``' fixed window in its ``MemoryStorage`` does."""

from __future__ import annotations

import random
import time

import pytest
from limits.aio.strategies import FixedWindowRateLimiter

from predictql.ratelimit import SWEEP_SECONDS, RateLimiter, Verdict


async def limits_verdict(limiter: RateLimiter, keys: tuple[str, ...]) -> Verdict:
    """The verdict ``limits``' own fixed window gives for one request: the tightest key decides."""
    strategy = FixedWindowRateLimiter(limiter.storage)
    worst: Verdict | None = None
    for key in keys:
        allowed = await strategy.hit(limiter.item, key)
        stats = await strategy.get_window_stats(limiter.item, key)
        verdict = Verdict(allowed, limiter.item.amount, stats.remaining, float(stats.reset_time))
        if worst is None or (not verdict.allowed, -verdict.remaining) > (not worst.allowed, -worst.remaining):
            worst = verdict
    assert worst is not None
    return worst


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1_800_000_000.25]
    monkeypatch.setattr(time, "time", lambda: now[0])  # read by ``limits`` and by ours alike
    return now


async def test_the_same_verdicts_as_limits_memory_storage(clock: list[float]) -> None:
    ours, theirs = RateLimiter(5), RateLimiter(5)
    draw = random.Random(14)
    for _ in range(400):
        keys = draw.sample(["ip:a", "ip:b", "user:1", "user:2", "tok:x"], draw.randint(1, 3))
        clock[0] += draw.choice([0.0, 0.5, 7.0, 31.0])
        assert ours._hit_here(tuple(keys)) == await limits_verdict(theirs, tuple(keys)), keys


async def test_windows_end_a_minute_after_their_first_hit_and_are_swept(clock: list[float]) -> None:
    limiter = RateLimiter(2)
    first = await limiter.hit("ip:a", "user:1")
    assert first.allowed and first.remaining == 1 and first.reset_time == clock[0] + 60
    await limiter.hit("ip:a")
    refused = await limiter.hit("ip:b", "ip:a")
    assert not refused.allowed and refused.remaining == 0 and refused.retry_after == 60
    clock[0] += 60
    assert (await limiter.hit("ip:a")).remaining == 1  # a new window
    clock[0] += SWEEP_SECONDS
    await limiter.hit("ip:c")
    assert limiter._windows is not None and set(limiter._windows) == {"ip:c"}
    await limiter.reset()
    assert limiter._windows == {}
