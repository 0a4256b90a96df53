"""A live shared subscription as one small object fed by its channel (issue 14 point 3).

A graphql-transport-ws subscription runs as a task: Strawberry's operation pipeline, graphql-core's
``map_async_iterable``, the resolver's generators and ``streams.follow``, ~9 suspended frames and
their objects per subscriber, woken once per message each. Once such a subscription is live and
has read everything its channel buffered, and its stream is *direct* (the resolver yields the
follow's items unfiltered: ``messages(direct=True)``, today ``marketUpdated``) with a payload that
is the same for every viewer (``stream_execution.FLAT``), its task hands the stream over to a
``Sink`` and ends without ``complete``; the operation stays registered on the socket (it counts
against the socket's operation limit, and ``complete`` from the client or the socket's close stops
the sink).

A ``Sink`` is a cursor in the channel's shared buffer (``bus.Subscription``) that the channel's
fan-out calls directly: for each message in sequence it takes the result shared by every
subscriber of the same operation and variables (executed and encoded once per message,
``stream_execution``), and writes the pre-built frame to the socket: the frame's bytes, built once
per message for every sink of the same operation, variables and operation id (``_frames``), go
straight to the transport (``ws_protocol.text_frame``, ``ws_guard.SEND_NOW``) when the socket can
take them at once. A write that cannot complete at once (the transport is above its high-water
mark, the server offers no ``SEND_NOW``) goes through the socket's ``send`` and continues in a
task, and the sink reads on from the buffer when it is done; meanwhile the buffer keeps what the
sink has not read, as for any subscriber, so a slow reader is left behind by the buffer and cut
off by the read deadline exactly as before (``ws_protocol``).

Anything but the next message in sequence (a skipped seq or a heartbeat ahead: repair from the
log; a lost Redis connection; being left behind by the buffer; a result with errors, or one that
must be awaited) is not handled here: the sink leaves the channel and the socket's handler runs the
operation again through the ordinary path, resumed with ``fromSeq`` = the last seq sent (or, when
left behind, without it: a fresh SNAPSHOT), and that task hands over again once caught up. So
``seq``, replay, GAP/SNAPSHOT and error frames are the ordinary path's. Legacy ``graphql-ws``
sockets and streams that are not direct (private streams, ``eventChart``'s per-pool filter,
``trades``) keep the ordinary path. A sign-out or an expired token closes the socket with 4403
(``socket_watch``); the socket's end stops its sinks.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Protocol

from predictql import metrics
from predictql.graphql_server.stream_execution import FLAT, FRAME_SUFFIX, SharedEventExecutor, _remember, encoded
from predictql.schema.scalars import Long
from predictql.schema.subscriptions import StreamEventKind, StreamMessage
from predictql.subscriptions.bus import Bus, Gap, Heartbeat, Message, Subscription
from predictql.subscriptions.streams import Followed, delivered
from predictql.ws_protocol import text_frame

if TYPE_CHECKING:
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation

ENABLED = True  # False: subscriptions stay tasks (bench/fanout_memory.py measures both in one run)

log = logging.getLogger("predictql.sinks")

# One executor per (operation, variables) while sinks use it: a sink holds no executor of its own.
_executors: weakref.WeakValueDictionary[tuple[int, str], SharedEventExecutor] = weakref.WeakValueDictionary()


class Resumer(Protocol):
    """The socket's handler: runs an operation again through the ordinary path, reading on from a
    cursor after a seq (``streams.Followed``)."""

    def resume(self, operation: Operation[Any, Any], at: tuple[int, Subscription]) -> None: ...


FrameWriter = Callable[[str], Coroutine[Any, Any, None]]
# A pre-built frame (``ws_protocol.text_frame``) to the socket at once: False if it must go through
# the ``FrameWriter`` (``ServerClosable.send_frame_now``).
FrameWriterNow = Callable[[bytes], bool]


def take_over(
    resumer: Resumer,
    operation: Operation[Any, Any],
    writers: tuple[FrameWriter, FrameWriterNow],
    prefix: str,
    executor: SharedEventExecutor,
    payload: StreamMessage[Any],
    followed: Followed,
) -> bool:
    """Replace the running subscription by a ``Sink`` if it may be (see the module): True if done."""
    subscription, bus, live = followed.subscription, followed.bus, followed.live
    if (
        not ENABLED
        or not followed.direct
        or not followed.at_rest
        or followed.follows != 1
        or subscription is None
        or bus is None
        or live is None
        or not subscription.caught_up
        or not isinstance(payload.data, FLAT)
        or executor._variables_key is None
        or operation.completed
        or operation.handler.operations.get(operation.id) is not operation
    ):
        return False
    key = (id(executor.operation), executor._variables_key)
    shared = _executors.get(key)
    if shared is None or shared.operation is not executor.operation:
        shared = _executors[key] = executor
    sink = Sink(resumer, operation, writers, prefix, shared, bus, live, followed)
    # The task ends now (``HandedOver``); the operation keeps a finished future instead, so the
    # task, its exception and the traceback's frames go (``cleanup_operation`` cancels it: no-op).
    operation.task = _finished()  # type: ignore[assignment]  # awaited and cancelled only, as a task
    subscription.hand_over(sink)
    _sinks[operation] = sink
    metrics.SUBSCRIPTIONS.labels(sink.stream).inc()  # the follow's own count ends with its task
    sink.wake()  # nothing buffered yet: it waits at the end
    return True


# By operation, until it is stopped (``complete``, the socket's end) or handed back.
_sinks: dict[Operation[Any, Any], Sink] = {}


def stop(operation: Operation[Any, Any]) -> None:
    """The operation is over (``complete`` from the client, the socket's end): stop its sink."""
    sink = _sinks.pop(operation, None)
    if sink is not None:
        sink.stop()


def sinks_of(operations: Any) -> list[Sink]:
    """The sinks of these operations (tests)."""
    return [sink for operation in operations if (sink := _sinks.get(operation)) is not None]


class Sink(Subscription):
    """One subscriber of a channel, fed by the channel's fan-out (see the module)."""

    __slots__ = (
        "bus",
        "executor",
        "last",
        "live",
        "operation",
        "prefix",
        "resumer",
        "stopped",
        "stream",
        "task",
        "write",
        "write_now",
    )

    def __init__(
        self,
        resumer: Resumer,
        operation: Operation[Any, Any],
        writers: tuple[FrameWriter, FrameWriterNow],
        prefix: str,
        executor: SharedEventExecutor,
        bus: Bus,
        live: Callable[[str], Any],
        followed: Followed,
    ) -> None:
        self._waiter = None
        self.overflows = 0
        self.resumer, self.operation, self.prefix = resumer, operation, prefix
        self.write, self.write_now = writers
        self.executor, self.bus, self.live = executor, bus, live
        self.stream = metrics.stream_of(followed.channel)
        self.last = followed.last
        self.task: asyncio.Task[None] | None = None
        self.stopped = False

    def wake(self) -> None:
        if self.task is None and not self.stopped:
            try:
                self._pump()
            except Exception:  # called by the channel's fan-out: never let it reach the bus listener
                log.exception("a subscription sink failed; its stream goes back to the ordinary path")
                self._resume()

    def _pump(self) -> None:
        """Send what the buffer holds past this cursor, while the socket takes it at once."""
        channel = self._channel
        while not self.stopped:
            if channel.closed:  # the bus shuts down: the stream ends
                self._end()
                return
            if self._next >= channel.end:
                channel.idle(self)
                return
            if self._next < channel.base:  # the buffer moved on without this sink: the ordinary
                self._resume()  # path's gap (one shared snapshot)
                return
            frame = self._frame(channel.ring[self._next - channel.base])
            if frame is _RESUME:
                self._resume()
                return
            self._next += 1
            if not isinstance(frame, tuple):  # None: nothing to send for it
                continue
            try:
                if self.operation.completed or self.write_now(frame[1]):  # completed: as ``write`` drops it
                    continue
                pending = _start(self.write(frame[0]))
            except Exception:  # the socket is gone: its handler stops the operation
                self._leave()
                return
            if pending is not None:  # the transport is full: finish the write, then read on
                self.task = asyncio.ensure_future(self._finish(*pending))
                return

    def _frame(self, item: Message | Gap | Heartbeat) -> tuple[str, bytes] | object | None:
        """The frame for ``item`` (its text and its bytes on the wire), None to skip it,
        ``_RESUME`` for the ordinary path."""
        log = self.bus.log
        if isinstance(item, Message):
            seq = item.seq
            if seq and seq <= self.last:
                return None  # already sent
            if seq > self.last + 1 and log is not None:
                return _RESUME  # missed messages: repaired from the log
            key = (id(self.executor), self.prefix, self.live)
            built = _frames.get(key)
            if built is not None and built[0]() is item and built[1]() is self.executor:  # another sink's
                frame: tuple[str, bytes] | object = built[2]
            else:
                value = item.view(self.live)
                if value is None:
                    self.last = max(self.last, seq)
                    return None
                frame = self._result(StreamEventKind.LIVE, seq, value)
                if isinstance(frame, tuple):
                    _remember(_frames, key, (weakref.ref(item), weakref.ref(self.executor), frame))
            if frame is not _RESUME:
                self.last = max(self.last, seq)
                _tally(self.stream, max(0.0, time.time() - item.published))
            return frame
        if isinstance(item, Heartbeat):
            if item.seq > self.last and log is not None:
                return _RESUME
            frame = self._result(StreamEventKind.HEARTBEAT, max(self.last, item.seq), None)
            if frame is not _RESUME:
                delivered(self.stream, "HEARTBEAT").inc()
            return frame
        return _RESUME  # a gap (a lost Redis connection)

    def _result(self, kind: StreamEventKind, seq: int, value: Any) -> tuple[str, bytes] | object:
        result = self.executor.shared_result(StreamMessage(kind=kind, seq=Long(seq), data=value))
        if result is None:
            return _RESUME
        text = self.prefix + encoded(result.data) + FRAME_SUFFIX
        return text, text_frame(text)

    async def _finish(self, coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
        try:
            await _complete(coroutine, waiting)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._leave()
            return
        finally:
            self.task = None
        self._pump()

    def _resume(self) -> None:
        """Hand the stream back to the ordinary path, which reads on from this cursor's position
        (the item the sink could not send) after ``last``; the cursor stays in the channel (its
        buffer keeps what it has not read) until the new task adopts it (see the module)."""
        _sinks.pop(self.operation, None)
        operation = self.operation
        if self.stopped or operation.completed or operation.handler.operations.get(operation.id) is not operation:
            self._leave()
            return
        self.stopped = True
        metrics.SUBSCRIPTIONS.labels(self.stream).dec()
        self.resumer.resume(operation, (self.last, self))

    def _end(self) -> None:
        """The channel closed (the bus shuts down): ``complete``, as the ordinary path sends. The
        deliveries not yet recorded are recorded now: the loop may not run the flush queued by the
        last fan-out (``_tally``) once the process shuts down."""
        _flush()
        self._leave()
        _sinks.pop(self.operation, None)
        operation = self.operation
        task = asyncio.ensure_future(operation.send_operation_message({"id": operation.id, "type": "complete"}))
        _ending.add(task)
        task.add_done_callback(_ending.discard)

    def _leave(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.leave()
            metrics.SUBSCRIPTIONS.labels(self.stream).dec()

    def stop(self) -> None:
        self._leave()
        if self.task is not None:
            self.task.cancel()


_RESUME = object()

# LIVE deliveries since the last flush: their lags and their count by stream. One fan-out calls
# thousands of sinks in one callback; their metrics (the bus-lag histogram, the deliveries counter)
# are recorded once after it (``loop.call_soon``, queued before the fan-out's first write wakes
# anyone) rather than with two locked increments per delivery; and at once when the bus shuts down
# (``Sink._end``), the flush then queued finding nothing left.
_lags: list[float] = []
_counts: dict[str, int] = {}


def _tally(stream: str, lag: float) -> None:
    if not _lags:
        asyncio.get_running_loop().call_soon(_flush)
    _lags.append(lag)
    _counts[stream] = _counts.get(stream, 0) + 1


def _flush() -> None:
    if not _lags:
        return
    lags, counts = _lags[:], dict(_counts)
    _lags.clear()
    _counts.clear()
    metrics.observe_many(metrics.BUS_LAG, lags)
    for stream, count in counts.items():
        delivered(stream, "LIVE").inc(count)


# The LIVE frame of the latest message per (executor, operation id's prefix, decoder): every sink
# of one operation text, variables and id sends the same bytes. An entry refers to its message and
# executor weakly (it must not keep a message's payload, and with it the shared result, beyond the
# channel's buffer: ``stream_execution``); a few entries (one fan-out reads one message).
_frames: dict[
    tuple[int, str, Callable[[str], Any]],
    tuple[weakref.ref[Message], weakref.ref[SharedEventExecutor], tuple[str, bytes]],
] = {}


def _finished() -> asyncio.Future[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


_ending: set[asyncio.Task[Any]] = set()


def _start(coroutine: Coroutine[Any, Any, None]) -> tuple[Coroutine[Any, Any, None], Any] | None:
    """Run ``coroutine`` until it completes (None) or must wait (it and what it waits for)."""
    try:
        waiting = coroutine.send(None)
    except StopIteration:
        return None
    return coroutine, waiting


async def _complete(coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Run the rest of a coroutine ``_start`` left waiting on ``waiting``, in the current task."""
    while True:
        try:
            if waiting is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:
                await _Waited(waiting)
        except BaseException as exc:
            try:
                waiting = coroutine.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return


class _Waited:
    """Awaits the future a coroutine yielded (its own ``await`` already flagged it as blocking)."""

    __slots__ = ("future",)

    def __init__(self, future: Awaitable[Any]) -> None:
        self.future = future

    def __await__(self) -> Generator[Any, None, Any]:
        future = self.future
        while not future.done():  # type: ignore[attr-defined]
            future._asyncio_future_blocking = True  # type: ignore[attr-defined]
            yield future
        return None
