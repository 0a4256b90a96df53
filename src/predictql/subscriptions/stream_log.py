"""Per-channel sequence numbers and the stored log behind resumable streams.

**Numbering.** Just before a write transaction commits, ``sequence`` numbers the messages it
emitted: one statement bumps every channel's head in ``stream_heads`` (an upsert, channels in a
fixed order so two writers lock them alike) and one appends the messages to ``stream_events``.
The head row stays locked until the commit, so the next writer of that channel gets its number
only after this one committed: per channel, ``seq`` grows by one, in commit order, with no holes
(a rolled-back writer's number is given out again). Once ``seq`` N is visible, so is every seq
below it, which is what lets a subscriber repair a hole by reading the log.

**On the wire** a message is ``"{seq}@{published}|{payload}"``: ``published`` is when the bus
published it (Unix seconds, stamped by ``Bus.publish`` after the commit: ``predictql.metrics``'
publish-to-delivery lag); payloads are JSON. Readers also accept what older versions and the
benchmarks publish, ``"{seq}|{payload}"`` and bare payloads (seq 0), with no publish time
(``wire``/``stamp``/``split``).

**Retention.** ``prune`` deletes log rows older than ``PREDICTQL_STREAM_RETENTION_SECONDS``;
heads are kept (one row per channel). A subscriber asking for more than was kept, or for more
than ``REPLAY_LIMIT`` messages, is told so (``Replay.complete`` is False) and gets a snapshot or
a GAP instead.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from sqlalchemy import Executable, delete, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from predictql.commit_effects import effects
from predictql.db import Database, utcnow
from predictql.models import StreamEvent, StreamHead, core

log = logging.getLogger("predictql.streams")

REPLAY_LIMIT = 1000  # messages one resume or repair may read; past it, a snapshot or a GAP
HEADS_CHUNK = 500  # channels per heads query


SEQ_CHARS = 20  # a seq on the wire has at most this many digits (int64)


def wire(seq: int, payload: str, published: float | None = None) -> str:
    """``"{seq}|{payload}"``; with ``published`` (Unix seconds), ``"{seq}@{published}|{payload}"``."""
    if published is None:
        return f"{seq}|{payload}"
    return f"{seq}@{published:.6f}|{payload}"


def stamp(text: str, published: float) -> str:
    """``text`` (``"{seq}|{payload}"``, or a bare payload: seq 0) with its publish time added; a
    text already stamped is returned as it is. Looks at the first few characters only."""
    cut = text.find("|", 0, SEQ_CHARS + 1)
    if cut > 0:
        head = text[:cut]
        if head.isdigit():
            return f"{head}@{published:.6f}{text[cut:]}"
        if "@" in head and head.partition("@")[0].isdigit():
            return text
    return f"0@{published:.6f}|{text}"


def split(text: str) -> tuple[int, str, float]:
    """(seq, payload, published). An unnumbered payload (published around the log, e.g. by a test)
    is seq 0; ``published`` is 0.0 when the text does not say (an older publisher, a benchmark)."""
    head, sep, payload = text.partition("|")
    if sep:
        if head.isdigit():
            return int(head), payload, 0.0
        number, at, published = head.partition("@")
        if at and number.isdigit():
            try:
                when = float(published)
            except ValueError:
                return 0, text, 0.0
            return int(number), payload, when if math.isfinite(when) else 0.0
    return 0, text, 0.0


async def sequence(session: AsyncSession) -> None:
    """Number this transaction's emitted messages and store them (a ``Database`` pre-commit hook)."""
    queued = effects(session)
    events = queued.messages
    if not events:
        return
    counts: dict[str, int] = defaultdict(int)
    for channel, _ in events:
        counts[channel] += 1
    bumped = await _bumped(session, counts)
    next_seq = {channel: seq - counts[channel] + 1 for channel, seq in bumped.items()}
    now, rows, numbered = utcnow(), [], []
    for channel, payload in events:
        seq = next_seq[channel]
        next_seq[channel] = seq + 1
        rows.append({"channel": channel, "seq": seq, "payload": payload, "created_at": now})
        numbered.append((channel, wire(seq, payload)))
    await core.insert_many(session, StreamEvent, rows)
    queued.messages = numbered


_BUMP_PG = text(
    "INSERT INTO stream_heads (channel, seq) "
    "SELECT channel, seq FROM unnest(CAST(:channels AS VARCHAR[]), CAST(:seqs AS BIGINT[])) "
    "WITH ORDINALITY AS v(channel, seq, ordinal) ORDER BY ordinal "
    "ON CONFLICT (channel) DO UPDATE SET seq = stream_heads.seq + excluded.seq "
    "RETURNING channel, seq"
)


async def _bumped(session: AsyncSession, counts: dict[str, int]) -> dict[str, int]:
    """Channel -> its head once each channel has been moved by its count: one upsert, the channels
    in sorted order (one lock order for every writer). On PostgreSQL one array per column; on
    SQLite an executemany (SQLAlchemy pages its rows under the bind-parameter cap)."""
    ordered = sorted(counts.items())
    if core.on_postgresql(session):
        rows = await session.execute(
            _BUMP_PG, {"channels": [channel for channel, _ in ordered], "seqs": [count for _, count in ordered]}
        )
    else:
        rows = await session.execute(_bump_sqlite(), [{"channel": c, "seq": n} for c, n in ordered])
    return {channel: seq for channel, seq in rows}


@cache
def _bump_sqlite() -> Executable:
    heads = StreamHead.__table__  # type: ignore[attr-defined]
    bump = sqlite.insert(heads)
    upsert: Executable = bump.on_conflict_do_update(
        index_elements=[heads.c.channel], set_={"seq": heads.c.seq + bump.excluded.seq}
    ).returning(heads.c.channel, heads.c.seq)
    return upsert


@dataclass(frozen=True, slots=True)
class Replay:
    """Messages after a seq, in order; ``complete`` is False when some were no longer kept (or
    more than the limit were asked for): then ``messages`` is empty."""

    complete: bool
    messages: list[tuple[int, str]]


class StreamLog:
    """Reads of the log and the heads, each in a short read session of its own."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def head(self, channel: str) -> int:
        async with self.db.session() as session:
            found = await session.scalar(select(col(StreamHead.seq)).where(col(StreamHead.channel) == channel))
        return found or 0

    async def heads(self, channels: Iterable[str]) -> dict[str, int]:
        wanted, found = sorted(set(channels)), dict[str, int]()
        async with self.db.session() as session:
            for start in range(0, len(wanted), HEADS_CHUNK):
                chunk = wanted[start : start + HEADS_CHUNK]
                rows = await session.execute(
                    select(col(StreamHead.channel), col(StreamHead.seq)).where(col(StreamHead.channel).in_(chunk))
                )
                found.update((channel, seq) for channel, seq in rows)
        return found

    async def after(self, channel: str, seq: int, upto: int) -> Replay:
        """The messages of ``channel`` numbered ``seq`` + 1 .. ``upto``, all of them or none: seqs
        have no holes, so any row missing was pruned."""
        if upto <= seq:
            return Replay(True, [])
        if upto - seq > REPLAY_LIMIT:
            return Replay(False, [])
        query = select(col(StreamEvent.seq), col(StreamEvent.payload)).where(
            col(StreamEvent.channel) == channel, col(StreamEvent.seq) > seq, col(StreamEvent.seq) <= upto
        )
        async with self.db.session() as session:
            result = await session.execute(query.order_by(col(StreamEvent.seq)))
            rows = [(number, payload) for number, payload in result]
        return Replay(True, rows) if len(rows) == upto - seq else Replay(False, [])

    async def prune(self, retention: timedelta) -> int:
        async with self.db.transaction() as session:
            result = await session.execute(
                delete(StreamEvent).where(col(StreamEvent.created_at) < utcnow() - retention)
            )
        return int(getattr(result, "rowcount", 0) or 0)


async def prune_forever(stream_log: StreamLog, retention_seconds: float) -> None:
    """Delete expired log rows now and then (every process does; the deletes are idempotent)."""
    retention = timedelta(seconds=retention_seconds)
    interval = min(max(retention_seconds / 10, 1.0), 60.0)
    while True:
        try:
            removed = await stream_log.prune(retention)
            if removed:
                log.debug("pruned %d stream log rows", removed)
        except Exception:
            log.exception("pruning the stream log failed")
        await asyncio.sleep(interval)
