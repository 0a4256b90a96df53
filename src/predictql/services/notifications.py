"""A user's notifications: creating them inside the transaction of what they report, and reading,
marking and deleting one's own.

Creation runs in the caller's transaction (a rollback leaves no notification) and queues each new
notification on its owner's bus channel, published after the commit. Several at once are one
multi-row INSERT ... RETURNING (Core: the rows handed back are not the session's). Another user's
notification is ``not found`` (404), never 403: ids must not reveal that a row exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import InvalidInput, NotFound
from predictql.models import Event, Market, Notification, Order, Position, Trade, core
from predictql.services.cursors import Page, PageArgs, keyset_page
from predictql.subscriptions import topics

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 1_000_000
MAX_UNREAD = 1000  # GET /notifications/unread takes no parameters: the newest this many


@dataclass(frozen=True, slots=True)
class Draft:
    """A notification to create; ``related_type`` is ``event``, ``market`` or ``order``."""

    user_id: int
    type: str
    title: str
    message: str
    related_type: str | None = None
    related_id: int | None = None


# -- creation (called by other services, inside their transaction) ---------------------------


async def create_many(session: AsyncSession, drafts: Sequence[Draft]) -> list[Notification]:
    """Insert ``drafts`` in one statement and queue each on its owner's channel."""
    inserted = await _insert(session, drafts)
    return [core.build(Notification, {**value, "id": id_}) for id_, value in inserted]


async def create_all(session: AsyncSession, drafts: Sequence[Draft]) -> None:
    """``create_many`` for a caller that wants no rows back (a writer batch): no ORM objects."""
    await _insert(session, drafts)


async def _insert(session: AsyncSession, drafts: Sequence[Draft]) -> list[tuple[int, dict[str, Any]]]:
    """Insert ``drafts``, queue each on its owner's channel: (id, columns) of each, in order."""
    if not drafts:
        return []
    now = utcnow()
    values = [
        {
            "user_id": d.user_id,
            "type": d.type,
            "title": d.title,
            "message": d.message,
            "read": False,
            "read_at": None,
            "created_at": now,
            "related_id": d.related_id,
            "related_type": d.related_type,
        }
        for d in drafts
    ]
    ids = await core.insert_ids(session, Notification, values)  # Core: no ORM entity tracked per row
    inserted = list(zip(ids, values, strict=True))
    topics.notifications_inserted(session, inserted)
    return inserted


async def create(session: AsyncSession, draft: Draft) -> Notification:
    return (await create_many(session, [draft]))[0]


def _rub(kopecks: int) -> str:
    return f"{kopecks // 100}.{kopecks % 100:02d} RUB"


async def trade_executed(session: AsyncSession, trade: Trade, market: Market, *, total: int) -> None:
    """An LMSR trade of the user's: ``total`` is what they paid (fee included) or received."""
    await create(session, trade_executed_draft(trade, market, total=total))


def trade_executed_draft(trade: Trade, market: Market, *, total: int) -> Draft:
    verb = "Bought" if trade.side == "buy" else "Sold"
    message = f"{verb} {trade.shares} {trade.token} shares of '{market.name}' for {_rub(total)}"
    return Draft(trade.user_id, "trade_executed", "Trade Executed", message, "market", market.id)


async def orders_filled(session: AsyncSession, market: Market, orders: Iterable[Order]) -> None:
    """One per order that got a fill in one placement (maker or taker), whatever the number of fills."""
    drafts = []
    for order in orders:
        done = order.status == "filled"
        message = (
            f"Your {order.side} order for {order.token} in '{market.name}' was "
            f"{'filled' if done else 'partially filled'}: {order.filled} shares so far"
        )
        title = "Order Filled" if done else "Order Partially Filled"
        drafts.append(Draft(order.user_id, "order_filled", title, message, "order", order.id))
    await create_all(session, drafts)


async def bets_settled(session: AsyncSession, market: Market, settled: Iterable[tuple[Position, int]]) -> None:
    """Each position settled by a resolution, with what it received: ``bet_won`` or ``bet_lost``."""
    drafts = []
    for position, received in settled:
        if position.token == market.winning_outcome:
            title, kind = "Bet Won", "bet_won"
            message = f"Your {position.token} bet on '{market.name}' won: {_rub(received)} paid out"
        else:
            title, kind = "Bet Lost", "bet_lost"
            message = f"Your {position.token} bet on '{market.name}' lost"
        drafts.append(Draft(position.user_id, kind, title, message, "market", market.id))
    await create_many(session, drafts)


async def event_closed(session: AsyncSession, event: Event) -> None:
    """To everyone whose position in the event was settled by its resolution (flushed by now)."""
    holders = await session.scalars(
        select(Position.user_id)
        .distinct()
        .where(col(Position.event_id) == event.id, col(Position.won_side).is_not(None))
        .order_by(col(Position.user_id))
    )
    message = f"Event '{event.name}' has been resolved"
    drafts = [Draft(u, "event_closed", "Event Resolved", message, "event", event.id) for u in holders]
    await create_many(session, drafts)


async def event_cancelled(session: AsyncSession, event: Event, user_ids: Iterable[int]) -> None:
    """To everyone whose open positions the cancellation refunded."""
    message = f"Event '{event.name}' has been cancelled; your positions were refunded at their purchase price"
    drafts = [Draft(u, "event_cancelled", "Event Cancelled", message, "event", event.id) for u in sorted(set(user_ids))]
    await create_many(session, drafts)


async def loop_round_refunded(session: AsyncSession, pool_name: str, market: Market, user_ids: Iterable[int]) -> None:
    """A loop round cancelled for want of a fresh price (``services.loops``): to everyone whose
    open positions in ``market`` were refunded at their purchase price."""
    message = f"No fresh price at the end of '{pool_name}': the round was cancelled and your positions refunded"
    drafts = [
        Draft(u, "loop_round_refunded", "Round Refunded", message, "market", market.id) for u in sorted(set(user_ids))
    ]
    await create_many(session, drafts)


async def support_reply(session: AsyncSession, user_id: int, text: str) -> None:
    """An operator answered the support chat of a signed-in visitor (no subject: a chat session is
    not a notification subject; the chat itself is read with the chat routes or ``supportChat``)."""
    preview = text if len(text) <= 140 else text[:139] + "\u2026"
    await create(session, Draft(user_id, "support_reply", "Support Replied", preview))


# -- reading and changing one's own ----------------------------------------------------------


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be 0-{MAX_OFFSET}")


def _mine(user_id: int) -> ColumnElement[bool]:
    return col(Notification.user_id) == user_id


async def list_notifications(
    session: AsyncSession, actor: Actor, *, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> list[Notification]:
    """The caller's notifications, newest first, ``limit`` from ``offset``."""
    user_id = actor.require_user()
    check_page(limit, offset)
    query = select(Notification).where(_mine(user_id)).order_by(col(Notification.id).desc())
    return list(await session.scalars(query.offset(offset).limit(limit)))


async def page(session: AsyncSession, actor: Actor, args: PageArgs, *, unread: bool = False) -> Page[Notification]:
    """The caller's notifications (``unread``: the unread ones) newest first, keyset-paged on id
    (GraphQL connection)."""
    user_id = actor.require_user()
    query = select(Notification).where(_mine(user_id))
    if unread:
        query = query.where(col(Notification.read).is_(False))
    return await keyset_page(session, query, col(Notification.id), args, bound=MAX_LIMIT)


async def unread(session: AsyncSession, actor: Actor) -> list[Notification]:
    """The caller's unread notifications, newest first (at most ``MAX_UNREAD``)."""
    user_id = actor.require_user()
    query = select(Notification).where(_mine(user_id), col(Notification.read).is_(False))
    return list(await session.scalars(query.order_by(col(Notification.id).desc()).limit(MAX_UNREAD)))


async def unread_count(session: AsyncSession, actor: Actor) -> int:
    user_id = actor.require_user()
    query = select(func.count()).select_from(Notification).where(_mine(user_id), col(Notification.read).is_(False))
    return int(await session.scalar(query) or 0)


async def mark_read(session: AsyncSession, actor: Actor, *, notification_id: int) -> Notification:
    """Mark one of the caller's notifications read; marking it again keeps its first ``read_at``."""
    user_id = actor.require_write()
    row = await session.scalar(
        select(Notification).where(col(Notification.id) == notification_id, _mine(user_id)).with_for_update()
    )
    if row is None:
        raise NotFound("notification not found")
    if not row.read:
        row.read, row.read_at = True, utcnow()
        await session.flush()
    return row


async def mark_all_read(session: AsyncSession, actor: Actor) -> int:
    """Mark every unread notification of the caller read; how many were."""
    user_id = actor.require_write()
    result = await session.execute(
        update(Notification)
        .where(_mine(user_id), col(Notification.read).is_(False))
        .values(read=True, read_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete(session: AsyncSession, actor: Actor, *, notification_id: int) -> None:
    """Delete one of the caller's notifications (another user's: not found)."""
    user_id = actor.require_write()
    result = await session.execute(
        sql_delete(Notification).where(col(Notification.id) == notification_id, _mine(user_id))
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("notification not found")
