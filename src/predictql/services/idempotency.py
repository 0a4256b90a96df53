"""Idempotency keys: a POST (or GraphQL mutation) retried with the same key and the same body gets
the stored response back without executing again; the same key with another body is refused.

The adapters run the request in a ``Database.unit()``: the key is claimed (a unique row) when its
first write begins, and the response is stored in that same transaction before it commits. So the
claim, the work and the response commit together or not at all: a retry after a crash (even a
``kill -9`` between commit and reply) replays the committed response, and a request whose work
never committed left no claim and may be retried at once. A concurrent twin blocks on the unique
row until the first commits (PostgreSQL) or waits for the write lock (SQLite), then replays it.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.db import Database, Unit, utcnow
from predictql.errors import Conflict, InvalidInput, Unprocessable
from predictql.models import IdempotencyRecord

RETENTION = timedelta(hours=24)
MAX_KEY = 255


class KeyReused(Unprocessable):
    """Same key, different request body (422 over REST)."""

    default_code = "idempotency_key_reused"


@dataclass
class Claim:
    owner: str
    key: str
    request_hash: str
    raced: bool = False  # a twin with the same key committed first: look up its response again


@dataclass(frozen=True, slots=True)
class Stored:
    status_code: int
    body: str


_current: contextvars.ContextVar[Claim | None] = contextvars.ContextVar("idempotency_claim", default=None)


def request_hash(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return digest.hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not 1 <= len(key) <= MAX_KEY or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key must be 1-{MAX_KEY} printable characters")
    return key


async def lookup(db: Database, claim: Claim) -> Stored | None:
    """A stored response to replay, or None to execute; raises when the key cannot be used."""
    async with db.session() as session:
        record = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.owner == claim.owner,
                IdempotencyRecord.key == claim.key,
                col(IdempotencyRecord.created_at) > utcnow() - RETENTION,
            )
        )
    if record is None:
        return None
    if record.request_hash != claim.request_hash:
        raise KeyReused("this Idempotency-Key was used with a different request")
    if record.status_code is None or record.response_body is None:
        raise Conflict("a request with this Idempotency-Key is still in progress", code="IDEMPOTENCY_KEY_IN_PROGRESS")
    return Stored(record.status_code, record.response_body)


@contextmanager
def guarding(claim: Claim) -> Iterator[Claim]:
    token = _current.set(claim)
    try:
        yield claim
    finally:
        _current.reset(token)


class Raced(Conflict):
    """Another request with the same key committed first; retrying now replays its response."""

    default_code = "IDEMPOTENCY_KEY_IN_PROGRESS"


async def claim_in(session: AsyncSession) -> None:
    """``Database`` begin-hook: insert the pending claim inside the first write transaction."""
    claim = _current.get()
    if claim is None:
        return
    await session.execute(
        delete(IdempotencyRecord).where(
            col(IdempotencyRecord.owner) == claim.owner,
            col(IdempotencyRecord.key) == claim.key,
            col(IdempotencyRecord.created_at) <= utcnow() - RETENTION,
        )
    )
    session.add(IdempotencyRecord(owner=claim.owner, key=claim.key, request_hash=claim.request_hash))
    try:
        await session.flush()  # the unique (owner, key) row: a concurrent twin blocks here, then fails
    except IntegrityError as exc:
        claim.raced = True
        raise Raced("a request with this Idempotency-Key is in progress; retry to get its response") from exc


def storing(claim: Claim, status_code: int, body: str) -> Callable[[AsyncSession], Awaitable[None]]:
    """The last write of the request's unit: its response, committed with the work it answers."""

    async def store(session: AsyncSession) -> None:
        await session.execute(
            update(IdempotencyRecord)
            .where(col(IdempotencyRecord.owner) == claim.owner, col(IdempotencyRecord.key) == claim.key)
            .values(status_code=status_code, response_body=body, completed_at=utcnow())
        )

    return store


async def settle(db: Database, unit: Unit, claim: Claim, status_code: int, body: str) -> Stored | None:
    """Commit the request's unit with its response; or, when a twin won the key, its response."""
    if status_code < 500:
        await db.commit_unit(unit, storing(claim, status_code, body))
    if claim.raced:
        return await lookup(db, claim)
    return None
