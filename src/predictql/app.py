"""``create_app(settings)``: the one place that wires resources to the two faces.

The lifespan owns the engine, the bus, the rate limiter, the mailer and the HTTP client, and
yields them as state: Starlette copies that dict into every request's and socket's ``state``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp

from predictql import allocator, dashboard, debug_memory, logs, metrics, migrate, price_feeds, tracing
from predictql.clientip import ClientAddress, parse_networks
from predictql.db import Database, make_engine
from predictql.dispatch import App, Dispatch
from predictql.drain import Drain, install_sigterm
from predictql.gateway import Gateway, error_body
from predictql.graphql_server.response_cache import Generation, cache_redis_url
from predictql.graphql_server.view import make_graphql_app
from predictql.mail import Mailer
from predictql.media import media_files
from predictql.outages import unavailable
from predictql.ratelimit import RateLimiter
from predictql.rest_compat import routes as rest_routes
from predictql.rest_compat.errors import envelope
from predictql.services import idempotency, live, loops, order_expiry, p2p_expiry, writer_relay
from predictql.services.actor_cache import ActorCache
from predictql.services.market_writer import MarketWriter
from predictql.settings import Settings
from predictql.subscriptions import stream_log
from predictql.subscriptions.bus import Bus
from predictql.subscriptions.streams import SocketGate
from predictql.tracing import Tracing

log = logging.getLogger("predictql.app")


def _lifespan(
    settings: Settings, *, run_migrations: bool, drain_on_sigterm: bool = False, traced: Tracing | None = None
) -> Any:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        allocator.limit_arenas(settings.malloc_arena_max)  # before the database threads allocate
        engine = make_engine(
            settings.resolved_database_url,
            pool_size=settings.database_pool_size,
            connect_timeout=settings.database_connect_timeout_seconds,
            statement_timeout=settings.database_statement_timeout_seconds,
        )
        if run_migrations:
            await migrate.upgrade(engine)
        if traced is not None:
            traced.instrument_engine(engine)
        metrics.watch_pool(engine)
        bus = Bus(
            settings.broadcast_url,
            queue_size=settings.bus_queue_size,
            max_lag=settings.bus_max_lag_seconds,
            prefix=settings.bus_channel_prefix,
        )
        bus.tracer = traced
        with traced.untraced() if traced is not None else nullcontext():  # background loops: no spans
            await bus.connect()
            db = Database(engine, publisher=bus)
            db.begin_hooks.append(idempotency.claim_in)
            # Order, position, balance and book messages as they are at the end; then all are numbered.
            db.commit_hooks.append(live.final_states(settings.fee_bps))
            db.commit_hooks.append(stream_log.sequence)
            # Callers resolved from memory; a change of access answers once every process knows.
            actors = ActorCache(bus, settings.actor_cache_seconds)
            db.commit_hooks.append(actors.committed)
            # Every commit invalidates the shared GraphQL cache of every process sharing the Redis.
            generation = Generation(cache_redis_url(settings), f"{settings.bus_channel_prefix}GRAPHQL_CACHE_GENERATION")
            db.committed_hooks.append(generation.bump)
            # Group commit: every write to one market goes through its writer (services.market_writer).
            writer = MarketWriter(db)
            # Market affinity (serve --workers N): each market's writes go to the worker that owns it.
            writer.relay = writer_relay.from_environment(settings.writer_affinity, writer.submit)
            if writer.relay is not None:
                await writer.relay.start()
            bus.log = log_reader = stream_log.StreamLog(db)
            bus.start_heartbeats(log_reader, settings.stream_heartbeat_seconds)
            background = [
                asyncio.create_task(actors.follow(), name="actor cache follower"),
                asyncio.create_task(
                    stream_log.prune_forever(log_reader, settings.stream_retention_seconds), name="stream log pruner"
                ),
                asyncio.create_task(
                    order_expiry.sweep_forever(db, settings.order_expiry_sweep_seconds), name="order expiry sweep"
                ),
                asyncio.create_task(
                    p2p_expiry.sweep_forever(db, settings.p2p_expiry_sweep_seconds), name="p2p expiry sweep"
                ),
                asyncio.create_task(loops.run_forever(db, settings), name="loop events"),
                *price_feeds.start(db, settings),  # the exchange / FX connectors the settings choose
            ]
            if settings.malloc_trim_seconds:
                background.append(
                    asyncio.create_task(allocator.trim_forever(settings.malloc_trim_seconds), name="malloc trim")
                )
            if settings.debug_memory is not None:
                background.append(
                    asyncio.create_task(
                        debug_memory.census_forever(
                            settings.debug_memory, settings.debug_memory_seconds, settings.debug_memory_frames
                        ),
                        name="memory census",
                    )
                )
        mailer = Mailer(settings)
        # Support-chat messages per session (services.support_chat), in the same counters' store.
        chat_limiter = RateLimiter(
            settings.chat_messages_per_minute,
            settings.redis_url,
            namespace=f"{settings.bus_channel_prefix}CHAT",
            fail_open=settings.rate_limit_fail_open,
        )
        settings.avatar_dir.mkdir(parents=True, exist_ok=True)
        drain = Drain(settings.drain_sockets_seconds)
        restore_sigterm = install_sigterm(drain) if drain_on_sigterm else None
        async with httpx.AsyncClient(timeout=10) as http:
            # Objects alive now live until shutdown: keep them out of the GC's generations.
            gc.collect()
            gc.freeze()
            if settings.gc_young_threshold:
                # A request allocates a few hundred objects: at Python's 700 the youngest generation
                # was collected every few requests, ~7 % of a trade's CPU (bench/RESULTS.md, httpcost).
                gc.set_threshold(settings.gc_young_threshold, *gc.get_threshold()[1:])
            try:
                yield {
                    "db": db,
                    "writer": writer,
                    "bus": bus,
                    "actors": actors,
                    "sockets": SocketGate(settings.ws_max_connections),
                    "settings": settings,
                    "mailer": mailer,
                    "http": http,
                    "started_at": time.monotonic(),
                    "drain": drain,
                    "chat_limiter": chat_limiter,
                    "cache_generation": generation,
                }
            finally:
                if restore_sigterm is not None:
                    restore_sigterm()
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                if writer.relay is not None:
                    await writer.relay.aclose()
                await writer.aclose()
                await mailer.drain()
                await bus.disconnect()
                await db.dispose()
                await generation.close()
                metrics.unwatch_pool(engine)

    return lifespan


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    if status == 405:
        allow = dict(exc.headers) if isinstance(exc, HTTPException) and exc.headers else None  # Allow
        return envelope(
            405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.url.path}", headers=allow
        )
    if status == 404 and (canonical := _without_slash(request)) is not None:
        # Starlette's own redirect has an empty body; every answer of ours is JSON.
        # Percent-encoded: a header is Latin-1, and the path may hold any character (or a lone
        # surrogate, from invalid UTF-8 escapes).
        canonical = quote(canonical, safe="/:@!$&'()*+,;=~", errors="surrogatepass")
        query = quote(request.url.query, safe="/:@!$&'()*+,;=~?%", errors="surrogatepass")
        location = canonical + (f"?{query}" if query else "")
        message = f"the path is {canonical}, without the trailing slash"
        return envelope(307, "TRAILING_SLASH", message, headers={"Location": location})
    if status == 404:
        return envelope(404, "NOT_FOUND", f"no route {request.method} {request.url.path}")
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    return envelope(status, "BAD_REQUEST", str(detail))


def _without_slash(request: Request) -> str | None:
    """The path without its trailing slash(es), when that path has a route."""
    path = request.url.path
    if len(path) < 2 or not path.endswith("/"):
        return None
    canonical = path.rstrip("/")
    # From the top: a Mount that was entered has already moved its prefix into root_path.
    scope = {**request.scope, "path": canonical, "root_path": request.scope.get("app_root_path", "")}
    return canonical if _routed(request.app.router.routes, scope) else None


def _routed(routes: list[BaseRoute], scope: dict[str, Any]) -> bool:
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if not isinstance(route, Mount):
            return True
        if _routed(route.routes, {**scope, **child}):
            return True
    return False


async def _server_error(request: Request, exc: Exception) -> Response:
    outage = unavailable(exc)  # e.g. the database failed while a GraphQL request was authenticated
    if outage is not None:
        body = error_body(request.url.path, outage.code, outage.message)
        return Response(body, 503, media_type="application/json", headers={"Retry-After": str(outage.retry_after)})
    rid = getattr(request.state, "request_id", "-")
    body = error_body(request.url.path, "INTERNAL_ERROR", f"internal error (request id {rid})")
    return Response(body, 500, media_type="application/json")


def exception_handlers() -> dict[Any, Any]:
    """Envelopes for Starlette's own 404/405/500 (the Gateway logs the exception with the request id)."""
    return {HTTPException: _not_found, 404: _not_found, 405: _not_found, Exception: _server_error}


def create_app(
    settings: Settings | None = None, *, run_migrations: bool = True, drain_on_sigterm: bool = False
) -> ASGIApp:
    settings = settings or Settings()
    settings.check()
    logs.configure(settings.log_level, settings.log_json)
    traced = tracing.setup(settings)  # None unless PREDICTQL_TRACING=true
    graphql = make_graphql_app(settings, traced=traced.graphql_extension() if traced is not None else None)
    routes: list[BaseRoute] = [
        Route("/graphql", graphql),  # every method: the view answers 405 GraphQL-shaped
        WebSocketRoute("/graphql", graphql),
        Route("/metrics", metrics.endpoint),  # 404 unless PREDICTQL_METRICS_TOKEN is presented
        Mount("/api/v1", app=Dispatch(rest_routes.all_routes(), redirect_slashes=False)),
        Mount("/media/avatars", media_files(settings.avatar_dir)),
        *dashboard.routes(),  # /dashboard: the live reference page (README "Dashboard")
    ]
    lifespan = _lifespan(settings, run_migrations=run_migrations, drain_on_sigterm=drain_on_sigterm, traced=traced)
    app = App(exception_handlers=exception_handlers())
    # Starlette, routed as its own Router routes (predictql.dispatch). No redirect of a trailing slash:
    # the 404 handler redirects, with a JSON body (_without_slash).
    app.router = Dispatch(routes, lifespan=lifespan, redirect_slashes=False)
    wrapped: ASGIApp = app
    if settings.cors_origins:
        wrapped = CORSMiddleware(
            wrapped,
            allow_origins=settings.cors_origins,
            allow_credentials="*" not in settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id", "Idempotency-Key"],
            expose_headers=[
                "X-Request-Id",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
                "Retry-After",
            ],
        )
    # Counters are per deployment, like bus channels: deployments sharing one Redis keep apart.
    limiter = RateLimiter(
        settings.rate_limit_per_minute,
        settings.redis_url,
        namespace=f"{settings.bus_channel_prefix}LIMITER",
        fail_open=settings.rate_limit_fail_open,
    )
    gateway = Gateway(
        wrapped,
        limiter=limiter,
        secret_key=settings.secret_key,
        max_body=settings.max_body_bytes,
        clients=ClientAddress(parse_networks(settings.trusted_proxies)),
        ws_rate=(settings.ws_messages_per_second, settings.ws_message_burst),
    )
    # Outermost: the request's span is current while the gateway logs, so its lines carry the trace id.
    return traced.asgi(gateway) if traced is not None else gateway


def app_for_serve() -> ASGIApp:
    """uvicorn's factory for ``predictql serve``: settings from the environment; the CLI migrated;
    SIGTERM drains first (``predictql.drain``)."""
    return create_app(Settings(), run_migrations=False, drain_on_sigterm=True)
