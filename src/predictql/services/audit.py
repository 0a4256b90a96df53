"""The back office's audit log: ``record`` is called by every operator or admin action, inside the
action's own transaction (a rollback leaves no entry), with the subject as it was before and after.

Reading it is for operators and admins only (``entries``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.models import AuditEntry
from predictql.services.cursors import Page, PageArgs, keyset_page, where_given


async def record(
    session: AsyncSession,
    actor: Actor | None,
    action: str,
    subject_type: str,
    subject_id: int,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> AuditEntry:
    """One operator action (``actor`` None: the system, e.g. a sweeper). ``before``/``after`` are
    JSON-able snapshots of the fields the action changed."""
    entry = AuditEntry(
        actor_id=actor.user_id if actor is not None else None,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
        note=note,
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries(
    session: AsyncSession,
    actor: Actor,
    page: PageArgs,
    *,
    subject_type: str | None = None,
    subject_id: int | None = None,
    actor_id: int | None = None,
) -> Page[AuditEntry]:
    """The log newest first, filtered; operators and admins only."""
    actor.require_operator()
    query = where_given(
        select(AuditEntry),
        (AuditEntry.subject_type, subject_type),
        (AuditEntry.subject_id, subject_id),
        (AuditEntry.actor_id, actor_id),
    )
    return await keyset_page(session, query, col(AuditEntry.id), page)
