"""Profiles, settings, avatars, roles and money movements of a user."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from predictql.auth import Actor
from predictql.errors import Conflict, Forbidden, InvalidInput, NotFound
from predictql.models import CardOrder, LedgerEntry, LedgerTransaction, User, Withdrawal
from predictql.services import images, ledger
from predictql.services.cursors import Page, PageArgs, count, keyset, window
from predictql.services.ledger import Balances
from predictql.subscriptions import topics

NICKNAME = re.compile(r"^[A-Za-z0-9_]{3,32}$")
THEMES = ("light", "dark")
LANGUAGES = ("en", "ru")
ROLES = ("creator", "stats_viewer", "admin", "operator")
MONEY_KINDS = ("deposit", "withdrawal", "payout_hold")  # payout_hold: a card withdraw or crypto request
MONEY_OUT_STATUS = {  # a money-out request's status as the transaction list shows it
    "pending": "pending",
    "paid_by_user": "pending",
    "completed": "completed",
    "cancelled": "failed",
    "rejected": "failed",
}


@dataclass(frozen=True, slots=True)
class Profile:
    user: User
    balances: Balances | None  # None in the public view

    @property
    def is_self(self) -> bool:
        return self.balances is not None


@dataclass(frozen=True, slots=True)
class MoneyMovement:
    id: int
    type: str
    amount: int
    status: str
    created_at: datetime


async def _get(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found", code="user_not_found")
    return user


async def profile(session: AsyncSession, actor: Actor, *, user_id: int) -> Profile:
    user = await _get(session, user_id)
    if actor.user_id == user_id:
        return Profile(user, await ledger.balances(session, user_id))
    return Profile(user, None)


async def update_me(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str | None = None,
    nickname: str | None = None,
    language: str | None = None,
    theme: str | None = None,
    profile_hidden: bool | None = None,
) -> Profile:
    user_id = actor.require_write()
    user = await _get(session, user_id)
    if nickname is not None:
        if not NICKNAME.match(nickname):
            raise InvalidInput("nickname must be 3-32 letters, digits or _", code="invalid_nickname")
        taken = await session.scalar(
            select(col(User.id)).where(func.lower(User.nickname) == nickname.lower(), col(User.id) != user_id)
        )
        if taken is not None:
            raise InvalidInput("nickname already taken", code="nickname_taken")
        user.nickname = nickname
    if language is not None:
        if language not in LANGUAGES:
            raise InvalidInput("language must be en or ru", code="invalid_language")
        user.language = language
    if theme is not None:
        if theme not in THEMES:
            raise InvalidInput("theme must be light or dark", code="invalid_theme")
        user.theme = theme
    if name is not None:
        if not name.strip() or len(name) > 100:
            raise InvalidInput("name must be 1-100 characters", code="invalid_body")
        user.name = name.strip()
    if profile_hidden is not None:
        user.profile_hidden = profile_hidden
    try:
        await session.flush()
    except IntegrityError as exc:
        raise InvalidInput("nickname already taken", code="nickname_taken") from exc
    return Profile(user, await ledger.balances(session, user_id))


async def set_avatar(
    session: AsyncSession, actor: Actor, *, content: bytes, directory: Path, base_url: str, max_bytes: int
) -> str:
    """Store an uploaded image (the whole file decoded as the type its bytes claim) and return its URL."""
    user_id = actor.require_write()
    if not content:
        raise InvalidInput("avatar file is required", code="missing_file")
    if len(content) > max_bytes:
        raise InvalidInput(f"avatar larger than {max_bytes} bytes", code="file_too_large")
    try:
        ext = await asyncio.to_thread(images.image_type, content)
    except images.NotAnImage as exc:
        raise InvalidInput(f"avatar must be a JPEG, PNG, GIF or WebP image ({exc})", code="invalid_file_type") from None
    user = await _get(session, user_id)
    name = f"{user_id}_{time.time_ns()}.{ext}"
    await asyncio.to_thread(_write_file, directory, name, content)
    user.avatar_url = f"{base_url.rstrip('/')}/media/avatars/{name}"
    return user.avatar_url


def _write_file(directory: Path, name: str, content: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(content)


async def _movements(session: AsyncSession, actor: Actor) -> Any:
    """The caller's deposits and withdrawals as a ledger query (unordered). A money-out request (card
    withdraw, crypto withdrawal) is its ``payout_hold`` debit of cash; what became of it (sent, or
    returned on cancel or rejection) is its status, so its refund is not listed again."""
    user_id = actor.require_user()
    cash = ledger.user_cash(user_id), ledger.user_bonus(user_id)
    ids = await ledger.account_ids(session, cash)
    # Driven from the user's money transactions (the partial index ix_ledger_transactions_money,
    # in id order), each probing its own entries: a page costs its rows, not the user's trades
    # (a join on the entries read every entry of the user's accounts: bench/bench_scale.py).
    # Deposits, withdrawals and payout holds are posted with the user's id and move one leg of theirs.
    amount = (
        select(col(LedgerEntry.amount))
        .where(col(LedgerEntry.transaction_id) == LedgerTransaction.id, col(LedgerEntry.account_id).in_(ids.values()))
        .limit(1)
        .scalar_subquery()
    )
    return select(
        col(LedgerTransaction.id),
        col(LedgerTransaction.kind),
        amount,
        col(LedgerTransaction.created_at),
        col(LedgerTransaction.reference_type),
        col(LedgerTransaction.reference_id),
    ).where(
        col(LedgerTransaction.user_id) == user_id, col(LedgerTransaction.kind).in_(MONEY_KINDS), amount.is_not(None)
    )


async def _movements_of(session: AsyncSession, rows: Sequence[Any]) -> list[MoneyMovement]:
    """Rows of ``_movements`` as movements; a money-out's status read from its request (one query per kind)."""
    wanted: dict[str, list[int]] = {"card_order": [], "withdrawal": []}
    for row in rows:
        if row[1] == "payout_hold" and row[4] in wanted:
            wanted[row[4]].append(int(row[5]))
    statuses: dict[tuple[str, int], str] = {}
    for subject, model in (("card_order", CardOrder), ("withdrawal", Withdrawal)):
        if wanted[subject]:
            found = await session.execute(
                select(col(model.id), col(model.status)).where(col(model.id).in_(wanted[subject]))
            )
            statuses.update({(subject, int(id_ or 0)): status for id_, status in found})
    movements = []
    for txn_id, kind, amount, created_at, ref_type, ref_id in rows:
        status = "completed"
        if kind == "payout_hold":
            kind, status = "withdrawal", MONEY_OUT_STATUS.get(statuses.get((ref_type, int(ref_id or 0)), ""), "pending")
        movements.append(MoneyMovement(int(txn_id or 0), kind, abs(int(amount)), status, created_at))
    return movements


async def money_movements(session: AsyncSession, actor: Actor) -> list[MoneyMovement]:
    """Deposits and withdrawals of the caller, newest first, read from the ledger."""
    query = await _movements(session, actor)
    rows = list(await session.execute(query.order_by(col(LedgerTransaction.id).desc())))
    return await _movements_of(session, rows)


async def money_movement_page(session: AsyncSession, actor: Actor, args: PageArgs) -> Page[MoneyMovement]:
    """``money_movements`` keyset-paged on the transaction id (GraphQL connection)."""
    args.checked()
    query = await _movements(session, actor)
    total = await count(session, query) if args.with_total else None
    rows = await _movements_of(session, list(await session.execute(keyset(query, col(LedgerTransaction.id), args))))
    return window(rows, args, lambda movement: movement.id, total)


async def deposit(session: AsyncSession, *, user_id: int, amount: int, bonus: bool = False) -> int:
    """Credit a user through the ledger (operator tool, card/P2P completion). Returns the txn id."""
    if amount <= 0:
        raise InvalidInput("amount must be positive", code="INVALID_AMOUNT")
    await _get(session, user_id)
    if bonus:
        legs = [(ledger.PROMO, -amount), (ledger.user_bonus(user_id), amount)]
        return await ledger.post(session, kind="bonus", legs=legs, user_id=user_id)
    legs = [(ledger.WORLD, -amount), (ledger.user_cash(user_id), amount)]
    return await ledger.post(session, kind="deposit", legs=legs, user_id=user_id)


async def set_role(session: AsyncSession, actor: Actor, *, user_id: int, role: str, value: bool) -> User:
    """Stats viewers and admins grant or revoke the creator role; only admins grant the others."""
    actor.require_write()
    actor.require_stats_viewer()
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if role != "creator" and not actor.is_admin:
        raise Forbidden("only an admin can change this role")
    user = await _get(session, user_id)
    if role == "admin" and user_id == actor.user_id and not value:
        raise Conflict("an admin cannot remove their own admin role")
    if getattr(user, f"is_{role}") != value:
        setattr(user, f"is_{role}", value)
        topics.access_changed(session, [user_id], "roles_changed")  # open sockets re-check their actor
    return user
