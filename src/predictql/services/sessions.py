"""Sign-in sessions: issuing, rotating and revoking token pairs, and resolving the caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql import auth
from predictql.auth import ANONYMOUS, Actor, TokenError
from predictql.db import utcnow
from predictql.errors import Unauthenticated
from predictql.models import ApiToken, AuthSession, RefreshToken, User
from predictql.settings import Settings
from predictql.subscriptions import topics


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_ttl: int
    refresh_ttl: int


async def open_session(session: AsyncSession, settings: Settings, user_id: int) -> TokenPair:
    sid = auth.new_id()
    session.add(AuthSession(id=sid, user_id=user_id))
    await session.flush()
    return await _issue(session, settings, user_id, sid)


async def _issue(session: AsyncSession, settings: Settings, user_id: int, sid: str) -> TokenPair:
    jti = auth.new_id()
    ttl = settings.refresh_token_ttl_seconds
    session.add(RefreshToken(jti=jti, session_id=sid, expires_at=utcnow() + timedelta(seconds=ttl)))
    key = settings.secret_key
    access = auth.encode_token(
        key, "access", user_id=user_id, session_id=sid, ttl=settings.access_token_ttl_seconds, jti=auth.new_id()
    )
    refresh = auth.encode_token(key, "refresh", user_id=user_id, session_id=sid, ttl=ttl, jti=jti)
    return TokenPair(access, refresh, settings.access_token_ttl_seconds, ttl)


async def rotate(session: AsyncSession, settings: Settings, *, refresh_token: str | None) -> tuple[User, TokenPair]:
    """Exchange a refresh token for a new pair. A token used twice revokes its whole session."""
    expired = Unauthenticated("refresh token missing, expired or revoked", code="TOKEN_EXPIRED")
    if not refresh_token:
        raise expired
    try:
        claims = auth.decode_token(settings.secret_key, refresh_token, "refresh")
    except TokenError as exc:
        raise expired from exc
    used = await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.jti) == claims.jti, col(RefreshToken.used_at).is_(None))
        .values(used_at=utcnow())
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        # Unknown, or already used: a replayed token means it leaked. Revoke the family.
        await revoke(session, claims.session_id, reason="refresh_reuse")
        raise Unauthenticated("refresh token reuse detected; signed out", code="TOKEN_EXPIRED", commit=True)
    row = await session.execute(
        select(User, AuthSession.revoked_at)
        .join(AuthSession, col(AuthSession.user_id) == User.id)
        .where(col(AuthSession.id) == claims.session_id)
    )
    found = row.first()
    if found is None or found[1] is not None or found[0].is_banned:
        raise expired
    user = found[0]
    return user, await _issue(session, settings, claims.user_id, claims.session_id)


async def revoke(session: AsyncSession, session_id: str, *, reason: str) -> None:
    await _revoke(session, col(AuthSession.id) == session_id, reason)


async def revoke_all(session: AsyncSession, user_id: int, *, reason: str) -> None:
    await _revoke(session, col(AuthSession.user_id) == user_id, reason)


async def _revoke(session: AsyncSession, which: ColumnElement[bool], reason: str) -> None:
    """Revoke the live sessions ``which`` names; their users' open sockets, on every process,
    re-check their tokens once this commits (and those of a revoked session close)."""
    revoked = await session.scalars(
        update(AuthSession)
        .where(which, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .returning(col(AuthSession.user_id))
    )
    topics.access_changed(session, revoked, reason)


async def sign_out(session: AsyncSession, actor: Actor) -> None:
    actor.require_user()
    if actor.session_id is None:
        raise Unauthenticated("sign out needs a session token, not an API token")
    await revoke(session, actor.session_id, reason="logout")


def _actor(user: User, **extra: object) -> Actor:
    return Actor(
        user_id=user.id,
        is_creator=user.is_creator,
        is_stats_viewer=user.is_stats_viewer,
        is_admin=user.is_admin,
        is_operator=user.is_operator,
        **extra,  # type: ignore[arg-type]
    )


@dataclass(frozen=True, slots=True)
class Credential:
    """A well-formed token, checked without the database: what ``lookup`` resolves."""

    key: str  # what the token stands for: its user's session ("s:{user}:{session}") or API token ("t:" hash)
    user_id: int | None = None  # an access token's user (the session must still be that user's)
    session_id: str | None = None
    token_hash: str | None = None


def credential(settings: Settings, token: str | None) -> Credential | Actor:
    """The token's credential, or the anonymous actor (carrying why, when a token was sent) for a
    missing, malformed or expired one. Costs no database round trip."""
    if not token:
        return ANONYMOUS
    if token.startswith(auth.API_TOKEN_PREFIX):
        digest = auth.sha256(token)
        return Credential("t:" + digest, token_hash=digest)
    try:
        claims = auth.decode_token(settings.secret_key, token, "access")
    except TokenError as exc:
        return Actor(token_error=exc.code)
    key = f"s:{claims.user_id}:{claims.session_id}"
    return Credential(key, user_id=claims.user_id, session_id=claims.session_id)


async def resolve_actor(session: AsyncSession, settings: Settings, token: str | None) -> Actor:
    """The caller behind an access token (cookie or Bearer) or a personal API token, from the
    database (``services.actor_cache`` answers requests from memory when it can).

    A missing or bad token gives the anonymous actor, carrying why, so that routes that require a
    user answer 401 and optional ones still serve the public view.
    """
    found = credential(settings, token)
    return found if isinstance(found, Actor) else await lookup(session, found)


async def lookup(session: AsyncSession, found: Credential) -> Actor:
    """The actor of a well-formed credential as the database has it now: its session or API token
    not revoked, its user not banned."""
    if found.token_hash is not None:
        return await _api_token_actor(session, found.token_hash)
    row = await session.execute(
        select(User)
        .join(AuthSession, col(AuthSession.user_id) == User.id)
        .where(col(AuthSession.id) == found.session_id, col(AuthSession.revoked_at).is_(None))
    )
    user = row.scalar_one_or_none()
    if user is None or user.id != found.user_id or user.is_banned:
        return Actor(token_error="INVALID_TOKEN")
    return _actor(user, session_id=found.session_id)


async def _api_token_actor(session: AsyncSession, token_hash: str) -> Actor:
    row = await session.execute(
        select(User, ApiToken.id, ApiToken.can_write)
        .join(ApiToken, col(ApiToken.user_id) == User.id)
        .where(col(ApiToken.token_hash) == token_hash, col(ApiToken.revoked_at).is_(None))
    )
    found = row.first()
    if found is None or found[0].is_banned:
        return Actor(token_error="INVALID_TOKEN")
    user, token_id, can_write = found
    return _actor(user, api_token_id=token_id, can_write=can_write)
