"""Group commit per market: one writer per process sequences every write to a market.

``MarketWriter.run(market_id, item)`` queues the item on its market. One drainer task per busy
market (started on demand, gone when the queue is empty) takes everything queued (at most
``BATCH_CAP``), opens ONE ``db.transaction()``, hands the items to the executor registered for
their type and commits once; each caller then gets its own outcome (its result, or its
``DomainError`` raised in the caller). The executor applies the items in arrival order and makes an
item that fails its own checks change nothing, so the others in its batch still commit.

- The callers of a batch are answered once the next batch has started: its first statements go
  out before their responses are built and written.

- A batch that raises something else (a database error, a bug) is re-run one item per transaction,
  so one poisoned request fails alone; but not when the database is out of reach (``outages``):
  then every caller gets that error at once (503), not one connect timeout after another.
- A caller cancelled while queued is skipped; one cancelled after its item was taken gets nothing,
  but the batch commits (or not) as a whole.
- A request inside an idempotency unit (``Database.unit()``: the stored response must commit in the
  same transaction as the work) runs alone, in the caller's own unit and task, not through the queue:
  the drainer's transaction is not the unit's, and on SQLite a unit holds the in-process write lock
  until its response is stored, so queueing it behind a batch that needs that lock would deadlock.
  It still takes its turn on the market: the executor locks the market row (PostgreSQL) or runs under
  the write lock (SQLite), exactly as every batch does.
- Several processes: each batch locks the market row (``FOR UPDATE``) once, so they serialize.
  While a batch waits for another process's batch to release that lock, this process's callers
  keep queueing; an executor that calls ``joined(session)`` once it holds the lock takes them into
  the batch it is about to apply (the lock wait then grows the batch instead of leaving them for a
  next batch that waits again: with two processes per market, half the batch each otherwise).
- Market affinity (``serve --workers N``): with a ``relay`` set, an item for a market another
  worker owns is handed to that worker's writer and joins its batches (``services.writer_relay``);
  it runs here when the owner cannot be reached. A unit's request still runs alone, here.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from predictql import metrics, outages
from predictql.db import Database
from predictql.errors import DomainError
from predictql.services import writer_relay
from predictql.services.writer_relay import WriterStopped

log = logging.getLogger("predictql.writer")

Item = Any
Outcome = Any  # the item's result, or the DomainError it fails with
Executor = Callable[[AsyncSession, int, list[Item]], Awaitable[list[Outcome]]]

BATCH_CAP = 256

_EXECUTORS: dict[type, Executor] = {}


def register(item_type: type, executor: Executor) -> None:
    """Items of ``item_type`` are executed, in batches, by ``executor``."""
    _EXECUTORS[item_type] = executor


def executor_for(item: Item) -> Executor:
    try:
        return _EXECUTORS[type(item)]
    except KeyError:
        raise TypeError(f"no executor registered for {type(item).__name__}") from None


_JOIN = "market_writer.join"  # session.info key: the batch's way to take what queued since


def joined(session: AsyncSession) -> list[Item]:
    """The items queued on this batch's market (same executor, up to the cap) since the batch was
    taken, now part of it, after its items (arrival order): an executor calls it once it holds the
    market's lock and applies them too, returning their outcomes after the others'. Nothing outside
    a writer's batch (``run_alone``, a unit) or when a failed batch's items re-run one by one."""
    join: Callable[[], list[Item]] | None = session.info.get(_JOIN)
    return join() if join is not None else []


def outcome_of(outcome: Outcome) -> Any:
    """The result, or raise the item's own error."""
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


async def run_alone(session: AsyncSession, market_id: int, item: Item) -> Any:
    """Execute one item in the caller's transaction (raises its DomainError: the caller rolls back)."""
    return outcome_of((await executor_for(item)(session, market_id, [item]))[0])


@dataclass(slots=True)
class _Pending:
    item: Item
    executor: Executor
    future: asyncio.Future[Outcome]
    context: contextvars.Context  # the caller's: a batch runs in its first item's (its trace span)


class MarketWriter:
    """Per process: a queue and, while it is not empty, a drainer task per market."""

    def __init__(self, db: Database, *, batch_cap: int = BATCH_CAP) -> None:
        self.db = db
        self.batch_cap = batch_cap
        self._queues: dict[int, deque[_Pending]] = {}
        self._drainers: dict[int, asyncio.Task[None]] = {}
        self.batches = 0  # committed batch transactions (for tests and metrics)
        self.relay: writer_relay.Relay | None = None  # market affinity (``serve --workers N``)

    @property
    def worker(self) -> str:
        """This process's market-affinity index, ``-`` without one (the metrics' label)."""
        index = self.relay.index if self.relay is not None else None
        return "-" if index is None else str(index)

    async def run(self, market_id: int, item: Item) -> Any:
        """Execute ``item`` on ``market_id`` in its turn; its result, or its DomainError raised."""
        executor = executor_for(item)
        if self.db.in_unit():
            async with self.db.transaction() as session:
                return outcome_of((await executor(session, market_id, [item]))[0])
        relay = self.relay
        if relay is not None and not relay.owns(market_id):  # another worker's market
            try:
                outcome = await relay.call(market_id, item)
            except writer_relay.NotSent:
                relay.counts.add("local")
            else:
                self.db.version += 1  # the owner committed: this process's read caches are stale too
                return outcome_of(outcome)
        return outcome_of(await self.submit(market_id, item))

    def submit(self, market_id: int, item: Item) -> asyncio.Future[Outcome]:
        """Queue ``item`` on its market here; its future is set to its outcome (its DomainError too)
        or to what else failed. Cancelling it is a caller cancelled (``run``'s rule). The owner's
        side of a relayed item (``writer_relay``) uses it directly."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        pending = _Pending(item, executor_for(item), future, contextvars.copy_context())
        self._queues.setdefault(market_id, deque()).append(pending)
        if market_id not in self._drainers:
            self._drainers[market_id] = asyncio.create_task(self._drain(market_id), name=f"market writer {market_id}")
        return future

    async def aclose(self) -> None:
        """Wait for the batches under way (at shutdown, after the requests have drained)."""
        while self._drainers:
            await asyncio.gather(*list(self._drainers.values()), return_exceptions=True)

    def _take(self, market_id: int, batch: list[_Pending] | None = None) -> list[_Pending]:
        """The queued items still wanted, oldest first, sharing the first one's executor, appended
        to ``batch`` (a new one by default) up to the cap."""
        queue = self._queues.get(market_id)
        batch = [] if batch is None else batch
        while queue and len(batch) < self.batch_cap:
            if queue[0].future.done():  # its caller was cancelled while it waited
                queue.popleft()
                continue
            if batch and queue[0].executor is not batch[0].executor:
                break
            batch.append(queue.popleft())
        return batch

    async def _drain(self, market_id: int) -> None:
        answers: list[tuple[_Pending, Outcome | BaseException]] = []
        try:
            while batch := self._take(market_id):
                # In the context of the request whose item leads the batch (never a unit's: those
                # do not queue), so its SQL is traced under that request. The previous batch's
                # callers are answered once this one has started: its first statements go out
                # before their responses are built and written.
                running = asyncio.create_task(self._execute(market_id, batch), context=batch[0].context)
                _settle_all(answers)
                answers = await running
        finally:
            _settle_all(answers)
            del self._drainers[market_id]
            queue = self._queues.get(market_id)
            if queue:  # only after a cancellation (shutdown): nobody will take these any more
                for pending in queue:
                    if not pending.future.done():
                        pending.future.set_exception(WriterStopped())
            self._queues.pop(market_id, None)

    def _joiner(self, market_id: int, batch: list[_Pending]) -> Callable[[], list[Item]]:
        """``joined``'s work for ``batch``: what queued since, moved into it."""

        def join() -> list[Item]:
            taken = len(batch)
            return [pending.item for pending in self._take(market_id, batch)[taken:]]

        return join

    async def _execute(
        self, market_id: int, batch: list[_Pending], *, join: bool = True
    ) -> list[tuple[_Pending, Outcome | BaseException]]:
        """Run ``batch`` in one transaction; what each caller is to be answered (``_drain`` answers)."""
        executor = batch[0].executor
        try:
            async with self.db.transaction() as session:
                if join:
                    session.info[_JOIN] = self._joiner(market_id, batch)
                outcomes = await executor(session, market_id, [pending.item for pending in batch])
            self.batches += 1
            worker = self.worker
            metrics.WRITER_BATCHES.labels(worker).inc()
            metrics.WRITER_ITEMS.labels(worker).inc(len(batch))  # with those it joined
        except asyncio.CancelledError:  # the writer is stopping: nobody must wait forever
            for pending in batch:
                _settle(pending, WriterStopped())
            raise
        except Exception as exc:
            if len(batch) == 1 or outages.unavailable(exc) is not None:
                # alone, the database out of reach would fail each in turn
                return [(pending, exc) for pending in batch]
            log.warning("a batch of %d on market %d failed; each runs alone", len(batch), market_id, exc_info=True)
            answers = []
            for pending in batch:
                answers += await self._execute(market_id, [pending], join=False)
            return answers
        return list(zip(batch, outcomes, strict=True))


def _settle_all(answers: list[tuple[_Pending, Outcome | BaseException]]) -> None:
    for pending, outcome in answers:
        _settle(pending, outcome)
    answers.clear()


def _settle(pending: _Pending, outcome: Outcome | BaseException) -> None:
    if pending.future.done():  # cancelled after its item was taken: the work stands, nobody waits
        return
    if isinstance(outcome, BaseException) and not isinstance(outcome, DomainError):
        pending.future.set_exception(outcome)
    else:
        pending.future.set_result(outcome)
