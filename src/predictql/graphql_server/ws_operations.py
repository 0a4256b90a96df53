"""Operations over a GraphQL WebSocket obey the same limits as over HTTP.

Each ``subscribe`` (graphql-transport-ws) or ``start`` (graphql-ws) message is one operation: it
spends one request from the same per-IP and per-user budgets as an HTTP request (the keys come
from ``gateway.budget_keys``: the socket's client address and the token of its
``connection_init``). Over budget, that operation alone is answered with an error whose
``extensions.code`` is ``RATE_LIMITED`` (with ``retryAfter`` in seconds) and the socket stays open;
a client that keeps sending regardless is cut off by the gateway's message-rate bound (4429). At
most ``PREDICTQL_WS_MAX_OPERATIONS`` operations run at once on a socket; one more is answered with
``TOO_MANY_OPERATIONS``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graphql import GraphQLError, GraphQLFormattedError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ErrorMessage as TransportError
from strawberry.subscriptions.protocols.graphql_ws.types import ErrorMessage, StartMessage

from predictql.gateway import budget_keys
from predictql.graphql_server import sinks
from predictql.graphql_server.legacy_ws import LegacyGraphQLWS
from predictql.graphql_server.socket_watch import ServerClosable
from predictql.graphql_server.stream_execution import FRAME_SUFFIX, SharedEventExecutor, direct_frames, frame_prefix
from predictql.ratelimit import RateLimiter
from predictql.schema.context import Context
from predictql.schema.subscriptions import StreamMessage
from predictql.subscriptions import streams
from predictql.subscriptions.bus import Subscription


def _token(context: Context) -> str | None:
    from predictql.graphql_server.view import token_from_params  # the view imports this module

    return token_from_params(context.connection_params or {})


async def refusal(context: Context, running: int) -> GraphQLFormattedError | None:
    """The error for an operation that may not start now, or None when it may."""
    if running >= context.settings.ws_max_operations:
        message = f"at most {context.settings.ws_max_operations} operations may run at once on a socket"
        return GraphQLError(message, extensions={"code": "TOO_MANY_OPERATIONS"}).formatted
    limiter: RateLimiter | None = getattr(context.request.state, "limiter", None)
    if limiter is None:
        return None
    client = context.request.client
    keys = budget_keys(client.host if client else "unknown", _token(context), context.settings.secret_key)
    verdict = await limiter.hit(*keys)
    if verdict.allowed:
        return None
    extensions = {"code": "RATE_LIMITED", "retryAfter": verdict.retry_after}
    return GraphQLError("too many requests", extensions=extensions).formatted


# Set on a graphql-transport-ws socket's scope: its refusals are told by the close reason alone.
TRANSPORT_SCOPE_KEY = "pq_transport_ws"


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_message(self, message: Message) -> None:
        try:
            await super().handle_message(message)
        finally:
            # The base class's receive loop keeps its last message until the next one comes: for an
            # idle subscriber, its subscribe message for good (~1 KB: two dicts, their keys, the
            # type; the operation keeps its id, query and variables).
            received: object = message  # as decoded: a dict unless the client sent other JSON
            if isinstance(received, dict):
                received.clear()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        self.context.request.scope[TRANSPORT_SCOPE_KEY] = True
        await super().handle_connection_init(message)
        if self.connection_init_received:
            # The init timeout's task is cancelled and ends on its own; kept, its CancelledError's
            # traceback would hold its frames for the socket's life (~1 KB per idle subscriber).
            self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Unacknowledged sockets and duplicate ids are closed by the base class; only an
        # operation that would run spends from the budgets.
        if self.connection_acknowledged and message["id"] not in self.operations:
            error = await refusal(self.context, len(self.operations))
            if error is not None:
                await self.send_message(TransportError(id=message["id"], type="error", payload=[error]))
                return
        await super().handle_subscribe(message)

    async def run_operation(
        self, operation: Operation[Context, None], resume: tuple[int, Subscription] | None = None
    ) -> None:
        # Shared subscription results are sent from the stream as encoded frames (stream_execution);
        # once live, a shared stream is handed over to a sink fed by its channel (sinks).
        socket, prefix = self.websocket, frame_prefix(operation.id, "next")
        assert isinstance(socket, ServerClosable)

        async def write(frame: str) -> None:
            if not operation.completed:  # as Operation.send_operation_message
                await socket.send_frame(frame)

        async def send(data: str) -> None:
            await write(prefix + data + FRAME_SUFFIX)

        followed = streams.track(resume)

        def hand_over(executor: SharedEventExecutor, payload: StreamMessage[Any]) -> bool:
            # The sink checks ``operation.completed`` before ``send_frame_now`` (one call fewer per delivery).
            writers = (write, socket.send_frame_now)
            return sinks.take_over(self, operation, writers, prefix, executor, payload, followed)

        direct_frames(send, hand_over)
        try:
            await super().run_operation(operation)
        finally:
            followed.release()

    def resume(self, operation: Operation[Context, None], at: tuple[int, Subscription]) -> None:
        """Run ``operation`` again through the ordinary path, reading on from ``at`` (its sink
        handed the stream back: ``sinks``)."""
        operation.task = asyncio.create_task(self.run_operation(operation, at))
        operation.task.add_done_callback(self._task_done)

    async def cleanup_operation(self, operation_id: str) -> None:
        operation = self.operations.get(operation_id)
        if operation is not None:
            sinks.stop(operation)
        await super().cleanup_operation(operation_id)


class LegacyWSHandler(LegacyGraphQLWS):
    async def handle_start(self, message: StartMessage) -> None:
        if self.connection_acknowledged:
            error = await refusal(self.context, len(self.tasks) - (message["id"] in self.tasks))
            if error is not None:
                await self.send_message(ErrorMessage(type="error", id=message["id"], payload=error))
                return
        await super().handle_start(message)
