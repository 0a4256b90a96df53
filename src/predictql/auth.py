"""Who is calling: password hashing, signed tokens and the ``Actor``.

Access and refresh tokens are HS256 JWTs bound to a server-side session (``sid``) so that logout
and refresh-token reuse revoke them at once. Personal API tokens are opaque random strings; only
their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from predictql.errors import Forbidden, TokenExpired, Unauthenticated

API_TOKEN_PREFIX = "pq_"
TokenType = Literal["access", "refresh"]

PasswordProfile = Literal["standard", "test"]
# "standard": Argon2id with the library's current recommended parameters. "test": the cheapest
# parameters Argon2 allows, for test runs only (Settings.check refuses it in production); a hash
# made with them verifies anywhere and is rehashed to "standard" at the next sign-in.
_PROFILES: dict[str, PasswordHasher] = {
    "standard": PasswordHasher(),
    "test": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
}
_hasher = _PROFILES["standard"]
# Verifying against this keeps sign-in time the same whether or not the email exists.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def use_password_profile(profile: PasswordProfile) -> None:
    """Choose the hashing parameters for this process (from ``Settings.password_hash_profile``)."""
    global _hasher, _DUMMY_HASH
    if _hasher is not _PROFILES[profile]:
        _hasher = _PROFILES[profile]
        _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_id() -> str:
    return secrets.token_hex(16)


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    session_id: str
    jti: str
    expires_at: int


def encode_token(key: str, typ: TokenType, *, user_id: int, session_id: str, ttl: int, jti: str) -> str:
    now = int(time.time())
    payload = {"sub": str(user_id), "sid": session_id, "typ": typ, "jti": jti, "iat": now, "exp": now + ttl}
    return jwt.encode(payload, key, algorithm="HS256")


def decode_token(key: str, token: str, typ: TokenType) -> Claims:
    """Verify a token. Signature checks are memoized per token string (every request presents its
    token again, often twice: rate-limit key and caller); expiry is checked on every call."""
    claims = _verified(key, token, typ)
    if claims.expires_at <= time.time():
        raise TokenError("TOKEN_EXPIRED", "token expired")
    return claims


@lru_cache(maxsize=4096)
def _verified(key: str, token: str, typ: TokenType) -> Claims:
    try:
        payload: dict[str, Any] = jwt.decode(
            token, key, algorithms=["HS256"], options={"require": ["exp", "sub", "sid", "typ"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("TOKEN_EXPIRED", "token expired") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("INVALID_TOKEN", "invalid token") from exc
    if payload.get("typ") != typ:
        raise TokenError("INVALID_TOKEN", "wrong token type")
    try:
        user_id = int(payload["sub"])
    except (TypeError, ValueError) as exc:
        raise TokenError("INVALID_TOKEN", "invalid subject") from exc
    return Claims(user_id, str(payload["sid"]), str(payload.get("jti", "")), int(payload["exp"]))


def request_token(authorization: str | None, cookie_token: str | None) -> str | None:
    """The caller's token: ``Authorization: Bearer`` wins over the ``access_token`` cookie."""
    header = authorization or ""
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return cookie_token or None


def peek_user_id(key: str, token: str) -> int | None:
    """The user id of a valid access token, without touching the database (rate-limit keys)."""
    try:
        return decode_token(key, token, "access").user_id
    except TokenError:
        return None


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller, as services see it. Authorization is decided from this, in the services."""

    user_id: int | None = None
    is_creator: bool = False
    is_stats_viewer: bool = False
    is_admin: bool = False
    is_operator: bool = False
    session_id: str | None = None
    api_token_id: int | None = None
    can_write: bool = True
    token_error: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    def require_user(self) -> int:
        if self.user_id is None:
            if self.token_error == "TOKEN_EXPIRED":
                raise TokenExpired("access token expired")
            raise Unauthenticated("authentication required")
        return self.user_id

    def require_write(self) -> int:
        user_id = self.require_user()
        if not self.can_write:
            raise Forbidden("this API token is read-only", code="token_read_only")
        return user_id

    def require_creator(self) -> int:
        user_id = self.require_write()
        if not (self.is_creator or self.is_admin):
            raise Forbidden("creator role required")
        return user_id

    def require_stats_viewer(self) -> int:
        user_id = self.require_user()
        if not (self.is_stats_viewer or self.is_admin):
            raise Forbidden("stats viewer role required")
        return user_id

    def require_admin(self) -> int:
        user_id = self.require_write()
        if not self.is_admin:
            raise Forbidden("admin role required")
        return user_id

    def require_operator(self) -> int:
        """Back-office work (card orders, withdrawals, P2P disputes, support chat): operators and
        admins."""
        user_id = self.require_write()
        if not (self.is_operator or self.is_admin):
            raise Forbidden("operator role required")
        return user_id

    def may_manage(self, owner_id: int | None) -> bool:
        """Event-scoped actions: the event's creator or an admin (DECISIONS rule 16)."""
        return self.user_id is not None and (self.is_admin or self.user_id == owner_id)


ANONYMOUS = Actor()
