"""Sign-up, email verification, sign-in and password reset (DECISIONS rules 12-16)."""

from __future__ import annotations

import asyncio
import secrets
import string
from datetime import timedelta

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql import auth
from predictql.db import Database, after_commit, utcnow
from predictql.errors import Conflict, Forbidden, InvalidInput, Unauthenticated
from predictql.mail import Mailer
from predictql.models import EmailCode, PasswordReset, User
from predictql.services import ledger, sessions
from predictql.services.sessions import TokenPair
from predictql.services.sign_in_limits import SignInGuard
from predictql.settings import Settings

CODE_TTL = timedelta(minutes=15)
CODE_MAX_TRIES = 5
# The 5 wrong tries are per account over the codes issued in this window, not per code: a sign-in
# that mails a fresh code must not buy 5 more guesses (a code lives 15 minutes, so at most 5
# guesses fit in any 15 minutes).
CODE_TRIES_WINDOW = timedelta(minutes=30)
RESET_TTL = timedelta(hours=1)
MIN_PASSWORD = 8
LANGUAGES = ("en", "ru")
_REFERRAL_ALPHABET = string.ascii_uppercase + string.digits


def normalize_email(email: str) -> str:
    email = email.strip()
    local, sep, domain = email.rpartition("@")
    if not sep or not local or "." not in domain or len(email) > 254 or any(c.isspace() for c in email):
        raise InvalidInput("a valid email address is required")
    # Stored lower-cased whole: the unique constraint on users.email is then case-insensitive too,
    # so two concurrent sign-ups as A@x.com and a@x.com cannot both succeed.
    return f"{local}@{domain}".lower()


def check_password(password: str, code: str = "INVALID_REQUEST") -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD} characters", code=code)
    if len(password) > 1024:
        raise InvalidInput("password too long", code=code)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The account of an address, case-insensitively (how every lookup by email must match)."""
    result = await session.execute(select(User).where(func.lower(User.email) == email.lower()))
    return result.scalar_one_or_none()


# Argon2 costs a few hundred milliseconds of CPU: run it in a worker thread (the library releases
# the GIL) so that a sign-in does not stall every other request and socket on the event loop.
async def _hash(password: str) -> str:
    return await asyncio.to_thread(auth.hash_password, password)


async def _verify(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(auth.verify_password, password_hash, password)


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str | None,
    language: str = "en",
    referrer_id: int | None = None,
    verified: bool = False,
    name: str = "",
    **roles: bool,
) -> User:
    """Insert a user with their ledger accounts. ``EMAIL_EXISTS`` if the address is taken."""
    email = normalize_email(email)
    if await user_by_email(session, email) is not None:
        raise Conflict("email already registered", code="EMAIL_EXISTS")
    if unknown := set(roles) - {"is_creator", "is_stats_viewer", "is_admin", "is_operator"}:
        raise TypeError(f"unknown roles {sorted(unknown)}")
    user = User(
        email=email,
        password_hash=await _hash(password) if password is not None else None,
        language=language,
        referrer_id=referrer_id,
        email_verified=verified,
        name=name or email.split("@")[0][:100],
        referral_code="".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8)),
        is_creator=roles.get("is_creator", False),
        is_stats_viewer=roles.get("is_stats_viewer", False),
        is_admin=roles.get("is_admin", False),
        is_operator=roles.get("is_operator", False),
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent sign-up with the same email won the race
        raise Conflict("email already registered", code="EMAIL_EXISTS") from exc
    assert user.id is not None
    await ledger.open_user_accounts(session, user.id)
    return user


async def sign_up(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    language: str | None,
    referral_code: str | None,
    mailer: Mailer,
) -> User:
    check_password(password)
    if language is not None and language not in LANGUAGES:
        raise InvalidInput("language must be en or ru")
    referrer_id = None
    if referral_code:
        referrer = await session.scalar(select(User.id).where(col(User.referral_code) == referral_code.strip().upper()))
        if referrer is None:
            raise InvalidInput("unknown referral code")
        referrer_id = int(referrer)
    user = await create_user(
        session, email=email, password=password, language=language or "en", referrer_id=referrer_id
    )
    await _send_code(session, user, mailer)
    return user


async def _send_code(session: AsyncSession, user: User, mailer: Mailer) -> None:
    assert user.id is not None
    code = f"{secrets.randbelow(10**6):06d}"
    await session.execute(
        update(EmailCode)
        .where(col(EmailCode.user_id) == user.id, col(EmailCode.consumed_at).is_(None))
        .values(consumed_at=utcnow())
    )
    session.add(EmailCode(user_id=user.id, code_hash=auth.sha256(code), expires_at=utcnow() + CODE_TTL))
    body = f"Your predictql verification code is {code}. It expires in 15 minutes."
    email = user.email
    after_commit(session, lambda: mailer.send(email, "Your verification code", body))


async def verify_email(session: AsyncSession, *, user_id: int | None, email: str | None, code: str) -> User:
    """Accepts either ``user_id`` or ``email`` with the 6-digit code (rule 13)."""
    invalid = InvalidInput("wrong or expired verification code", code="INVALID_CODE")
    if user_id is not None:
        user = await session.get(User, user_id, with_for_update=True)
    else:
        user = await user_by_email(session, normalize_email(email or ""))
    if user is None:
        raise invalid
    if user.email_verified:
        # Same answer as a wrong code (rule 8: INVALID_CODE is a 400), so that the email form
        # does not tell which addresses hold a verified account.
        raise invalid
    pending = await session.scalar(
        select(EmailCode)
        .where(col(EmailCode.user_id) == user.id, col(EmailCode.consumed_at).is_(None))
        .order_by(col(EmailCode.id).desc())
        .limit(1)
        .with_for_update()
    )
    if pending is None or pending.expires_at <= utcnow() or await _tries_spent(session, user.id) >= CODE_MAX_TRIES:
        raise invalid
    if not secrets.compare_digest(pending.code_hash, auth.sha256(code.strip())):
        pending.attempts += 1
        raise InvalidInput("wrong or expired verification code", code="INVALID_CODE", commit=True)
    pending.consumed_at = utcnow()
    user.email_verified = True
    return user


async def _tries_spent(session: AsyncSession, user_id: int | None) -> int:
    spent = await session.scalar(
        select(func.coalesce(func.sum(EmailCode.attempts), 0)).where(
            col(EmailCode.user_id) == user_id, col(EmailCode.created_at) > utcnow() - CODE_TRIES_WINDOW
        )
    )
    return int(spent or 0)


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    mailer: Mailer,
    guard: SignInGuard | None = None,
) -> tuple[User, TokenPair]:
    """``guard`` bounds guessing per account and IP (sign_in_limits); adapters always pass it."""
    bad = Unauthenticated("invalid email or password", code="INVALID_CREDENTIALS")
    if guard is not None:
        await guard.check(email)
    try:
        user = await user_by_email(session, normalize_email(email))
    except InvalidInput:
        user = None
    # Always one Argon2 verification (a dummy hash when there is no account or no password), so
    # that the answer time does not reveal whether the email exists (rule 15).
    if not await _verify(user.password_hash if user else None, password) or user is None:
        if guard is not None:
            await guard.failed(email)
        raise bad
    if user.is_banned:
        raise Forbidden("account is banned", code="FORBIDDEN")
    if not user.email_verified:
        await _send_code(session, user, mailer)  # a fresh code, so the user can finish
        raise Forbidden("email not verified; a new code was sent", code="EMAIL_NOT_VERIFIED", commit=True)
    assert user.id is not None and user.password_hash is not None
    if auth.needs_rehash(user.password_hash):
        user.password_hash = await _hash(password)
    return user, await sessions.open_session(session, settings, user.id)


def forgot_password(db: Database, settings: Settings, *, email: str, mailer: Mailer) -> None:
    """Always succeeds, at once; mails a one-time link only when the account exists.

    The lookup, the reset row and the mail all run after the answer (``Mailer.later``): the answer
    then takes the same time whether the address exists or not, so its timing enumerates nothing.
    """
    mailer.later(_mail_reset_link(db, settings, email, mailer))


async def _mail_reset_link(db: Database, settings: Settings, email: str, mailer: Mailer) -> None:
    try:
        address = normalize_email(email)
    except InvalidInput:
        return
    async with db.transaction() as session:
        user = await user_by_email(session, address)
        if user is None or user.id is None:
            return
        token = secrets.token_urlsafe(32)
        session.add(PasswordReset(token_hash=auth.sha256(token), user_id=user.id, expires_at=utcnow() + RESET_TTL))
        link = f"{settings.public_url.rstrip('/')}/reset-password?token={token}"
        body = f"Reset your predictql password: {link}\nThe link works once, within one hour.\nToken: {token}"
        to = user.email
        after_commit(session, lambda: mailer.send(to, "Reset your password", body))


async def reset_password(session: AsyncSession, *, token: str, new_password: str) -> None:
    reset = await session.get(PasswordReset, auth.sha256(token), with_for_update=True)
    if reset is None or reset.used_at is not None:
        raise InvalidInput("invalid or already used reset token", code="INVALID_TOKEN")
    if reset.expires_at <= utcnow():
        raise InvalidInput("reset token expired", code="TOKEN_EXPIRED")
    check_password(new_password)
    user = await session.get(User, reset.user_id)
    assert user is not None
    reset.used_at = utcnow()
    user.password_hash = await _hash(new_password)
    await sessions.revoke_all(session, reset.user_id, reason="password_reset")
