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
  ``StreamMessage`` root is shared. Across users only when its payload is one of the ``FLAT``
  types, whose plain fields depend on nothing but the payload; any other payload (a ``Trade``, whose
  ``fee`` and ``trader`` depend on who asks, and whose links load rows) is shared among the sockets
  of one user only (anonymous sockets are one viewer). Private streams' payloads are per user
  anyway: each user's channel decodes its own objects. A result with errors is never shared.
- ``encode_message`` (the view's ``encode_json``) encodes a result's ``data`` once and splices it
  into each subscriber's ``next``/``data`` frame, which differs only by the operation id.

**The fast path.** A shared result does not need Strawberry's per-result pipeline either (its
result handling, every extension's ``on_stream_result`` hook, the transport's ``next`` message
built as a dict and encoded): none of it changes an error-free result. The socket's operation task
(``ws_operations``: both protocols) sets a ``FrameSink`` for its operation (``direct_frames``);
the subscription's source stream is wrapped (``cancellable_iterable``) so that each event whose
result is error-free is sent from there as the operation's pre-built ``next``/``data`` prefix, the
data's encoding (once per event for all subscribers) and a closing ``}}``, and never reaches
Strawberry. A result with errors (or any result when no sink is set, as over HTTP) passes on as
before, already computed (``_Computed``: it is not executed twice), so ``seq``, replay, ``complete``
and error frames are what they were; frames keep their order (one task sends both kinds).

A shared result lives exactly as long as its event's payload object (a weak reference removes the
entry when the payload dies, before its identity can be reused): the payload lives while its message
is in the channel's buffer or being sent, so the memo empties with the buffer after a burst. The
encoding memo holds its data (so an identity is never reused while its entry lives) and is small:
encoding again is cheap.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from graphql import ExecutionResult, Executor

from predictql.graphql_server.leaf_fields import LeafFieldsExecutor
from predictql.jsonutil import dumps_str
from predictql.schema.my_streams import BalanceUpdate, OrderBookUpdate
from predictql.schema.subscriptions import ChartUpdate, MarketUpdate, StreamMessage

MEMO_SIZE = 32  # encodings kept (the subscribers of one message encode within one fan-out)
# Payloads whose result is the same for every subscriber: plain fields only, nothing per viewer.
FLAT = (MarketUpdate, ChartUpdate, OrderBookUpdate, BalanceUpdate)

_results: dict[tuple[int, str, Any, int, int, int | None], tuple[object, Any]] = {}
# Results of messages without data (HEARTBEAT, GAP): the same for every subscriber of the operation
# and variables; a few recent ones (a heartbeat reaches every subscriber within one fan-out).
_bare: dict[tuple[int, str, Any, int, int, int | None], tuple[object, Any]] = {}


def _memo(key: tuple[int, str, Any, int, int, int | None], data: object) -> tuple[object, Any] | None:
    return _results.get(key) if data is not None else _bare.get(key)


_encoded: dict[int, tuple[object, str]] = {}


# Sends one error-free result's encoded ``data`` as the current operation's frame (None: not a socket).
FrameSink = Callable[[str], Awaitable[None]]
_sink: ContextVar[FrameSink | None] = ContextVar("predictql_frame_sink", default=None)


# Offered the subscription once it is live and caught up: True when it took the stream over
# (``graphql_server.sinks``), and the subscription's task then ends without ``complete``.
HandOver = Callable[["SharedEventExecutor", StreamMessage[Any]], bool]
_hand_over: ContextVar[HandOver | None] = ContextVar("predictql_hand_over", default=None)


def direct_frames(sink: FrameSink, hand_over: HandOver | None = None) -> None:
    """Shared results of the subscription the current task runs go to ``sink`` (the task's own
    context: set at the top of an operation's task, it ends with it); ``hand_over`` is offered the
    stream after each event sent."""
    _sink.set(sink)
    _hand_over.set(hand_over)


class HandedOver(asyncio.CancelledError):
    """Ends a subscription's task whose stream a sink took over: no ``complete`` is sent."""


class _Computed:
    """An event whose result was computed on the fast path but must take the ordinary one."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result


def _remember(memo: dict[Any, Any], key: Any, entry: Any) -> None:
    if len(memo) >= MEMO_SIZE:
        del memo[next(iter(memo))]
    memo[key] = entry


class SharedEventExecutor(LeafFieldsExecutor):
    _variables_key: str | None = None

    def _key(self, root: StreamMessage[Any]) -> tuple[int, str, Any, int, int, int | None]:
        """Which subscribers may share one result: same operation, variables and message, and the
        same viewer unless the payload is ``FLAT`` (the same for everyone)."""
        if self._variables_key is None:  # once per subscription: the per-event copies inherit it
            self._variables_key = repr(sorted(self.variable_values.coerced.items()))
        data = root.data
        viewer = None if data is None or isinstance(data, FLAT) else self.context_value.actor.user_id
        return (id(self.operation), self._variables_key, root.kind, int(root.seq), id(data), viewer)

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        if self._variables_key is None:  # once per subscription: the per-event copies inherit it
            self._variables_key = repr(sorted(self.variable_values.coerced.items()))
        executor = super().build_per_event_executor(payload)
        # graphql-core 3.3's copy shares the subscription's subfield memo, keyed by the identity of
        # field lists each event builds anew: it grew by every event for the subscription's life
        # (~4 KB per message, measured with bench_overload.py). An event's memo lives with the event.
        executor._relevant_sub_fields = {}
        return executor

    def cancellable_iterable(self, iterable: AsyncIterable[Any]) -> AsyncIterable[Any]:
        sink = _sink.get()
        if sink is not None:  # a socket's subscription: shared results skip Strawberry's pipeline
            iterable = self._direct(iterable, sink)
        return super().cancellable_iterable(iterable)

    async def _direct(self, source: AsyncIterable[Any], sink: FrameSink) -> AsyncIterator[Any]:
        events = source.__aiter__()
        hand_over = _hand_over.get()
        try:
            async for payload in events:
                if not isinstance(payload, StreamMessage):
                    yield payload
                    continue
                found = _memo(self._key(payload), payload.data)  # another subscriber's: no executor copy
                if found is not None and found[0] is self.operation:
                    result = found[1]
                else:
                    result = self.build_per_event_executor(payload).execute_operation()
                if not isinstance(result, ExecutionResult):  # a shared future, or a coroutine
                    result = await result
                if result.errors or result.data is None:
                    yield _Computed(result)
                    continue
                await sink(encoded(result.data))
                if hand_over is not None and hand_over(self, payload):
                    raise HandedOver
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    def shared_result(self, root: StreamMessage[Any]) -> ExecutionResult | None:
        """``root``'s error-free result, shared by every subscriber with the same key, when it can be
        had without waiting (else None: the caller takes the ordinary path)."""
        found = _memo(self._key(root), root.data)
        if found is not None and found[0] is self.operation:
            result = found[1]
        else:
            result = self.build_per_event_executor(root).execute_operation()
        if not isinstance(result, ExecutionResult) or result.errors or result.data is None:
            return None
        return result

    def execute_operation(self, serially: bool | None = None) -> Any:
        root, variables = self.root_value, self._variables_key
        if isinstance(root, _Computed):
            return root.result
        if variables is None or not isinstance(root, StreamMessage):
            return super().execute_operation(serially)
        operation, data = self.operation, root.data
        key = self._key(root)
        found = _memo(key, data)
        if found is not None and found[0] is operation:
            return found[1]
        result = super().execute_operation(serially)
        if data is None:  # HEARTBEAT, GAP: shared while recent (the memo keeps its operation alive)
            if not self.is_awaitable(result) and not getattr(result, "errors", True):
                _remember(_bare, key, (operation, result))
            return result
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


def _forget_failed(key: tuple[int, str, Any, int, int, int | None], done: Awaitable[Any]) -> None:
    assert isinstance(done, asyncio.Future)
    if done.cancelled() or done.exception() is not None or done.result().errors:
        _results.pop(key, None)


def encoded(data: object) -> str:
    """``data`` as JSON, encoded once for every subscriber sent the same result."""
    found = _encoded.get(id(data))
    if found is None or found[0] is not data:
        found = (data, dumps_str(data))
        _remember(_encoded, id(data), found)
    return found[1]


def frame_prefix(operation_id: object, kind: str) -> str:
    """The text of an operation's ``next`` (``data`` in graphql-ws) frame before its data."""
    return f'{{"id":{dumps_str(operation_id)},"type":"{kind}","payload":{{"data":'


FRAME_SUFFIX = "}}"


def encode_message(message: object) -> str:
    """A transport message as JSON text; a subscription result's data is encoded once for all."""
    if isinstance(message, dict) and message.get("type") in ("next", "data"):
        payload = message.get("payload")
        if isinstance(payload, dict) and payload.keys() == {"data"} and payload["data"] is not None:
            return frame_prefix(message.get("id"), message["type"]) + encoded(payload["data"]) + FRAME_SUFFIX
    return dumps_str(message)
