"""CPU and wall time of the rate limiter's budgets in Redis, in process: ``limiter.hit(ip, user)``.

Every request (REST, GraphQL operation, WebSocket operation) spends a signed-in caller's two
budgets once. This calls ``RateLimiter.hit`` ``--calls`` times in a row (100 IPs and 100 users in
turn, a budget no call exhausts) against a real Redis, on a namespace of its own that it deletes
afterwards, and prints the process's CPU and the wall time per call. ``--module`` times another
``ratelimit.py`` (main's, for an A/B in one session:
``git show main:src/predictql/ratelimit.py > /tmp/ratelimit_main.py``). ``--smoke`` spends a budget
of 5 seven times and checks the verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import secrets
import sys
import time
from types import ModuleType

from redis import asyncio as aioredis

import predictql.ratelimit


def load(path: str | None) -> ModuleType:
    if path is None:
        return predictql.ratelimit
    spec = importlib.util.spec_from_file_location("ratelimit_under_test", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


async def smoke(module: ModuleType, url: str, namespace: str) -> None:
    limiter = module.RateLimiter(5, url, namespace=namespace, fail_open=False)
    verdicts = [await limiter.hit("ip:smoke", "user:smoke") for _ in range(7)]
    assert [v.remaining for v in verdicts] == [4, 3, 2, 1, 0, 0, 0], verdicts
    assert [v.allowed for v in verdicts] == [True] * 5 + [False] * 2, verdicts
    assert not any(v.unavailable for v in verdicts) and 59 <= verdicts[-1].retry_after <= 60, verdicts
    print("smoke passed")


async def measure(module: ModuleType, url: str, namespace: str, calls: int) -> None:
    limiter = module.RateLimiter(10 * calls, url, namespace=namespace, fail_open=False)
    pairs = [(f"ip:10.0.0.{i}", f"user:{i}") for i in range(100)]
    for ip, user in pairs:  # warm: connections made, the script loaded
        await limiter.hit(ip, user)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(calls):
        verdict = await limiter.hit(*pairs[i % 100])
        assert verdict.allowed and not verdict.unavailable, verdict
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"module: {module.__file__}")
    print(f"calls: {calls}  cpu_us_per_call: {cpu / calls * 1e6:.1f}  wall_us_per_call: {wall / calls * 1e6:.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--module", help="a ratelimit.py to time instead of this tree's")
    parser.add_argument("--redis", default=os.environ.get("PREDICTQL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    module, namespace = load(args.module), f"bench-{secrets.token_hex(6)}"
    try:
        if args.smoke:
            await smoke(module, args.redis, namespace)
        else:
            await measure(module, args.redis, namespace, args.calls)
    finally:
        client = aioredis.Redis.from_url(args.redis)
        keys = [key async for key in client.scan_iter(match=f"LIMITS:{namespace}/*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
