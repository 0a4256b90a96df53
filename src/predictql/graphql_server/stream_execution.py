"""A subscription event is executed and encoded once per channel message, not once per subscriber.

graphql-core executes the selection set again for every subscriber and every event, and the
transport encodes each result to JSON again; with a thousand subscribers of one market, that was
~70 % of the server's CPU (``bench/RESULTS.md``). But the subscribers of one channel receive the
*same* payload object (``bus.Message.view`` decodes a message once per process), and most send the
same subscription text. So:

- ``SharedEventExecutor`` (the schema's executor class) keeps each per-event result under the
  operation (ParserCache hands every subscriber of one query text the same parsed document), the
  coerced variables and the event (``kind``, ``seq``, the payload object's identity). Another
  subscriber with the same operation and variables gets the result already computed. Only a
  ``StreamMessage`` root is shared: its payload types are plain fields, read from the payload and
  from nothing that depends on who is asking (private streams' payloads are per user anyway: each
  user's channel decodes its own objects). A result with errors is never shared.
- ``encode_message`` (the view's ``encode_json``) encodes a result's ``data`` once and splices it
  into each subscriber's ``next``/``data`` frame, which differs only by the operation id.

A shared result lives exactly as long as its event's payload object (a weak reference removes the
entry when the payload dies, before its identity can be reused): the payload lives while its message
is in the channel's buffer or being sent, so the memo empties with the buffer after a burst. The
encoding memo holds its data (so an identity is never reused while its entry lives) and is small:
encoding again is cheap.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable
from typing import Any

from graphql import Executor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from predictql.jsonutil import dumps_str
from predictql.schema.subscriptions import StreamMessage

MEMO_SIZE = 32  # encodings kept (the subscribers of one message encode within one fan-out)

_results: dict[tuple[int, str, Any, int, int], tuple[object, Any]] = {}
_encoded: dict[int, tuple[object, str]] = {}


def _remember(memo: dict[Any, Any], key: Any, entry: Any) -> None:
    if len(memo) >= MEMO_SIZE:
        del memo[next(iter(memo))]
    memo[key] = entry


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    _variables_key: str | None = None

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        if self._variables_key is None:  # once per subscription: the per-event copies inherit it
            self._variables_key = repr(sorted(self.variable_values.coerced.items()))
        executor = super().build_per_event_executor(payload)
        # graphql-core 3.3's copy shares the subscription's subfield memo, keyed by the identity of
        # field lists each event builds anew: it grew by every event for the subscription's life
        # (~4 KB per message, measured with bench_overload.py). An event's memo lives with the event.
        executor._relevant_sub_fields = {}
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        root, variables = self.root_value, self._variables_key
        if variables is None or not isinstance(root, StreamMessage):
            return super().execute_operation(serially)
        operation, data = self.operation, root.data
        key = (id(operation), variables, root.kind, int(root.seq), id(data))
        found = _results.get(key)
        if found is not None and found[0] is operation:
            return found[1]
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            result = asyncio.ensure_future(result)
            result.add_done_callback(lambda done: _forget_failed(key, done))
        elif getattr(result, "errors", True):
            return result
        try:
            weakref.finalize(data, _results.pop, key, None)
        except TypeError:  # not weakly referenceable (payloads are dataclasses, which are): not shared
            return result
        _results[key] = (operation, result)
        return result


def _forget_failed(key: tuple[int, str, Any, int, int], done: Awaitable[Any]) -> None:
    assert isinstance(done, asyncio.Future)
    if done.cancelled() or done.exception() is not None or done.result().errors:
        _results.pop(key, None)


def encode_message(message: object) -> str:
    """A transport message as JSON text; a subscription result's data is encoded once for all."""
    if isinstance(message, dict) and message.get("type") in ("next", "data"):
        payload = message.get("payload")
        if isinstance(payload, dict) and payload.keys() == {"data"} and payload["data"] is not None:
            data = payload["data"]
            found = _encoded.get(id(data))
            if found is None or found[0] is not data:
                found = (data, dumps_str(data))
                _remember(_encoded, id(data), found)
            return f'{{"id":{dumps_str(message.get("id"))},"type":"{message["type"]}","payload":{{"data":{found[1]}}}}}'
    return dumps_str(message)
