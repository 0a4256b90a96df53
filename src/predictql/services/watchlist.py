"""A user's watchlist: events they follow. Adding and removing are idempotent."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.models import Event, WatchlistEntry
from predictql.services import events
from predictql.services.cursors import Page, PageArgs, list_page


async def add(session: AsyncSession, actor: Actor, *, event_id: int) -> Event:
    """Watch an event the caller can see (404 otherwise); watching it again changes nothing."""
    user_id = actor.require_write()
    event = await events.get_visible(session, actor, event_id)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # ON CONFLICT DO NOTHING: two concurrent adds both succeed, and neither aborts its transaction.
    await session.execute(
        dialect.insert(WatchlistEntry).values(user_id=user_id, event_id=event_id).on_conflict_do_nothing()
    )
    return event


async def remove(session: AsyncSession, actor: Actor, *, event_id: int) -> Event | None:
    """Stop watching; removing an event that is not watched (or not there) is not an error.

    Returns the event when the caller can still see it, None otherwise.
    """
    user_id = actor.require_write()
    await session.execute(
        delete(WatchlistEntry).where(col(WatchlistEntry.user_id) == user_id, col(WatchlistEntry.event_id) == event_id)
    )
    event = await session.get(Event, event_id)
    return event if event is not None and events.can_see(actor, event) else None


async def watched_events(session: AsyncSession, actor: Actor) -> list[Event]:
    """The caller's watched events that they can still see, most recently watched first."""
    user_id = actor.require_user()
    rows = await session.scalars(
        select(Event)
        .join(WatchlistEntry, col(WatchlistEntry.event_id) == Event.id)
        .where(col(WatchlistEntry.user_id) == user_id)
        .order_by(col(WatchlistEntry.created_at).desc(), col(Event.id).desc())
    )
    return [event for event in rows if events.can_see(actor, event)]


async def watched_page(session: AsyncSession, actor: Actor, args: PageArgs) -> Page[Event]:
    """One page of ``watched_events`` (GraphQL ``myWatchlist``); the cursors name events."""
    return list_page(await watched_events(session, actor), args, lambda event: event.id)


async def watched_ids(session: AsyncSession, actor: Actor, event_ids: Sequence[int]) -> set[int] | None:
    """Which of ``event_ids`` the caller watches; None for an anonymous caller (nothing to say)."""
    if actor.user_id is None:
        return None
    if not event_ids:
        return set()
    rows = await session.scalars(
        select(WatchlistEntry.event_id).where(
            col(WatchlistEntry.user_id) == actor.user_id, col(WatchlistEntry.event_id).in_(event_ids)
        )
    )
    return set(rows)
