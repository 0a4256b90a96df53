"""The 20-event feed query executed in process (``schema.execute``, no HTTP): CPU per execution and a profile.

    python bench/profile_feed.py [--db postgresql|sqlite] [--repeat 300] [--profile 40] [--smoke]

The query, the data and the schema are ``bench_http.py``'s (20 events x 2 pools x 3 markets,
~700 fields). After a warm-up, it executes the query ``--repeat`` times and prints CPU ms per
execution (``time.process_time``: this process's CPU, which other load on a busy machine inflates
far less than wall time; it includes the database driver's work in this process, not the
server's), then ``--profile N`` executions under cProfile (top entries by own time). Baseline:
nothing here is a ratio; compare two commits by running both in one sitting (``git stash`` is not
needed: run it from each worktree). ``--smoke`` (CI): SQLite, a few executions, checks the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import FEED_QUERY, seed
from harness import bench_database


async def run(url: str, repeat: int, profile: int, top: int) -> dict[str, float]:
    from starlette.requests import Request
    from starlette.responses import Response

    from predictql.db import Database, make_engine
    from predictql.graphql_server.root import build_schema
    from predictql.schema.context import Context
    from predictql.settings import Settings

    data_dir = Path(tempfile.mkdtemp(prefix="predictql-profile-feed-"))
    await seed(url, data_dir, users=1)
    settings = Settings(database_url=url, data_dir=data_dir, jwt_secret="bench-secret-" + "x" * 40)
    db = Database(make_engine(url))
    schema = build_schema(settings)
    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": [], "query_string": b""}

    async def once() -> None:
        context = Context(
            request=Request(scope),
            response=Response(),
            db=db,
            settings=settings,
            mailer=cast(Any, None),
            http=cast(Any, None),
            bus=cast(Any, None),
        )
        result = await schema.execute(FEED_QUERY, context_value=context)
        assert result.errors is None, result.errors
        assert result.data is not None and len(result.data["events"]["edges"]) == 20
        assert all(
            len(pool["markets"]) == 3 for edge in result.data["events"]["edges"] for pool in edge["node"]["pools"]
        )

    try:
        for _ in range(min(20, repeat)):
            await once()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(repeat):
            await once()
        figures = {
            "cpu_ms_per_execution": (time.process_time() - cpu) / repeat * 1000,
            "wall_ms_per_execution": (time.perf_counter() - wall) / repeat * 1000,
        }
        print(
            f"{repeat} executions: {figures['cpu_ms_per_execution']:.2f} ms CPU, "
            f"{figures['wall_ms_per_execution']:.2f} ms wall each"
        )
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(profile):
                await once()
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
            print(out.getvalue())
        return figures
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--profile", type=int, default=0, help="executions under cProfile (0: none)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help="SQLite, 5 executions and 2 profiled (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.db, args.repeat, args.profile, args.top = "sqlite", 5, 2, 5
    with bench_database(args.db) as url:
        asyncio.run(run(url, args.repeat, args.profile, args.top))


if __name__ == "__main__":
    main()
