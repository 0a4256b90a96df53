"""The legacy ``graphql-ws`` protocol (subscriptions-transport-ws), behaving like the new one.

Strawberry's handler carries subscriptions only and closes a refused ``connection_init`` with 1011.
Clients that still speak it (Python ``gql``'s ``WebsocketsTransport`` picks it first) send queries
and mutations over the same socket, and tell a bad token from a server fault by the close code.
So here a refused token closes with 4403 as in ``graphql-transport-ws``, and a query or mutation
runs once: ``data`` then ``complete``, or ``error`` when it cannot run (as for a subscription).
"""

from __future__ import annotations

import asyncio

from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage
from strawberry.types.graphql import OperationType

from predictql.graphql_server.http_responses import is_request_error
from predictql.graphql_server.operations import operation_type
from predictql.graphql_server.socket_watch import ServerClosable
from predictql.graphql_server.stream_execution import FRAME_SUFFIX, direct_frames, frame_prefix
from predictql.schema.context import Context

ONCE = frozenset({OperationType.QUERY, OperationType.MUTATION})


class LegacyGraphQLWS(BaseGraphQLWSHandler[Context, None]):
    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await super().handle_connection_init(message)  # answers connection_error itself
            return
        self.context.connection_params = payload
        try:
            ack_payload = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as rejected:
            await self.send_message({"type": "connection_error", "payload": rejected.payload})
            await self.websocket.close(code=4403, reason="Forbidden")
            return
        if isinstance(ack_payload, dict):
            await self.send_message({"type": "connection_ack", "payload": ack_payload})
        else:
            await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        if operation_type(query, operation_name) not in ONCE:
            # Shared subscription results are sent from the stream as encoded frames (stream_execution).
            socket, prefix = self.websocket, frame_prefix(operation_id, "data")
            assert isinstance(socket, ServerClosable)

            async def send(data: str) -> None:
                await socket.send_frame(prefix + data + FRAME_SUFFIX)

            direct_frames(send)
            await super().handle_async_results(operation_id, query, operation_name, variables)
            return
        try:
            self.context.reset_loaders()  # the socket's context outlives one operation's rows
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=self.context,
                operation_name=operation_name,
                allowed_operation_types=ONCE,
            )
            if is_request_error(result):
                assert result.errors
                await self.send_message({"type": "error", "id": operation_id, "payload": result.errors[0].formatted})
                return
            await self.send_data_message(result, operation_id)
            await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:  # "stop" before it finished: as for a subscription
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.tasks.pop(operation_id, None)
