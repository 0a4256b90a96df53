"""The Strawberry ASGI view: builds the typed context and authenticates sockets."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from predictql.auth import ANONYMOUS, request_token
from predictql.jsonutil import dumps
from predictql.schema.context import Context
from predictql.schema.response_cache import ResponseCache, is_query, key_of
from predictql.schema.root import build_schema
from predictql.schema.stream_execution import encode_message
from predictql.services.sessions import resolve_actor
from predictql.settings import Settings


def token_from_params(params: dict[str, Any]) -> str | None:
    """``{"Authorization": "Bearer ..."}`` or ``{"token": "..."}`` in ``connection_init``."""
    token = params.get("token")
    if isinstance(token, str) and token:
        return token
    header = params.get("Authorization") or params.get("authorization")
    if isinstance(header, str) and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


class PredictGraphQL(GraphQL[Context, None]):
    cache = ResponseCache(0)

    def encode_json(self, data: object) -> str:
        return encode_message(data)  # orjson; a subscription event's data encoded once for all

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self._cached_or_run(request)
        except HTTPException as exc:
            # Strawberry answers transport errors (bad JSON, wrong content type, GET mutation)
            # in plain text; clients get the same JSON error shape as any other GraphQL error.
            code = "METHOD_NOT_ALLOWED" if exc.status_code == 405 else "BAD_REQUEST"
            body = {"data": None, "errors": [{"message": exc.reason, "extensions": {"code": code}}]}
            response = Response(dumps(body), status_code=exc.status_code, media_type="application/json")
        await response(scope, receive, send)

    async def _cached_or_run(self, request: Request) -> Response:
        cacheable = (
            self.cache.enabled
            and request.method == "POST"
            and "authorization" not in request.headers
            and "access_token" not in request.cookies
        )
        if not cacheable:
            return await self.run(request)
        found = key_of(await request.body())
        if found is None or not is_query(found[0], found[1]):
            return await self.run(request)
        version: int = request.state.db.version
        body = self.cache.get(found[2], version)
        if body is not None:
            return Response(body, media_type="application/json", headers={"X-Cache": "hit"})
        response = await self.run(request)
        if response.status_code == 200 and b'"errors"' not in response.body:
            self.cache.put(found[2], version, bytes(response.body))
        return response

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        state = request.state
        context = Context(
            request=request,
            response=response,
            db=state.db,
            settings=state.settings,
            mailer=state.mailer,
            http=state.http,
            bus=state.bus,
        )
        token = request_token(request.headers.get("authorization"), request.cookies.get("access_token"))
        if isinstance(request, Request) and token:
            async with context.db.session() as session:
                context.actor = await resolve_actor(session, context.settings, token)
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        token = token_from_params(context.connection_params or {})
        if token is None:
            context.actor = ANONYMOUS
            return None
        async with context.db.session() as session:
            actor = await resolve_actor(session, context.settings, token)
        if not actor.authenticated:
            raise ConnectionRejectionError({"code": actor.token_error or "UNAUTHORIZED"})
        context.actor = actor
        return {"user_id": actor.user_id}


def make_graphql_app(settings: Settings) -> PredictGraphQL:
    app = PredictGraphQL(
        build_schema(settings),
        graphql_ide="graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
        allowed_origins=settings.ws_origins,
        keep_alive=True,
        keep_alive_interval=30,
    )
    app.cache = ResponseCache(settings.graphql_cache_ttl_ms / 1000)
    return app
