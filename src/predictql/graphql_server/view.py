"""The Strawberry ASGI view: GraphQL over HTTP (our own request handling), the typed context, sockets.

HTTP requests are read and validated by ``http_request``, persisted queries resolved, and only then
is the shared cache of public queries consulted or the operation run (``response_cache``; GET
answers carry ``Cache-Control`` and ``ETag`` and honour ``If-None-Match``); WebSockets stay Strawberry's, with the
legacy ``graphql-ws`` handler of ``legacy_ws``; ``ws_operations`` limits the operations of both protocols.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult

from predictql.auth import ANONYMOUS, request_token
from predictql.graphql_server.cache_control import CacheScope, ScopeCache
from predictql.graphql_server.http_request import (
    ALLOWED_OVER,
    GraphQLRequest,
    RequestError,
    bad_request,
    not_over,
    read_request,
    response_media_type,
)
from predictql.graphql_server.http_responses import error_response, is_request_error, result_response
from predictql.graphql_server.persisted_queries import PersistedQueries
from predictql.graphql_server.response_cache import (
    NO_GENERATION,
    Entry,
    Generation,
    ResponseCache,
    etag_of,
    is_query,
    key_of,
)
from predictql.graphql_server.root import build_schema
from predictql.graphql_server.socket_watch import ServerClosable, unwatch, watch
from predictql.graphql_server.stream_execution import encode_message
from predictql.graphql_server.ws_operations import TRANSPORT_SCOPE_KEY, LegacyWSHandler, TransportWSHandler
from predictql.schema.context import Context
from predictql.services.actor_cache import ActorCache
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
    scopes: ScopeCache
    persisted = PersistedQueries()
    # Operations over a socket spend the HTTP budgets and are bounded in number (ws_operations).
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    max_subscriptions_per_connection = None  # ws_operations answers with a code instead
    websocket_adapter_class = ServerClosable  # quiet once a socket's session ended (socket_watch)

    def encode_json(self, data: object) -> str:
        return encode_message(data)  # orjson; a subscription event's data encoded once for all

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            try:
                await super().__call__(scope, receive, send)
            finally:
                await unwatch(scope)  # the socket is over: so is what watched its token
            return
        response = await self._answer(Request(scope=scope, receive=receive))
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        """Validate the request fully, then consult the cache, then run (GraphQL over HTTP)."""
        media = response_media_type(request.headers.get("accept"))
        if self._wants_ide(request):
            return await self.render_graphql_ide(request)
        try:
            operation, to_store = self.persisted.resolve(await read_request(request))
            return await self._cached_or_run(request, operation, media, to_store)
        except RequestError as error:
            return error_response(error, media)

    def _wants_ide(self, request: Request) -> bool:
        if self.graphql_ide is None or request.method != "GET":  # a POST: no query string to parse
            return False
        params = request.query_params
        return (
            "query" not in params
            and "extensions" not in params  # a GET persisted query carries only its hash
            and "text/html" in request.headers.get("accept", "")
        )

    async def _cached_or_run(
        self, request: Request, operation: GraphQLRequest, media: str, to_store: str | None
    ) -> Response:
        """A PUBLIC query is answered from the one shared entry, computed as an anonymous caller."""
        assert operation.query is not None  # resolved by the persisted-query store
        shareable = (
            self.cache.enabled
            and "chat_session_id" not in request.cookies  # a support-chat visitor's own conversation
            and is_query(operation.query, operation.operation_name)
            and self.scopes.scope(operation.query) is CacheScope.PUBLIC
        )
        generation: Generation = getattr(request.state, "cache_generation", NO_GENERATION)
        shared = await generation.current() if shareable else None
        if shared is None:
            return self._http_caching(request, await self._run(request, operation, media, to_store))
        signed_in = "authorization" in request.headers or "access_token" in request.cookies
        key = key_of(operation.query, operation.operation_name, operation.variables, media)
        version = (request.state.db.version, shared)
        # Missing: perhaps another request is computing this very entry (response_cache.filling).
        entry = self.cache.get(key, version) or await self.cache.filled(key, version)
        if entry is not None:
            if signed_in and entry.personal:
                return self._http_caching(request, await self._run(request, operation, media, to_store))
            hit = Response(entry.body, media_type=media, headers={"X-Cache": "hit"})
            return self._http_caching(request, hit, entry)
        with self.cache.filling(key, version):
            response = await self._run(request, operation, media, to_store, anonymous=True)
            if response.status_code == 200 and b'"errors"' not in response.body:
                entry = self.cache.put(key, version, bytes(response.body))
        if entry is None:
            if signed_in:  # perhaps only the caller may see it: their own answer
                response = await self._run(request, operation, media, to_store)
            return self._http_caching(request, response)
        if signed_in and entry.personal:
            return self._http_caching(request, await self._run(request, operation, media, to_store))
        return self._http_caching(request, response, entry)

    def _http_caching(self, request: Request, response: Response, entry: Entry | None = None) -> Response:
        """``Cache-Control`` and ``ETag`` for a CDN: public only for a shared entry everyone may see."""
        if request.method != "GET" or response.status_code != 200:
            response.headers["Cache-Control"] = "no-store"
            return response
        if entry is not None and not entry.personal:
            control, etag = f"public, max-age={int(self.cache.ttl)}", entry.etag
        else:
            control, etag = "private, no-cache", etag_of(bytes(response.body))
        if etag in _tags(request.headers.get("if-none-match", "")):
            response = Response(status_code=304)
        response.headers["Cache-Control"] = control
        response.headers["ETag"] = etag
        return response

    async def _run(
        self,
        request: Request,
        operation: GraphQLRequest,
        media: str,
        to_store: str | None,
        *,
        anonymous: bool = False,
    ) -> Response:
        sub_response = await self.get_sub_response(request)
        context = await self._context(request, sub_response, resolve_caller=not anonymous)
        try:
            result = await self.schema.execute(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                operation_name=operation.operation_name,
                allowed_operation_types=ALLOWED_OVER[operation.method],
                operation_extensions=operation.extensions,
            )
        except InvalidOperationTypeError as exc:
            raise not_over(operation.method, exc.operation_type) from None
        except CannotGetOperationTypeError as exc:
            error = GraphQLError(exc.as_http_error_reason(), extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
            result = ExecutionResult(data=None, errors=[error])
        except MissingQueryError:
            raise bad_request("missing `query`: send the GraphQL document as a string") from None
        if to_store is not None and operation.query and not is_request_error(result):
            self.persisted.store(to_store, operation.query)
        return result_response(result, media, sub_response)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        return await self._context(request, response, resolve_caller=True)

    async def _context(
        self, request: Request | WebSocket, response: Response | WebSocket, *, resolve_caller: bool
    ) -> Context:
        state = request.state
        context = Context(
            request=request,
            response=response,
            db=state.db,
            settings=state.settings,
            mailer=state.mailer,
            http=state.http,
            bus=state.bus,
            writer=state.writer,
        )
        token = request_token(request.headers.get("authorization"), request.cookies.get("access_token"))
        if isinstance(request, Request) and token and resolve_caller:
            context.actor = await _actors(request).resolve(context.db, context.settings, token)
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        await unwatch(context.request.scope)  # the legacy protocol allows a second connection_init
        token = token_from_params(context.connection_params or {})
        if token is None:
            context.actor = ANONYMOUS
            return None
        actor = await _actors(context.request).resolve(context.db, context.settings, token)
        if not actor.authenticated:
            code = actor.token_error or "UNAUTHORIZED"
            socket = context.request
            if code == "TOKEN_EXPIRED" and isinstance(socket, WebSocket) and socket.scope.get(TRANSPORT_SCOPE_KEY):
                # graphql-transport-ws refuses with 4403 "Forbidden" and no payload: say why in the
                # reason, as a socket whose token expires while open is closed (socket_watch).
                await socket.close(4403, "token expired")
            raise ConnectionRejectionError({"code": code})
        context.actor = actor
        watch(context, token)  # ends the socket with its session, its roles or its token's expiry
        return {"user_id": actor.user_id}


def _actors(request: Request | WebSocket) -> ActorCache:
    """The process's cache of resolved callers (``services.actor_cache``), from the app's state."""
    actors: ActorCache = request.state.actors
    return actors


def _tags(header: str) -> set[str]:
    """The entity tags of an ``If-None-Match`` header (weak ones compare equal, RFC 9110)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def make_graphql_app(settings: Settings, *, traced: type[SchemaExtension] | None = None) -> PredictGraphQL:
    schema = build_schema(settings, traced=traced)
    app = PredictGraphQL(
        schema,
        graphql_ide="graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
        allowed_origins=settings.ws_origins,
        keep_alive=True,
        keep_alive_interval=30,
    )
    app.cache = ResponseCache(settings.graphql_cache_ttl_ms / 1000)
    app.scopes = ScopeCache(schema._schema)
    app.persisted = PersistedQueries()
    return app
