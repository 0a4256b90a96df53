"""The per-process cache of resolved callers (``services.actor_cache``): a hit answers without the
database, an access change drops exactly that user's entries, and whenever the cache cannot be sure
(its follower not live, a skipped seq, a heartbeat ahead, a lost bus connection, the TTL) the
database decides again.

A "silent" revocation is written straight into the database without publishing anything: only a
cached answer can still call its token signed in, so each test tells a hit from a read."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from predictql import auth
from predictql.auth import Actor
from predictql.db import Database
from predictql.services import api_tokens, sessions
from predictql.services.actor_cache import ActorCache
from predictql.settings import Settings
from predictql.subscriptions import topics
from predictql.subscriptions.bus import Bus
from predictql.subscriptions.payloads import AccessChange
from predictql.subscriptions.redis_backend import GAP, RedisPubSubBackend
from predictql.subscriptions.stream_log import wire
from tests.conftest import REDIS_URL
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_bus import _kill_subscriber_connection
from tests.support import bearer, create_user, gql, wait_until


@asynccontextmanager
async def following(settings: Settings, ttl: float = 60.0) -> AsyncIterator[tuple[ActorCache, Bus]]:
    """A cache following its own bus (this test's channels only), live."""
    bus = Bus(settings.broadcast_url, prefix=f"{settings.bus_channel_prefix}{uuid.uuid4().hex[:8]}:")
    await bus.connect()
    cache = ActorCache(bus, ttl)
    task = asyncio.create_task(cache.follow())
    try:
        await wait_until(lambda: cache._followed_on is not None, 5.0)  # subscribed (live unless ttl is 0)
        yield cache, bus
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.disconnect()


async def session_token(db: Database, settings: Settings, user_id: int | None = None) -> tuple[int, str]:
    user_id = user_id or await create_user(db)
    async with db.transaction() as session:
        pair = await sessions.open_session(session, settings, user_id)
    return user_id, pair.access_token


async def revoke_silently(db: Database, settings: Settings, token: str) -> None:
    """Sign the session out in the database only: no message is published (``db`` has no bus)."""
    sid = auth.decode_token(settings.secret_key, token, "access").session_id
    async with db.transaction() as session:
        await sessions.revoke(session, sid, reason="logout")


async def announce(bus: Bus, user_ids: Iterable[int], first_seq: int = 1) -> None:
    """Publish access changes on the platform-wide channel, numbered from ``first_seq``."""
    for seq, user_id in enumerate(user_ids, first_seq):
        await bus.publish(topics.ACCESS, wire(seq, AccessChange(user_id, "logout").to_json()))


async def resolved(cache: ActorCache, db: Database, settings: Settings, token: str) -> Actor:
    return await cache.resolve(db, settings, token)


async def test_a_hit_answers_from_memory_until_the_users_access_changes(db: Database, settings: Settings) -> None:
    async with following(settings) as (cache, bus):
        user_id, token = await session_token(db, settings)
        _, other_token = await session_token(db, settings)
        assert (await resolved(cache, db, settings, token)).user_id == user_id
        await resolved(cache, db, settings, other_token)
        await revoke_silently(db, settings, token)
        await revoke_silently(db, settings, other_token)
        assert (await resolved(cache, db, settings, token)).user_id == user_id  # a hit: no read

        await announce(bus, [user_id])
        await wait_until(lambda: len(cache) == 1, 5.0)
        actor = await resolved(cache, db, settings, token)
        assert (actor.user_id, actor.token_error) == (None, "INVALID_TOKEN")
        assert (await resolved(cache, db, settings, other_token)).authenticated  # another user: still cached


async def test_api_tokens_are_cached_by_hash_and_dropped_with_their_user(db: Database, settings: Settings) -> None:
    user_id = await create_user(db)
    async with db.transaction() as session:
        _, token = await api_tokens.create(session, Actor(user_id=user_id), name="bot", can_write=False)
    async with following(settings) as (cache, bus):
        actor = await resolved(cache, db, settings, token)
        assert (actor.user_id, actor.can_write) == (user_id, False)
        assert actor.api_token_id is not None
        async with db.transaction() as session:
            await api_tokens.revoke(session, Actor(user_id=user_id), token_id=actor.api_token_id)
        assert (await resolved(cache, db, settings, token)).authenticated  # nothing announced yet
        await announce(bus, [user_id])
        await wait_until(lambda: len(cache) == 0, 5.0)
        assert not (await resolved(cache, db, settings, token)).authenticated


async def test_without_a_live_follower_every_request_reads_the_database(db: Database, settings: Settings) -> None:
    bus = Bus("memory://")
    await bus.connect()
    try:
        cache = ActorCache(bus, 60.0)  # never followed
        assert not cache.live
        user_id, token = await session_token(db, settings)
        assert (await resolved(cache, db, settings, token)).user_id == user_id
        assert len(cache) == 0
        await revoke_silently(db, settings, token)
        assert not (await resolved(cache, db, settings, token)).authenticated
    finally:
        await bus.disconnect()


async def test_a_follower_that_stops_empties_the_cache_and_stops_answering(db: Database, settings: Settings) -> None:
    async with following(settings) as (cache, _):
        _, token = await session_token(db, settings)
        await resolved(cache, db, settings, token)
        assert len(cache) == 1
    assert not cache.live  # the follower was cancelled
    assert len(cache) == 0
    await revoke_silently(db, settings, token)
    assert not (await resolved(cache, db, settings, token)).authenticated


async def test_a_skipped_seq_empties_the_cache(db: Database, settings: Settings) -> None:
    async with following(settings) as (cache, bus):
        tokens = [await session_token(db, settings) for _ in range(2)]
        for _, token in tokens:
            await resolved(cache, db, settings, token)
        stranger = await create_user(db)
        await announce(bus, [stranger], first_seq=1)
        await wait_until(lambda: cache._seen == 1, 5.0)
        assert len(cache) == 2  # not one of theirs
        await announce(bus, [stranger], first_seq=3)  # 2 never arrived: it may have been one of theirs
        await wait_until(lambda: len(cache) == 0, 5.0)
        assert cache.live


async def test_a_heartbeat_ahead_of_what_was_seen_empties_the_cache(db: Database, settings: Settings) -> None:
    class Heads:
        async def heads(self, channels: Iterable[str]) -> dict[str, int]:
            return dict.fromkeys(channels, 4)  # the log has access changes this process never got

    async with following(settings) as (cache, bus):
        _, token = await session_token(db, settings)
        await resolved(cache, db, settings, token)
        assert len(cache) == 1
        bus.start_heartbeats(Heads(), 0.05)
        await wait_until(lambda: len(cache) == 0 and cache._seen == 4, 5.0)
        await resolved(cache, db, settings, token)  # caught up: caching again
        assert len(cache) == 1


async def test_entries_expire_after_the_ttl(db: Database, settings: Settings) -> None:
    async with following(settings, ttl=0.2) as (cache, _):
        _, token = await session_token(db, settings)
        await resolved(cache, db, settings, token)
        await revoke_silently(db, settings, token)
        assert (await resolved(cache, db, settings, token)).authenticated
        await asyncio.sleep(0.25)
        assert not (await resolved(cache, db, settings, token)).authenticated


async def test_a_ttl_of_zero_turns_the_cache_off(db: Database, settings: Settings) -> None:
    async with following(settings, ttl=0.0) as (cache, _):
        _, token = await session_token(db, settings)
        await resolved(cache, db, settings, token)
        assert not cache.live
        assert len(cache) == 0


@pytest.mark.skipif(REDIS_URL is None, reason="a lost bus connection needs Redis")
async def test_a_lost_redis_connection_empties_the_cache_once_the_gap_says_so(db: Database, settings: Settings) -> None:
    async with following(settings) as (cache, bus):
        _, token = await session_token(db, settings)
        await resolved(cache, db, settings, token)
        backend = bus.backend
        assert isinstance(backend, RedisPubSubBackend)
        await _kill_subscriber_connection(backend)
        # Whatever was published meanwhile is lost: the cache answered nothing from before the loss.
        await revoke_silently(db, settings, token)
        await wait_until(lambda: backend.reconnects == 1 and cache.live, 15.0)
        assert len(cache) == 0
        assert not (await resolved(cache, db, settings, token)).authenticated


async def test_a_remade_bus_connection_is_not_trusted_before_its_gap_arrives(db: Database, settings: Settings) -> None:
    """``live`` compares the connection the follower saw live with the bus's now: a reconnect whose
    gap is not yet delivered (or a connection down) reads the database."""

    class Remade(Bus):
        remade = False

        @property
        def connection(self) -> int | None:
            return 1 if self.remade else 0

    bus = Remade("memory://")
    await bus.connect()
    cache = ActorCache(bus, 60.0)
    task = asyncio.create_task(cache.follow())
    try:
        await wait_until(lambda: cache.live, 5.0)
        _, token = await session_token(db, settings)
        await resolved(cache, db, settings, token)
        bus.remade = True
        assert not cache.live
        await revoke_silently(db, settings, token)
        assert not (await resolved(cache, db, settings, token)).authenticated
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.disconnect()


async def test_a_follower_started_while_the_bus_is_down_goes_live_with_the_reconnects_gap(
    db: Database, settings: Settings
) -> None:
    class Down(Bus):
        up: int | None = None

        @property
        def connection(self) -> int | None:
            return self.up

    bus = Down("memory://")
    await bus.connect()
    cache = ActorCache(bus, 60.0)
    task = asyncio.create_task(cache.follow())
    try:
        await wait_until(lambda: topics.ACCESS in bus._channels, 5.0)
        _, token = await session_token(db, settings)
        await resolved(cache, db, settings, token)
        assert not cache.live and len(cache) == 0
        bus.up = 1  # reconnected: the resubscription's acknowledgement brings a gap
        assert not cache.live
        bus._channels[topics.ACCESS].receive(GAP)
        await wait_until(lambda: cache.live, 5.0)
        await resolved(cache, db, settings, token)
        assert len(cache) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.disconnect()


async def test_in_one_app_the_request_after_a_sign_out_or_a_lost_role_is_refused(
    live_with: Callable[..., AbstractAsyncContextManager[Live]],
) -> None:
    async with live_with(actor_cache_seconds=60) as app:
        actors: ActorCache = app.app.state["actors"]
        await wait_until(lambda: actors.live, 5.0)
        user_id, token = await session_token(app.db, app.settings, await create_user(app.db, is_stats_viewer=True))
        _, admin = await session_token(app.db, app.settings, await create_user(app.db, is_admin=True))
        target = await create_user(app.db)
        grant = {"user_id": target, "role": "creator"}
        assert (await app.http.post("/api/v1/stats/role", json=grant, headers=bearer(token))).status_code == 200
        assert len(actors) == 1  # the viewer, kept
        lose = {"user_id": user_id, "role": "stats_viewer", "value": False}
        assert (await app.http.post("/api/v1/stats/role", json=lose, headers=bearer(admin))).status_code == 200
        assert (await app.http.post("/api/v1/stats/role", json=grant, headers=bearer(token))).status_code == 403

        assert (await gql(app.http, "{ me { id } }", token=token))["data"]["me"] is not None
        assert (await app.http.delete("/api/v1/auth/logout", headers=bearer(token))).status_code == 200
        assert (await app.http.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401
        assert (await gql(app.http, "{ me { id } }", token=token))["data"] == {"me": None}
