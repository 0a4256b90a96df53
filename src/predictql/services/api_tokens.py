"""Personal API tokens for programs: shown once, stored as SHA-256, read-only by default."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql import auth
from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Forbidden, InvalidInput, NotFound
from predictql.models import ApiToken
from predictql.services.cursors import Page, PageArgs, keyset_page
from predictql.subscriptions import topics

MAX_TOKENS = 20


async def create(session: AsyncSession, actor: Actor, *, name: str, can_write: bool) -> tuple[ApiToken, str]:
    user_id = actor.require_write()
    if actor.api_token_id is not None:
        raise Forbidden("API tokens cannot create API tokens")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("name must be 1-100 characters")
    live = await list_mine(session, actor)
    if len(live) >= MAX_TOKENS:
        raise InvalidInput(f"at most {MAX_TOKENS} live tokens")
    secret = auth.new_api_token()
    row = ApiToken(user_id=user_id, name=name, prefix=secret[:10], token_hash=auth.sha256(secret), can_write=can_write)
    session.add(row)
    await session.flush()
    return row, secret


async def list_mine(session: AsyncSession, actor: Actor) -> list[ApiToken]:
    user_id = actor.require_user()
    rows = await session.scalars(
        select(ApiToken)
        .where(col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None))
        .order_by(ApiToken.id)  # type: ignore[arg-type]
    )
    return list(rows)


async def page_mine(session: AsyncSession, actor: Actor, args: PageArgs) -> Page[ApiToken]:
    """The caller's live tokens, newest first, keyset-paged on id (GraphQL connection)."""
    user_id = actor.require_user()
    query = select(ApiToken).where(col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None))
    return await keyset_page(session, query, col(ApiToken.id), args)


async def revoke(session: AsyncSession, actor: Actor, *, token_id: int) -> None:
    user_id = actor.require_write()
    result = await session.execute(
        update(ApiToken)
        .where(col(ApiToken.id) == token_id, col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound("token not found")
    topics.access_changed(session, [user_id], "api_token_revoked")  # sockets signed in with it close
