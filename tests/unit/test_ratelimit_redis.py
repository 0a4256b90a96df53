"""The counters in Redis (one Lua script a request) answer as the in-process ones and as ``limits``.

Each test spends on a namespace of its own in the test Redis, so runs sharing it never meet.
"""

from __future__ import annotations

import random
import secrets

import pytest
from redis import asyncio as aioredis

from predictql.ratelimit import RateLimiter, Verdict
from tests.conftest import REDIS_URL
from tests.unit.test_ratelimit_memory import limits_verdict

pytestmark = pytest.mark.skipif(REDIS_URL is None, reason="PREDICTQL_TEST_REDIS_URL not set")
KEYS = ["ip:a", "ip:b", "user:1", "user:2", "tok:x"]


def in_redis(per_minute: int) -> RateLimiter:
    return RateLimiter(per_minute, REDIS_URL, namespace=f"test-{secrets.token_hex(6)}")


def same(ours: Verdict, theirs: Verdict) -> bool:
    """Equal verdicts; the windows' ends agree to the clock's drift between the two calls."""
    return (ours.allowed, ours.remaining, ours.limit, ours.unavailable) == (
        theirs.allowed,
        theirs.remaining,
        theirs.limit,
        theirs.unavailable,
    ) and abs(ours.reset_time - theirs.reset_time) < 1.0


async def test_the_same_verdicts_in_redis_as_in_process() -> None:
    here, there = RateLimiter(5), in_redis(5)
    draw = random.Random(14)
    for _ in range(200):
        keys = tuple(draw.sample(KEYS, draw.randint(1, 3)))
        ours, theirs = await there.hit(*keys), here._hit_here(keys)
        assert same(ours, theirs), (keys, ours, theirs)
        assert ours.retry_after in (theirs.retry_after - 1, theirs.retry_after, theirs.retry_after + 1)


async def test_one_budget_with_the_processes_that_spend_through_limits() -> None:
    """A rolling deploy: the release before spent through ``limits``' fixed window on the same keys."""
    ours = in_redis(4)
    theirs = RateLimiter(4, REDIS_URL, namespace=ours.item.namespace)
    first = await ours.hit("ip:a", "user:1")
    assert first.allowed and first.remaining == 3 and 59 <= first.retry_after <= 60
    assert (await limits_verdict(theirs, ("ip:a", "user:1"))).remaining == 2
    assert (await ours.hit("user:1")).remaining == 1
    assert (await limits_verdict(theirs, ("user:1",))).remaining == 0
    refused = await ours.hit("ip:b", "user:1")
    assert not refused.allowed and refused.remaining == 0 and 59 <= refused.retry_after <= 60
    assert (await ours.hit("ip:a")).remaining == 1


async def test_the_script_is_loaded_again_when_redis_lost_it() -> None:
    limiter = in_redis(3)
    assert (await limiter.hit("ip:a")).remaining == 2
    limiter._spend.sha = "0" * 40  # as after SCRIPT FLUSH or a restart: EVALSHA answers NOSCRIPT
    assert (await limiter.hit("ip:a")).remaining == 1
    assert limiter._spend.sha != "0" * 40


async def test_a_counter_that_lost_its_expiry_starts_a_window() -> None:
    limiter = in_redis(3)
    key = f"{limiter._key_head}ip:a{limiter._key_tail}"
    client = aioredis.Redis.from_url(REDIS_URL or "")
    try:
        await client.set(key, 1)  # no expiry: it would never end
        verdict = await limiter.hit("ip:a")
        assert verdict.remaining == 1 and 59 <= verdict.retry_after <= 60
        assert 0 < await client.pttl(key) <= 60_000
    finally:
        await client.delete(key)
        await client.aclose()


async def test_an_unreachable_redis_fails_open_or_closed() -> None:
    for fail_open in (True, False):
        limiter = RateLimiter(3, "redis://127.0.0.1:1/0", fail_open=fail_open)  # nothing listens on port 1
        verdict = await limiter.hit("ip:a", "user:1")
        assert (verdict.allowed, verdict.unavailable, verdict.remaining) == (fail_open, not fail_open, 3)
