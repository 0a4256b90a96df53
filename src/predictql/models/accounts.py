"""Users and everything that authenticates them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from predictql.db import UTCDateTime
from predictql.models.base import created_at, fk, id_field, when


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = id_field()
    email: str = Field(max_length=254, unique=True, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    name: str = Field(default="", max_length=100)
    nickname: str | None = Field(default=None, max_length=32, unique=True)
    language: str = Field(default="en", max_length=2)
    theme: str = Field(default="light", max_length=8)
    profile_hidden: bool = False
    avatar_url: str | None = Field(default=None, max_length=500)
    email_verified: bool = False
    telegram_verified: bool = False
    is_creator: bool = False
    is_stats_viewer: bool = False
    is_admin: bool = False
    is_operator: bool = False  # back office: card orders, withdrawals, disputes, support chat
    is_banned: bool = False
    level: int = 0
    referral_code: str = Field(max_length=16, unique=True)
    referrer_id: int | None = fk("users.id", nullable=True, ondelete="SET NULL")
    oauth_provider: str | None = Field(default=None, max_length=32)
    oauth_id: str | None = Field(default=None, max_length=255)
    created_at: datetime = created_at()

    __table_args__ = (UniqueConstraint("oauth_provider", "oauth_id"),)


class AuthSession(SQLModel, table=True):
    """One sign-in: the family of its access and refresh tokens. Revoking it logs them all out."""

    __tablename__ = "auth_sessions"

    id: str = Field(primary_key=True, max_length=32)
    user_id: int = fk("users.id", ondelete="CASCADE")
    created_at: datetime = created_at()
    revoked_at: datetime | None = when()
    revoked_reason: str | None = Field(default=None, max_length=32)


class RefreshToken(SQLModel, table=True):
    """Each issued refresh token; a second use of one revokes its session (reuse detection)."""

    __tablename__ = "refresh_tokens"

    jti: str = Field(primary_key=True, max_length=32)
    session_id: str = Field(foreign_key="auth_sessions.id", index=True, max_length=32, ondelete="CASCADE")
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = when()


class EmailCode(SQLModel, table=True):
    """A 6-digit verification code (hashed), 15 minutes, 5 wrong tries."""

    __tablename__ = "email_codes"

    id: int | None = id_field()
    user_id: int = fk("users.id", ondelete="CASCADE")
    code_hash: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    consumed_at: datetime | None = when()
    created_at: datetime = created_at()


class PasswordReset(SQLModel, table=True):
    """A one-time reset token; only its SHA-256 is stored."""

    __tablename__ = "password_resets"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = fk("users.id", ondelete="CASCADE")
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = when()
    created_at: datetime = created_at()


class ApiToken(SQLModel, table=True):
    """A personal token for programs; read-only unless created with the write scope."""

    __tablename__ = "api_tokens"

    id: int | None = id_field()
    user_id: int = fk("users.id", ondelete="CASCADE")
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    can_write: bool = False
    created_at: datetime = created_at()
    revoked_at: datetime | None = when()
