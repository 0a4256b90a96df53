"""HTTP benchmarks on one predictql process, each as a ratio to raw ASGI measured in the same run.

    python bench/bench_http.py [--db postgresql|sqlite] [--seconds 10] [--connections 32]
                               [--only lmsr_trade,feed_query] [--json http.json] [--smoke] [--timeout 2]
                               [--cache-ttl-ms 1000]

Scenarios:
- ``lmsr_trade``: POST /api/v1/lmsr/trade, 32 users alternating buy_yes/buy_no on one market
  (every trade locks that market's row, moves money through the ledger and records history).
- ``lmsr_trade_graphql``: the same trades as the ``lmsrTrade`` mutation (POST /graphql, variables), its
  payload the trade, the amounts, the market's price and the caller's cash.
- ``feed_query``: POST /graphql, the 20-event feed with each event's pools and markets, executed
  every time (the anonymous response cache off).
- ``feed_cached``: the same, anonymous, with the default shared cache (PREDICTQL_GRAPHQL_CACHE_TTL_MS).
- ``feed_signed_in_cached``: the same feed for a SIGNED-IN caller (a bearer token): the operation
  selects only public fields, so it is served from the same shared cache.
- ``feed_signed_in_executed``: the signed-in feed with the cache off (executed every time, the
  caller's token resolved on each request).
Baseline: a JSON hello-world ASGI app under the same uvicorn settings, same core, same load.
Writes bench/results/http.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    SMOKE_PATIENCE,
    SMOKE_TIMEOUT,
    baseline_server,
    bench_database,
    free_port,
    predictql_env,
    predictql_server,
    record,
    report,
    smoke_failures,
    wrk,
)

FEED_QUERY = (
    "{ events(first: 20) { edges { node { id name status pools { id name markets "
    "{ id name yesProbability volume } } } } pageInfo { hasNextPage endCursor } } }"
)


async def seed(database_url: str, data_dir: Path, users: int) -> tuple[list[str], int]:
    from predictql import migrate
    from predictql.auth import Actor
    from predictql.db import Database, make_engine, utcnow
    from predictql.services import accounts, events, pools, sessions
    from predictql.services import users as users_service
    from predictql.settings import Settings

    settings = Settings(database_url=database_url, data_dir=data_dir, jwt_secret="bench-secret-" + "x" * 40)
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    db = Database(engine)
    tokens: list[str] = []
    async with db.transaction() as session:
        creator = await accounts.create_user(
            session, email="creator@bench.test", password=None, verified=True, is_creator=True
        )
        actor = Actor(user_id=creator.id, is_creator=True)
        market_id = 0
        for index in range(20):
            event = await events.create_event(
                session, actor, events.EventFields(name=f"Bench event {index}", tags=["bench"])
            )
            event.is_active = True
            for pool_index in range(2):
                pool = await pools.create_pool(
                    session,
                    actor,
                    event.id or 0,
                    pools.PoolFields(
                        name=f"Pool {pool_index}",
                        finish_at=utcnow() + timedelta(days=30),
                        live_at=utcnow() - timedelta(minutes=1),
                        market_names=["A", "B", "C"],
                        market_probabilities=[0.5, 0.3, 0.2],
                        lmsr_b_kopecks=100_000_000,
                    ),
                )
                if not market_id:
                    market_id = (await events.markets_of(session, [pool.id or 0]))[pool.id or 0][0].id or 0
        for index in range(users):
            user = await accounts.create_user(session, email=f"trader{index}@bench.test", password=None, verified=True)
            await users_service.deposit(session, user_id=user.id or 0, amount=10**12)
            pair = await sessions.open_session(session, settings, user.id or 0)
            tokens.append(pair.access_token)
    await db.dispose()
    return tokens, market_id


def trade_script(tokens: list[str], market_ids: list[int]) -> Path:
    """wrk Lua: trade ``n`` by user ``n % users`` alternates buy_yes/buy_no, on market ``(n // 2) % markets``
    (each market sees both sides)."""
    body = """'{"market_id":' .. market .. ',"side":"' .. side .. '","amount_type":"spend","amount":1000}'"""
    return _trading_lua(tokens, [str(m) for m in market_ids], ("buy_yes", "buy_no"), "/api/v1/lmsr/trade", body)


TRADE_MUTATION = (
    "mutation Trade($input: LmsrTradeInput!) { lmsrTrade(input: $input) { userErrors { field code } "
    "trade { id fee } costOrPayoutCents sharesDelta market { id yesProbability } balances { cash } } }"
)


def graphql_trade_script(tokens: list[str], market_ids: list[int]) -> Path:
    """wrk Lua: ``trade_script``'s trades (same users, sides and markets) as the ``lmsrTrade`` mutation."""
    from predictql.schema.ids import Kind, encode

    query = json.dumps(json.dumps(TRADE_MUTATION))
    body = (
        f"""'{{"query":' .. {query} .. ',"variables":{{"input":{{"marketId":"' .. market .. """
        """'","side":"' .. side .. '","amountType":"SPEND","amount":1000}}}'"""
    )
    markets = [json.dumps(encode(Kind.MARKET, m)) for m in market_ids]
    return _trading_lua(tokens, markets, ("BUY_YES", "BUY_NO"), "/graphql", body)


def _trading_lua(tokens: list[str], markets: list[str], sides: tuple[str, str], path: str, body: str) -> Path:
    """wrk Lua: request ``n`` is sent by token ``n % tokens`` on market ``(n // 2) % markets`` (Lua
    literals), side ``sides[n % 2]``; ``body`` is a Lua expression of ``market`` and ``side``."""
    lua = f"""
local tokens = {{{", ".join(json.dumps(t) for t in tokens)}}}
local markets = {{{", ".join(markets)}}}
local counter = 0
request = function()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local side = (counter % 2 == 0) and "{sides[0]}" or "{sides[1]}"
  local market = markets[math.floor(counter / 2) % #markets + 1]
  local body = {body}
  return wrk.format("POST", "{path}",
    {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}}, body)
end
"""
    file = Path(tempfile.mkstemp(suffix=".lua")[1])
    file.write_text(lua)
    return file


def post_script(path_: str, body: str, token: str | None = None) -> Path:
    auth = f'wrk.headers["Authorization"] = {json.dumps("Bearer " + token)}' if token else ""
    lua = f"""
wrk.method = "POST"
wrk.body = {json.dumps(body)}
wrk.headers["Content-Type"] = "application/json"
{auth}
"""
    path = Path(tempfile.mkstemp(suffix=".lua")[1])
    path.write_text(lua)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--json", "--out", default="http.json", help="file name under bench/results/")
    parser.add_argument("--smoke", action="store_true", help="CI: 1 s per scenario, 4 connections, not recorded")
    parser.add_argument("--timeout", type=float, default=None, help="wrk's per-request timeout, seconds (2)")
    parser.add_argument(
        "--cache-ttl-ms",
        type=int,
        default=None,
        help="PREDICTQL_GRAPHQL_CACHE_TTL_MS of the cached scenarios (the server's default: 1000); a long one "
        "measures the hit alone, without the re-executions of each expiry",
    )
    parser.add_argument(
        "--redis",
        default=None,
        help="PREDICTQL_REDIS_URL of every server: the rate limits spent in that Redis, as in production "
        "(default: none, the in-process counters)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.connections, args.timeout = 1, 4, args.timeout or SMOKE_TIMEOUT
    patience = SMOKE_PATIENCE if args.smoke else 0.0
    data_dir = Path(tempfile.mkdtemp(prefix="predictql-bench-data-"))
    results: dict[str, object] = {"db": args.db, "seconds": args.seconds, "connections": args.connections}
    with bench_database(args.db) as url:
        tokens, market_id = asyncio.run(seed(url, data_dir, users=32))
        port = free_port()
        with baseline_server(port) as base:
            baseline = wrk(
                "raw_asgi",
                base + "/",
                seconds=args.seconds,
                connections=args.connections,
                timeout=args.timeout,
                patience=patience,
            )
        feed_body = post_script("/graphql", json.dumps({"query": FEED_QUERY}))
        signed_in_feed = post_script("/graphql", json.dumps({"query": FEED_QUERY}), token=tokens[0])
        cached = {} if args.cache_ttl_ms is None else {"PREDICTQL_GRAPHQL_CACHE_TTL_MS": str(args.cache_ttl_ms)}
        scenarios = [
            ("lmsr_trade", "/", trade_script(tokens, [market_id]), {}),
            ("lmsr_trade_graphql", "/graphql", graphql_trade_script(tokens, [market_id]), {}),
            ("feed_query", "/graphql", feed_body, {"PREDICTQL_GRAPHQL_CACHE_TTL_MS": "0"}),
            ("feed_cached", "/graphql", feed_body, cached),
            ("feed_signed_in_cached", "/graphql", signed_in_feed, cached),
            ("feed_signed_in_executed", "/graphql", signed_in_feed, {"PREDICTQL_GRAPHQL_CACHE_TTL_MS": "0"}),
        ]
        wanted = set(filter(None, args.only.split(",")))
        unknown = wanted - {name for name, *_ in scenarios}
        if unknown:
            parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
        rows = [baseline]
        for name, path, script, extra in scenarios:
            if wanted and name not in wanted:
                continue  # a fresh server each: no scenario feeds the next
            port = free_port()
            limits = {"PREDICTQL_REDIS_URL": args.redis} if args.redis else {}
            with predictql_server(port, predictql_env(url, data_dir, **extra, **limits)) as base:
                wrk("warmup", base + path, seconds=1 if args.smoke else 2, connections=4, script=script)
                rows.append(
                    wrk(
                        name,
                        base + path,
                        seconds=args.seconds,
                        connections=args.connections,
                        script=script,
                        timeout=args.timeout,
                        patience=patience,
                    )
                )
    results["measurements"] = report(rows, baseline)
    if args.smoke:
        failed = smoke_failures(rows)
        if failed:
            sys.exit(f"smoke run failed: {'; '.join(failed)}")
        return
    print("recorded", record(args.json, results))


if __name__ == "__main__":
    main()
