"""The per-user comment rate limit holds when one user posts many comments at once (on PostgreSQL
the posts really overlap; the user's row lock makes them count one after another)."""

from __future__ import annotations

import asyncio

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import RateLimited
from predictql.models import Comment
from predictql.services import comments
from predictql.services.cursors import PageArgs
from tests.comments.test_comments_api import event_with_market
from tests.conftest import BACKEND
from tests.markets.test_concurrency import peak_connections
from tests.support import create_user


async def test_parallel_posts_cannot_slip_past_the_rate_limit(db: Database) -> None:
    event_id, _ = await event_with_market(db)
    user = await create_user(db)
    limits = comments.Limits(max_length=100, edit_window_seconds=60, per_minute=3)

    async def post(n: int) -> bool:
        try:
            async with db.transaction() as session:
                await comments.create(
                    session, Actor(user_id=user), event_id=event_id, body=f"post {n}", parent_id=None, limits=limits
                )
        except RateLimited as error:
            assert 1 <= error.retry_after <= 60
            return False
        return True

    with peak_connections(db) as seen:
        results = await asyncio.gather(*(post(n) for n in range(10)))
    if BACKEND == "postgresql":
        assert seen["peak"] > 1, "the posts did not overlap"
    assert results.count(True) == 3
    async with db.session() as session:
        page = await comments.page(session, Actor(), event_id=event_id, args=PageArgs(first=20))
    assert len(page.items) == 3 and all(isinstance(row, Comment) for row in page.items)
