"""Market affinity: with ``serve --workers N`` each market's writes are executed by ONE process.

Two processes writing the same market take turns on its row lock (``FOR UPDATE``): their batches
are half the size and their backends wait on each other (bench/RESULTS.md, branch ``workers``).
So the owner of market ``m`` is worker ``m % N``, and a worker that receives a write for a market
it does not own hands the writer ITEM (not the HTTP request: authentication, validation, rate
limits, idempotency units and the response stay with the receiving worker) to the owner, which
queues it on its own ``MarketWriter`` (it joins the owner's batches) and sends back the outcome.

- **Who is who.** The supervisor (``cli.serve``) makes a private runtime directory (0700) and
  names it and N in the environment (``RELAY_DIR_ENV``, ``WORKERS_ENV``). Each worker claims the
  first free index by an exclusive ``flock`` on ``slot-I.lock`` there (held while it lives: a
  worker restarted after a crash takes the slot the dead one freed) and listens on
  ``worker-I.sock``. A worker that finds no free slot owns nothing and relays every write.
- **Correctness does not depend on the relay**: every batch still locks the market row. The
  owner unreachable (restarting, its socket gone, the connection failing before the item was
  written, or the owner stopping and refusing it): ``NotSent``, and the item runs locally as it
  would without affinity. The connection lost AFTER the item was written: the owner may have
  committed it, so the caller gets ``WriterStopped`` (503), never a second execution.
- **A caller cancelled** while its relayed item waits: the owner is told (``CANCEL``) and cancels
  its own caller, with the writer's rule: skipped while still queued; once taken, it commits with
  its batch and nobody is answered.
- **Commit effects** are published by the process that commits (the owner), as for a write another
  worker commits: stream messages and notifications through the bus, the shared GraphQL cache's
  generation through Redis. The receiving worker bumps its own ``Database.version`` when an
  outcome comes back, so its per-process response cache does not outlive a write it answered.

Wire format (one kept-open connection per peer, requests multiplexed by id): a frame is a 13-byte
header ``!IQB`` (payload length, request id, kind) and its payload. Frames are parsed in
``data_received`` (an ``asyncio.Protocol``, no reader task) and the frames of one event-loop turn go
out in one write (a batch's answers, a burst's items). Between trusted local processes of one
user (the directory is 0700), payloads are pickles (``dumps``): a table row (an ``Order``, a
``Trade``) travels as its class and its loaded columns and arrives as a transient copy
(``models.core.build``), a dataclass as its ``__init__`` fields; a REST trade's outcome then costs
~39 us to dump and load, against ~90 us with the ORM's own pickling of its instance state:

- ``RUN``     receiver -> owner: ``pickle((market_id, item))``
- ``CANCEL``  receiver -> owner: empty; the caller of that id was cancelled
- ``DONE``    owner -> receiver: ``pickle(outcome)``: the result, the item's ``DomainError``, or
  ``Failed`` (anything else the owner's writer raised: a database outage or a bug)
- ``REFUSED`` owner -> receiver: empty; not taken (the owner is stopping): run it locally
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import functools
import io
import itertools
import logging
import os
import pickle
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from sqlmodel import SQLModel

from predictql import metrics, outages
from predictql.errors import DomainError, Unavailable
from predictql.models import core

log = logging.getLogger("predictql.writer.relay")

RELAY_DIR_ENV = "PREDICTQL_WRITER_RELAY_DIR"  # set by the supervisor, not a setting
WORKERS_ENV = "PREDICTQL_WRITER_RELAY_WORKERS"

HEADER = struct.Struct("!IQB")
RUN, CANCEL, DONE, REFUSED = 1, 2, 3, 4
PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL
RETRY_CONNECT_SECONDS = 1.0  # an owner found unreachable is not asked again before this

Outcome = Any
ExecuteHere = Callable[[int, Any], "asyncio.Future[Outcome]"]  # the owner's writer: ``MarketWriter.submit``


class NotSent(Exception):
    """The item was not handed to its owner: run it here."""


class WriterStopped(Unavailable):
    """The writer (here, or the owner a relayed item went to) stopped before answering: 503."""

    def __init__(self, message: str = "the market writer stopped") -> None:
        super().__init__(message, retry_after=outages.RETRY_AFTER_SECONDS)


@dataclass(frozen=True, slots=True)
class Failed:
    """The owner's writer raised something that is not the item's own ``DomainError``."""

    message: str
    outage: bool  # the database out of reach: 503, as the same failure here would answer

    def error(self) -> Exception:
        if self.outage:
            return Unavailable("the database is not available; retry later", retry_after=outages.RETRY_AFTER_SECONDS)
        return RuntimeError(f"the market's owning worker failed: {self.message}")


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        cls: Any = type(obj)
        how = _reduction(cls)
        if how is None:
            return NotImplemented
        is_row, names = how
        if is_row:  # its loaded columns, rebuilt as a transient copy
            loaded = obj.__dict__
            return core.build, (cls, {name: loaded[name] for name in names if name in loaded})
        return cls, tuple([getattr(obj, name) for name in names])  # a dataclass, rebuilt by __init__


@functools.cache
def _reduction(cls: type) -> tuple[bool, tuple[str, ...]] | None:
    """(is a table row, its columns) or (False, a dataclass's fields when ``__init__`` takes them all,
    in order); None: pickled as usual. Per class, once (``isinstance`` of a model is slow)."""
    if dataclasses.is_dataclass(cls):
        fields = dataclasses.fields(cls)
        return (False, tuple(field.name for field in fields)) if all(field.init for field in fields) else None
    if issubclass(cls, SQLModel) and hasattr(cls, "__table__"):
        return True, core.columns(cls)
    return None


def dumps(value: Any) -> bytes:
    """A frame's payload: ``value`` pickled, table rows as their columns."""
    out = io.BytesIO()
    _Pickler(out, PICKLE_PROTOCOL).dump(value)
    return out.getvalue()


def encode(request_id: int, kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(len(payload), request_id, kind) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    """(request id, kind, payload) from a stream (tests); ``asyncio.IncompleteReadError`` at its end."""
    length, request_id, kind = HEADER.unpack(await reader.readexactly(HEADER.size))
    return request_id, kind, (await reader.readexactly(length) if length else b"")


@dataclass(slots=True)
class Counts:
    """What this process's relay did (tests; ``/metrics`` has them as ``predictql_writer_relayed_items``)."""

    sent: int = 0  # items handed to their owner and answered
    served: int = 0  # items executed here for another worker
    local: int = 0  # items meant for another owner, run here (unreachable or refused)
    lost: int = 0  # items whose owner's connection broke after they were sent (WriterStopped)
    pickle_seconds: float = 0.0  # CPU (this thread) spent pickling and unpickling items and outcomes

    def add(self, role: str) -> None:
        setattr(self, role, getattr(self, role) + 1)
        metrics.WRITER_RELAYED.labels(role).inc()


class _Frames(asyncio.Protocol):
    """One Unix-socket connection: frames parsed as they arrive and handed to ``on_frame``; frames
    sent in one event-loop turn written together."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def send(self, request_id: int, kind: int, payload: bytes = b"") -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise NotSent
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(HEADER.pack(len(payload), request_id, kind))
        if payload:
            self._out.append(payload)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(out)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset, size = 0, HEADER.size
        while len(buffer) - offset >= size:
            length, request_id, kind = HEADER.unpack_from(buffer, offset)
            end = offset + size + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[offset + size : end])
            offset = end
            try:
                self.on_frame(request_id, kind, payload)
            except Exception:  # one frame's trouble must not take the connection's others down
                log.exception("writer relay: a frame failed")
        del buffer[:offset]

    def on_frame(self, request_id: int, kind: int, payload: bytes) -> None:
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost()

    def lost(self) -> None:
        pass

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _ToOwner(_Frames):
    """A kept-open connection to one owner: callers waiting by request id."""

    def __init__(self, counts: Counts) -> None:
        super().__init__()
        self.counts = counts
        self.waiting: dict[int, asyncio.Future[tuple[int, bytes]]] = {}

    def on_frame(self, request_id: int, kind: int, payload: bytes) -> None:
        future = self.waiting.pop(request_id, None)
        if future is not None and not future.done():
            future.set_result((kind, payload))

    def lost(self) -> None:
        for future in self.waiting.values():
            if not future.done():
                self.counts.add("lost")
                future.set_exception(WriterStopped("the market's owning worker went away before answering"))
        self.waiting.clear()


class _FromPeer(_Frames):
    """The owner's side of another worker's connection: each item queued on this writer."""

    def __init__(self, relay: Relay) -> None:
        super().__init__()
        self.relay = relay
        self.running: dict[int, asyncio.Future[Outcome]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.relay._peers.add(self)

    def lost(self) -> None:  # what it sent still runs (its callers there get WriterStopped)
        self.relay._peers.discard(self)

    def on_frame(self, request_id: int, kind: int, payload: bytes) -> None:
        if kind == CANCEL:
            running = self.running.get(request_id)
            if running is not None:
                running.cancel()  # as a caller here cancelled: skipped while queued
            return
        if kind != RUN:
            return
        relay = self.relay
        if relay._stopping:
            self.send(request_id, REFUSED)
            return
        started = time.thread_time()
        try:
            market_id, item = pickle.loads(payload)
            future = relay.execute_here(market_id, item)
        except Exception:  # not executed: its caller runs it (another release's item, say)
            log.exception("a relayed writer item could not be taken; refused")
            self.send(request_id, REFUSED)
            return
        finally:
            relay.counts.pickle_seconds += time.thread_time() - started
        self.running[request_id] = future
        relay._serving.add(future)
        future.add_done_callback(functools.partial(self._answer, request_id))

    def _answer(self, request_id: int, future: asyncio.Future[Outcome]) -> None:
        relay = self.relay
        relay._serving.discard(future)
        if self.running.get(request_id) is future:
            del self.running[request_id]
        if future.cancelled():
            return  # its caller was cancelled (CANCEL): nobody waits
        error = future.exception()
        if error is None:
            outcome = future.result()
        elif isinstance(error, DomainError):  # the owner's writer stopping (WriterStopped)
            outcome = error
        else:
            outcome = Failed(f"{type(error).__name__}: {error}", outages.unavailable(error) is not None)
        relay.counts.add("served")
        started = time.thread_time()
        try:
            answer = dumps(outcome)
        except Exception as exc:
            log.exception("a writer outcome could not be pickled")
            answer = dumps(Failed(f"unpicklable outcome: {exc}", False))
        relay.counts.pickle_seconds += time.thread_time() - started
        with contextlib.suppress(NotSent):  # the peer is gone: its caller got WriterStopped
            self.send(request_id, DONE, answer)


class Relay:
    """This worker's side of market affinity: owner lookup, the client to the peers, the server."""

    def __init__(self, directory: Path, workers: int, execute_here: ExecuteHere) -> None:
        self.directory = directory
        self.workers = workers
        self.execute_here = execute_here
        self.index: int | None = None
        self.counts = Counts()
        self._slot: IO[bytes] | None = None
        self._server: asyncio.Server | None = None
        self._stopping = False
        self._ids = itertools.count(1)
        self._connections: dict[int, _ToOwner] = {}
        self._connecting: dict[int, asyncio.Task[_ToOwner]] = {}
        self._retry_at: dict[int, float] = {}
        self._serving: set[asyncio.Future[Outcome]] = set()  # items taken for the others, unanswered
        self._peers: set[_FromPeer] = set()  # the owner's side of the others' connections

    # -- ownership --------------------------------------------------------------------------------

    def owner(self, market_id: int) -> int:
        return market_id % self.workers

    def owns(self, market_id: int) -> bool:
        return self.owner(market_id) == self.index

    def socket_path(self, index: int) -> Path:
        return self.directory / f"worker-{index}.sock"

    async def start(self) -> None:
        """Claim a free index and listen on its socket (no free index: own nothing, relay all)."""
        for index in range(self.workers):
            try:
                slot = (self.directory / f"slot-{index}.lock").open("ab")
            except OSError:  # the directory gone: own nothing (items for others then run here)
                log.exception("writer relay: no slot file in %s", self.directory)
                break
            try:
                fcntl.flock(slot.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                slot.close()
                continue
            self._slot, self.index = slot, index
            break
        if self.index is None:
            log.warning("no free writer slot in %s: this worker owns no market", self.directory)
            return
        path = self.socket_path(self.index)
        path.unlink(missing_ok=True)  # a dead predecessor's
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _FromPeer(self), path=str(path))
        os.chmod(path, 0o600)
        log.info("writer relay: worker %d owns the markets m with m %% %d == %d", self.index, self.workers, self.index)

    async def aclose(self) -> None:
        """Stop owning: new items are refused (their callers run them locally), those under way are
        answered, then every connection closes."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
            if self.index is not None:
                self.socket_path(self.index).unlink(missing_ok=True)
        if self._serving:
            await asyncio.gather(*list(self._serving), return_exceptions=True)
            await asyncio.sleep(0)  # their answers' write (``_Frames._flush``)
        for task in self._connecting.values():
            task.cancel()
        for connection in [*self._connections.values(), *self._peers]:
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()
        if self._slot is not None:
            self._slot.close()  # releases the flock

    # -- the receiving worker: hand an item to its owner ----------------------------------------

    async def call(self, market_id: int, item: Any) -> Outcome:
        """The owner's outcome for ``item`` (result or DomainError, returned); ``NotSent`` when it
        was not handed over; ``WriterStopped`` when the owner went away after it was; what the
        owner's writer raised otherwise (``Failed.error``)."""
        owner = self.owner(market_id)
        connection = await self._connection(owner)
        started = time.thread_time()
        try:
            payload = dumps((market_id, item))
        except Exception:
            log.exception("a writer item could not be pickled; it runs here")
            raise NotSent from None
        finally:
            self.counts.pickle_seconds += time.thread_time() - started
        request_id = next(self._ids)
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        connection.send(request_id, RUN, payload)  # NotSent when the connection is closing
        connection.waiting[request_id] = future
        try:
            kind, answer = await future
        except asyncio.CancelledError:
            if connection.waiting.pop(request_id, None) is not None:
                with contextlib.suppress(NotSent):
                    connection.send(request_id, CANCEL)
            raise
        if kind == REFUSED:
            raise NotSent
        self.counts.add("sent")
        started = time.thread_time()
        outcome = pickle.loads(answer)
        self.counts.pickle_seconds += time.thread_time() - started
        if isinstance(outcome, Failed):
            raise outcome.error()
        return outcome

    async def _connection(self, owner: int) -> _ToOwner:
        connection = self._connections.get(owner)
        if connection is not None and not connection.closed:
            return connection
        if self._stopping or time.monotonic() < self._retry_at.get(owner, 0.0):
            raise NotSent
        connecting = self._connecting.get(owner)
        if connecting is None:
            connecting = self._connecting[owner] = asyncio.create_task(self._connect(owner))
            connecting.add_done_callback(lambda _: self._connecting.pop(owner, None))
        try:
            return await asyncio.shield(connecting)
        except (OSError, NotSent):
            raise NotSent from None

    async def _connect(self, owner: int) -> _ToOwner:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_unix_connection(
                lambda: _ToOwner(self.counts), str(self.socket_path(owner))
            )
        except OSError:
            self._retry_at[owner] = time.monotonic() + RETRY_CONNECT_SECONDS
            raise NotSent from None
        self._connections[owner] = connection
        return connection


def from_environment(affinity: bool, execute_here: ExecuteHere) -> Relay | None:
    """This worker's relay when the supervisor asked for one (``serve --workers N``, N > 1) and the
    setting allows it; None otherwise (one process: nothing is relayed, nothing costs)."""
    directory = os.environ.get(RELAY_DIR_ENV)
    workers = int(os.environ.get(WORKERS_ENV) or 0)
    if not affinity or not directory or workers < 2:
        return None
    return Relay(Path(directory), workers, execute_here)
