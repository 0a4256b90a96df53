"""REST ``auth`` group, end to end through the in-process app (DECISIONS rules 8-16)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from predictql import auth
from predictql.db import Database, utcnow
from predictql.models import AuthSession, EmailCode, PasswordReset, User
from predictql.services import accounts, sessions
from predictql.settings import Settings
from tests.conftest import JWT_SECRET
from tests.support import Mailbox, bearer, create_user, unique_email

API = "/api/v1"
PASSWORD = "password123"
SIGN_UP_MESSAGE = "User created successfully. Please check your email for verification code."
FORGOT_BODY = {
    "success": True,
    "message": "If an account with that email exists, a password reset link has been sent.",
}


# --- helpers -------------------------------------------------------------------------------------


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers of a response by cookie name (the whole header, attributes included)."""
    found: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        found[header.split("=", 1)[0].strip()] = header
    return found


def cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1].strip().strip('"')


def cookie_attrs(header: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attrs[key.lower()] = value
    return attrs


def with_cookies(**values: str) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in values.items())}


def assert_session_cookies(response: httpx.Response) -> tuple[str, str]:
    """Both cookies set, HttpOnly, SameSite=Lax, not Secure over http, 20 min / 72 h (rule 12)."""
    cookies = set_cookies(response)
    assert {"access_token", "refresh_token"} <= set(cookies), cookies
    for name, max_age in (("access_token", "1200"), ("refresh_token", "259200")):
        attrs = cookie_attrs(cookies[name])
        assert "httponly" in attrs, cookies[name]
        assert attrs.get("samesite", "").lower() == "lax", cookies[name]
        assert "secure" not in attrs, cookies[name]
        assert attrs.get("max-age") == max_age, cookies[name]
        assert attrs.get("path") == "/"
    return cookie_value(cookies["access_token"]), cookie_value(cookies["refresh_token"])


def assert_cleared(response: httpx.Response, *names: str) -> None:
    cookies = set_cookies(response)
    for name in names:
        assert name in cookies, cookies
        attrs = cookie_attrs(cookies[name])
        assert cookie_value(cookies[name]) == ""
        assert attrs.get("max-age") == "0"
        assert "httponly" in attrs and attrs.get("samesite", "").lower() == "lax"


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


@dataclass
class Signed:
    user_id: int
    email: str
    access: str
    refresh: str


async def sign_up(client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: Any) -> int:
    response = await client.post(f"{API}/auth/sign-up", json={"email": email, "password": password, **extra})
    assert response.status_code == 201, response.text
    return int(response.json()["user_id"])


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    response = await client.post(f"{API}/auth/sign-in", json={"email": email, "password": password})
    client.cookies.clear()  # every test passes its tokens explicitly
    return response


async def signed_in(db: Database, settings: Settings, *, password: str | None = None) -> Signed:
    """A verified user with a fresh session, from the real services (no Argon2 cost unless a
    password is wanted). For tests about what happens *after* sign-in; sign-in has its own tests.
    """
    email = unique_email("auth")
    async with db.transaction() as session:
        user = await accounts.create_user(session, email=email, password=password, verified=True)
        assert user.id is not None
    access, refresh = await new_session(db, settings, user.id)
    return Signed(user.id, email, access, refresh)


async def new_session(db: Database, settings: Settings, user_id: int) -> tuple[str, str]:
    async with db.transaction() as session:
        pair = await sessions.open_session(session, settings, user_id)
    return pair.access_token, pair.refresh_token


async def passwordless_user(db: Database, email: str) -> int:
    """A verified account without a password (as Google sign-in makes): no Argon2 cost."""
    async with db.transaction() as session:
        user = await accounts.create_user(session, email=email, password=None, verified=True)
    assert user.id is not None
    return user.id


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    response = await client.post(f"{API}/auth/refresh", headers=with_cookies(refresh_token=token))
    client.cookies.clear()
    return response


async def me(client: httpx.AsyncClient, access: str) -> httpx.Response:
    return await client.get(f"{API}/auth/me", headers=bearer(access))


async def user_row(db: Database, user_id: int) -> User:
    async with db.session() as session:
        user = await session.get(User, user_id)
    assert user is not None
    return user


async def expire_codes(db: Database, user_id: int) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(EmailCode)
            .where(EmailCode.user_id == user_id)  # type: ignore[arg-type]
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


def assert_user_info(user: dict[str, Any], user_id: int, email: str) -> None:
    """The UserInfo object of sign-in / refresh / me, as the routes.yaml example shows it."""
    expected = {
        "id", "name", "nickname", "email", "referral_code", "language", "theme", "balance",
        "bonus_balance", "total_balance", "avatar_url", "is_creator", "is_stats_viewer",
        "total_predictions", "biggest_win", "registered_date",
    }  # fmt: skip
    assert expected <= set(user), expected - set(user)
    assert user["id"] == user_id and user["email"] == email
    assert user["balance"] == 0 and user["total_balance"] == 0
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", user["registered_date"])


# --- sign-up -------------------------------------------------------------------------------------


async def test_sign_up_answers_201_sets_no_cookie_and_mails_a_six_digit_code(
    client: httpx.AsyncClient, db: Database, mailbox: Mailbox
) -> None:
    email = unique_email("signup")
    response = await client.post(f"{API}/auth/sign-up", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {"success": True, "message": SIGN_UP_MESSAGE, "user_id": body["user_id"]}
    assert isinstance(body["user_id"], int) and body["user_id"] > 0
    assert "set-cookie" not in response.headers
    assert not client.cookies

    [mail] = mailbox.messages(email)
    assert re.fullmatch(r"\d{6}", mailbox.code(email))
    assert "code" in mail["Subject"].lower()

    user = await user_row(db, body["user_id"])
    assert user.email == email and not user.email_verified and user.language == "en"
    # An unverified account cannot sign in yet.
    assert_error(await sign_in(client, email), 403, "EMAIL_NOT_VERIFIED")


async def test_password_is_stored_as_argon2id(client: httpx.AsyncClient, db: Database) -> None:
    user_id = await sign_up(client, unique_email("argon"))
    user = await user_row(db, user_id)
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_duplicate_email_is_409_case_insensitively(client: httpx.AsyncClient, db: Database) -> None:
    email = unique_email("dup")
    await sign_up(client, email)
    local, domain = email.split("@")
    for variant in (email, email.upper(), f"{local.capitalize()}@{domain.upper()}", f"  {email} "):
        response = await client.post(f"{API}/auth/sign-up", json={"email": variant, "password": PASSWORD})
        assert_error(response, 409, "EMAIL_EXISTS")
    async with db.session() as session:
        count = await session.scalar(select(func.count()).select_from(User).where(func.lower(User.email) == email))
    assert count == 1


async def test_sign_up_validation_errors_are_400_invalid_request(
    client: httpx.AsyncClient, db: Database, mailbox: Mailbox
) -> None:
    email = unique_email("invalid")
    bad_bodies: list[Any] = [
        {"email": email, "password": "short12"},  # 7 characters
        {"email": email},
        {"password": PASSWORD},
        {},
        {"email": email, "password": 12345678},
        {"email": "not-an-email", "password": PASSWORD},
        {"email": email, "password": PASSWORD, "language": "de"},
        [email, PASSWORD],
    ]
    for body in bad_bodies:
        response = await client.post(f"{API}/auth/sign-up", json=body)
        assert_error(response, 400, "INVALID_REQUEST")
    malformed = await client.post(
        f"{API}/auth/sign-up", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(malformed, 400, "INVALID_REQUEST")
    assert mailbox.messages(email) == []
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_referral_code_links_the_referrer(client: httpx.AsyncClient, db: Database) -> None:
    referrer_id = await passwordless_user(db, unique_email("referrer"))
    code = (await user_row(db, referrer_id)).referral_code
    user_id = await sign_up(client, unique_email("referred"), referral_code=code.lower(), language="ru")
    user = await user_row(db, user_id)
    assert user.referrer_id == referrer_id
    assert user.language == "ru"


async def test_unknown_referral_code_is_400_and_creates_nobody(client: httpx.AsyncClient, db: Database) -> None:
    email = unique_email("noref")
    response = await client.post(
        f"{API}/auth/sign-up", json={"email": email, "password": PASSWORD, "referral_code": "NOPE0000"}
    )
    assert_error(response, 400, "INVALID_REQUEST")
    async with db.session() as session:
        assert await session.scalar(select(User.id).where(User.email == email)) is None


async def test_concurrent_sign_ups_with_one_email_create_one_user(
    client: httpx.AsyncClient, db: Database, mailbox: Mailbox
) -> None:
    email = unique_email("race")
    body = {"email": email, "password": PASSWORD}
    responses = await asyncio.gather(*(client.post(f"{API}/auth/sign-up", json=body) for _ in range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "EMAIL_EXISTS")
    async with db.session() as session:
        ids = (await session.scalars(select(User.id).where(User.email == email))).all()
    assert len(ids) == 1
    assert len(mailbox.messages(email)) == 1  # losers' mail was rolled back with them


# --- verify-email --------------------------------------------------------------------------------


async def test_verify_email_with_user_id_and_verification_code(
    client: httpx.AsyncClient, db: Database, mailbox: Mailbox
) -> None:
    email = unique_email("verify")
    user_id = await sign_up(client, email)
    response = await client.post(
        f"{API}/auth/verify-email", json={"user_id": user_id, "verification_code": mailbox.code(email)}
    )
    client.cookies.clear()
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"success", "message", "user"}
    assert body["success"] is True and body["message"] == "Email verified successfully"
    user = body["user"]
    assert user["id"] == user_id and user["email"] == email
    assert user["role"] == "user" and user["balance"] == 0 and user["email_verified"] is True
    assert user["theme"] in ("light", "dark")
    access, _ = assert_session_cookies(response)
    me_response = await me(client, access)
    assert me_response.status_code == 200
    assert_user_info(me_response.json()["user"], user_id, email)
    assert (await user_row(db, user_id)).email_verified is True
    # The account now signs in normally.
    assert (await sign_in(client, email)).status_code == 200


async def test_verify_email_with_email_and_code(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email = unique_email("verify2")
    user_id = await sign_up(client, email)
    response = await client.post(f"{API}/auth/verify-email", json={"email": email.upper(), "code": mailbox.code(email)})
    client.cookies.clear()
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == user_id
    assert response.json()["user"]["email_verified"] is True
    access, refresh_token = assert_session_cookies(response)
    assert (await me(client, access)).status_code == 200
    assert (await refresh(client, refresh_token)).status_code == 200
    # The code is consumed: a second use fails, and so does verifying again.
    again = await client.post(f"{API}/auth/verify-email", json={"email": email, "code": mailbox.code(email)})
    assert_error(again, 400, "INVALID_CODE")


async def test_wrong_code_is_400_invalid_code(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email = unique_email("wrong")
    user_id = await sign_up(client, email)
    right = mailbox.code(email)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    response = await client.post(f"{API}/auth/verify-email", json={"user_id": user_id, "verification_code": wrong})
    assert_error(response, 400, "INVALID_CODE")
    assert "set-cookie" not in response.headers
    assert (await user_row(db, user_id)).email_verified is False
    # Unknown accounts answer exactly like a wrong code.
    unknown = await client.post(f"{API}/auth/verify-email", json={"email": unique_email(), "code": right})
    assert_error(unknown, 400, "INVALID_CODE")
    unknown_id = await client.post(
        f"{API}/auth/verify-email", json={"user_id": user_id + 1000, "verification_code": right}
    )
    assert_error(unknown_id, 400, "INVALID_CODE")
    # Four wrong tries still leave the fifth one: the right code works.
    for _ in range(3):
        await client.post(f"{API}/auth/verify-email", json={"user_id": user_id, "verification_code": wrong})
    ok = await client.post(f"{API}/auth/verify-email", json={"user_id": user_id, "verification_code": right})
    client.cookies.clear()
    assert ok.status_code == 200, ok.text


async def test_five_wrong_tries_burn_the_code(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email = unique_email("burn")
    user_id = await sign_up(client, email)
    right = mailbox.code(email)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(5):
        response = await client.post(f"{API}/auth/verify-email", json={"email": email, "code": wrong})
        assert_error(response, 400, "INVALID_CODE")
    burnt = await client.post(f"{API}/auth/verify-email", json={"user_id": user_id, "verification_code": right})
    assert_error(burnt, 400, "INVALID_CODE")
    assert (await user_row(db, user_id)).email_verified is False
    # The 5 tries are the account's, not the code's: a fresh code (mailed by a sign-in) does not
    # renew them while the window lasts ...
    assert_error(await sign_in(client, email), 403, "EMAIL_NOT_VERIFIED")
    fresh_code = mailbox.code(email)
    fresh = await client.post(f"{API}/auth/verify-email", json={"email": email, "code": fresh_code})
    assert_error(fresh, 400, "INVALID_CODE")
    assert_error(await sign_in(client, email), 403, "EMAIL_NOT_VERIFIED")  # nor does another one
    again = await client.post(f"{API}/auth/verify-email", json={"email": email, "code": mailbox.code(email)})
    assert_error(again, 400, "INVALID_CODE")
    # ... and once the spent codes are older than the window, the newest code works.
    async with db.transaction() as session:
        await session.execute(
            update(EmailCode)
            .where(EmailCode.user_id == user_id, EmailCode.attempts > 0)  # type: ignore[arg-type]
            .values(created_at=utcnow() - accounts.CODE_TRIES_WINDOW - timedelta(seconds=1))
        )
    ok = await client.post(f"{API}/auth/verify-email", json={"email": email, "code": mailbox.code(email)})
    client.cookies.clear()
    assert ok.status_code == 200, ok.text


async def test_expired_code_fails(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email = unique_email("expired")
    user_id = await sign_up(client, email)
    await expire_codes(db, user_id)
    response = await client.post(
        f"{API}/auth/verify-email", json={"user_id": user_id, "verification_code": mailbox.code(email)}
    )
    assert_error(response, 400, "INVALID_CODE")
    assert (await user_row(db, user_id)).email_verified is False


async def test_code_expires_after_fifteen_minutes(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email = unique_email("ttl")
    user_id = await sign_up(client, email)
    async with db.session() as session:
        code = await session.scalar(select(EmailCode).where(EmailCode.user_id == user_id))  # type: ignore[arg-type]
    assert code is not None
    assert timedelta(minutes=14) < code.expires_at - utcnow() <= timedelta(minutes=15)
    assert code.code_hash == auth.sha256(mailbox.code(email))  # only a hash is stored


async def test_verify_email_missing_fields(client: httpx.AsyncClient, db: Database) -> None:
    bodies: list[dict[str, Any]] = [
        {},
        {"user_id": 1},
        {"email": "someone@example.com"},
        {"verification_code": "123456"},
        {"code": "123456"},
        {"user_id": 1, "verification_code": ""},
    ]
    for body in bodies:
        response = await client.post(f"{API}/auth/verify-email", json=body)
        assert_error(response, 400, "MISSING_FIELDS")


async def test_verifying_a_verified_account_is_400_invalid_code(client: httpx.AsyncClient, db: Database) -> None:
    email = unique_email("twice")
    user_id = await passwordless_user(db, email)
    by_email = await client.post(f"{API}/auth/verify-email", json={"email": email, "code": "123456"})
    assert_error(by_email, 400, "INVALID_CODE")
    by_id = await client.post(f"{API}/auth/verify-email", json={"user_id": user_id, "verification_code": "123456"})
    assert_error(by_id, 400, "INVALID_CODE")
    # Indistinguishable from an address that has no account at all.
    unknown = await client.post(f"{API}/auth/verify-email", json={"email": unique_email(), "code": "123456"})
    assert by_email.json() == unknown.json()


# --- sign-in -------------------------------------------------------------------------------------


async def test_sign_in_returns_user_info_and_sets_cookies(client: httpx.AsyncClient, db: Database) -> None:
    email = unique_email("signin")
    user_id = await create_user(db, email=email)
    response = await sign_in(client, email.upper())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"user"}
    assert_user_info(body["user"], user_id, email)
    access, refresh_token = assert_session_cookies(response)

    by_bearer = await me(client, access)
    assert by_bearer.status_code == 200 and set(by_bearer.json()) == {"user"}
    assert_user_info(by_bearer.json()["user"], user_id, email)
    by_cookie = await client.get(f"{API}/auth/me", headers=with_cookies(access_token=access))
    assert by_cookie.status_code == 200 and by_cookie.json()["user"]["id"] == user_id
    # The refresh token is not an access token.
    assert_error(await me(client, refresh_token), 401, "UNAUTHORIZED")
    # The tokens themselves live 20 minutes and 72 hours (rule 12), like their cookies.
    now = time.time()
    assert abs(auth.decode_token(JWT_SECRET, access, "access").expires_at - now - 20 * 60) < 60
    assert abs(auth.decode_token(JWT_SECRET, refresh_token, "refresh").expires_at - now - 72 * 3600) < 60


async def test_cookies_are_secure_over_https(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email = unique_email("https")
    await sign_up(client, email)
    response = await client.post(
        f"https://testserver{API}/auth/verify-email", json={"email": email, "code": mailbox.code(email)}
    )
    client.cookies.clear()
    assert response.status_code == 200, response.text
    for name in ("access_token", "refresh_token"):
        attrs = cookie_attrs(set_cookies(response)[name])
        assert "secure" in attrs and "httponly" in attrs and attrs["samesite"].lower() == "lax"


async def test_me_without_or_with_a_bad_token_is_401(client: httpx.AsyncClient, db: Database) -> None:
    assert_error(await client.get(f"{API}/auth/me"), 401, "UNAUTHORIZED")
    assert_error(await me(client, "garbage"), 401, "UNAUTHORIZED")
    forged = auth.encode_token("another-secret-" + "y" * 40, "access", user_id=1, session_id="s", ttl=60, jti="j")
    assert_error(await me(client, forged), 401, "UNAUTHORIZED")


async def test_expired_access_token_is_401(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    signed = await signed_in(db, settings)
    async with db.session() as session:
        sid = await session.scalar(select(AuthSession.id).where(AuthSession.user_id == signed.user_id))  # type: ignore[arg-type]
    assert sid is not None
    claims = auth.decode_token(JWT_SECRET, signed.access, "access")
    assert claims.session_id == sid
    live = auth.encode_token(JWT_SECRET, "access", user_id=signed.user_id, session_id=sid, ttl=60, jti="x")
    assert (await me(client, live)).status_code == 200
    stale = auth.encode_token(JWT_SECRET, "access", user_id=signed.user_id, session_id=sid, ttl=-5, jti="x")
    assert_error(await me(client, stale), 401, "UNAUTHORIZED")


async def test_wrong_password_and_unknown_email_answer_identically(client: httpx.AsyncClient, db: Database) -> None:
    email = unique_email("creds")
    await create_user(db, email=email)
    wrong = await sign_in(client, email, "wrong-password")
    unknown = await sign_in(client, unique_email("nobody"), PASSWORD)
    malformed = await sign_in(client, "not-an-email", PASSWORD)
    for response in (wrong, unknown, malformed):
        assert_error(response, 401, "INVALID_CREDENTIALS")
        assert "set-cookie" not in response.headers
    assert wrong.json() == unknown.json() == malformed.json()
    # An unverified account with a wrong password does not reveal itself either.
    unverified = unique_email("unverified")
    await sign_up(client, unverified)
    assert (await sign_in(client, unverified, "wrong-password")).json() == wrong.json()


@pytest.fixture
def standard_hashing() -> Iterator[None]:
    """Production-strength Argon2 where its cost is the subject (the suite runs the cheap profile)."""
    auth.use_password_profile("standard")
    try:
        yield
    finally:
        auth.use_password_profile("test")


async def test_unknown_email_costs_a_password_hash_too(
    client: httpx.AsyncClient, db: Database, standard_hashing: None
) -> None:
    """No timing oracle: a miss still verifies against a dummy Argon2 hash."""
    one_hash = min(_timed(lambda: auth.verify_password(None, PASSWORD)) for _ in range(2))
    started = time.perf_counter()
    response = await sign_in(client, unique_email("timing"), PASSWORD)
    elapsed = time.perf_counter() - started
    assert_error(response, 401, "INVALID_CREDENTIALS")
    assert elapsed >= 0.5 * one_hash, (elapsed, one_hash)


async def test_password_hashing_does_not_stall_the_event_loop(
    client: httpx.AsyncClient, db: Database, standard_hashing: None
) -> None:
    """Argon2 runs off the loop: other requests and sockets keep being served during a sign-in."""
    email = unique_email("lag")
    await create_user(db, email=email)
    one_hash = min(_timed(lambda: auth.verify_password(None, PASSWORD)) for _ in range(2))
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    try:
        responses = await asyncio.gather(*(sign_in(client, email, "wrong-password") for _ in range(2)))
    finally:
        done.set()
        await task
    for response in responses:
        assert_error(response, 401, "INVALID_CREDENTIALS")
    assert max(gaps) < 0.5 * one_hash, (max(gaps), one_hash)


def _timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


async def test_sign_in_missing_fields_is_400(client: httpx.AsyncClient, db: Database) -> None:
    for body in ({}, {"email": "a@example.com"}, {"password": PASSWORD}):
        assert_error(await client.post(f"{API}/auth/sign-in", json=body), 400, "INVALID_REQUEST")


async def test_unverified_sign_in_is_403_and_mails_a_new_code(
    client: httpx.AsyncClient, db: Database, mailbox: Mailbox
) -> None:
    email = unique_email("unverified")
    user_id = await sign_up(client, email)
    first = mailbox.code(email)
    response = await sign_in(client, email)
    assert_error(response, 403, "EMAIL_NOT_VERIFIED")
    assert "set-cookie" not in response.headers
    assert len(mailbox.messages(email)) == 2
    second = mailbox.code(email)
    if second != first:  # the old code is replaced by the new one
        stale = await client.post(f"{API}/auth/verify-email", json={"user_id": user_id, "verification_code": first})
        assert_error(stale, 400, "INVALID_CODE")
    ok = await client.post(f"{API}/auth/verify-email", json={"user_id": user_id, "verification_code": second})
    client.cookies.clear()
    assert ok.status_code == 200, ok.text


# --- refresh -------------------------------------------------------------------------------------


async def test_refresh_rotates_both_cookies(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    signed = await signed_in(db, settings)
    response = await refresh(client, signed.refresh)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"user"}
    assert_user_info(response.json()["user"], signed.user_id, signed.email)
    access, new_refresh = assert_session_cookies(response)
    assert access != signed.access and new_refresh != signed.refresh
    assert (await me(client, access)).status_code == 200
    # The new refresh token rotates again.
    again = await refresh(client, new_refresh)
    assert again.status_code == 200, again.text


async def test_refresh_token_reuse_revokes_the_family(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    signed = await signed_in(db, settings)
    other_access, other_refresh = await new_session(db, settings, signed.user_id)  # another device

    rotated = await refresh(client, signed.refresh)
    assert rotated.status_code == 200
    access, newest_refresh = assert_session_cookies(rotated)

    reused = await refresh(client, signed.refresh)
    assert_error(reused, 401, "TOKEN_EXPIRED")
    assert "set-cookie" not in reused.headers
    # The whole family is gone: the newest refresh token and the session's access tokens.
    assert_error(await refresh(client, newest_refresh), 401, "TOKEN_EXPIRED")
    assert_error(await me(client, access), 401, "UNAUTHORIZED")
    assert_error(await me(client, signed.access), 401, "UNAUTHORIZED")
    # Another session of the same user is untouched.
    assert (await me(client, other_access)).status_code == 200
    assert (await refresh(client, other_refresh)).status_code == 200


async def test_refresh_without_a_valid_cookie_is_401_token_expired(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    assert_error(await client.post(f"{API}/auth/refresh"), 401, "TOKEN_EXPIRED")
    assert_error(await refresh(client, "garbage"), 401, "TOKEN_EXPIRED")
    signed = await signed_in(db, settings)
    # An access token is not a refresh token.
    assert_error(await refresh(client, signed.access), 401, "TOKEN_EXPIRED")
    # A refresh token sent as Bearer (instead of the cookie) does not count.
    response = await client.post(f"{API}/auth/refresh", headers=bearer(signed.refresh))
    assert_error(response, 401, "TOKEN_EXPIRED")
    # ...and none of that spent the real cookie.
    assert (await refresh(client, signed.refresh)).status_code == 200


# --- logout --------------------------------------------------------------------------------------


async def test_logout_revokes_both_tokens_and_clears_cookies(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    signed = await signed_in(db, settings)
    response = await client.delete(f"{API}/auth/logout", headers=bearer(signed.access))
    assert response.status_code == 200 and response.json() == {}
    assert_cleared(response, "access_token", "refresh_token")
    assert_error(await me(client, signed.access), 401, "UNAUTHORIZED")
    assert_error(await refresh(client, signed.refresh), 401, "TOKEN_EXPIRED")
    assert_error(await client.delete(f"{API}/auth/logout", headers=bearer(signed.access)), 401, "UNAUTHORIZED")


async def test_logout_by_cookie(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    signed = await signed_in(db, settings)
    cookies = with_cookies(access_token=signed.access, refresh_token=signed.refresh)
    response = await client.delete(f"{API}/auth/logout", headers=cookies)
    assert response.status_code == 200 and response.json() == {}
    assert_cleared(response, "access_token", "refresh_token")
    assert_error(await client.get(f"{API}/auth/me", headers=cookies), 401, "UNAUTHORIZED")


async def test_anonymous_logout_is_401(client: httpx.AsyncClient, db: Database) -> None:
    assert_error(await client.delete(f"{API}/auth/logout"), 401, "UNAUTHORIZED")
    assert_error(await client.delete(f"{API}/auth/logout", headers=bearer("garbage")), 401, "UNAUTHORIZED")


# --- forgot / reset password ---------------------------------------------------------------------


async def test_forgot_password_always_answers_the_same(
    client: httpx.AsyncClient, db: Database, mailbox: Mailbox
) -> None:
    email = unique_email("forgot")
    await passwordless_user(db, email)  # Google-only accounts set a first password this way
    nobody = unique_email("nobody")
    for address in (email, email.upper(), nobody, "not-an-email"):
        response = await client.post(f"{API}/auth/forgot-password", json={"email": address})
        assert response.status_code == 200, response.text
        assert response.json() == FORGOT_BODY
    await mailbox.wait_for(email, 2)  # mailed after the answer
    assert len(mailbox.messages(email)) == 2
    assert mailbox.messages(nobody) == []
    body = mailbox.last_body(email)
    token = mailbox.reset_token(email)
    assert f"/reset-password?token={token}" in body


async def forgot(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> str:
    before = len(mailbox.messages(email))
    response = await client.post(f"{API}/auth/forgot-password", json={"email": email})
    assert response.status_code == 200
    await mailbox.wait_for(email, before + 1)  # mailed after the answer
    return mailbox.reset_token(email)


async def reset(client: httpx.AsyncClient, token: str, new_password: str) -> httpx.Response:
    return await client.post(f"{API}/auth/reset-password", json={"token": token, "new_password": new_password})


async def test_reset_password_sets_the_new_password_once(
    client: httpx.AsyncClient, db: Database, settings: Settings, mailbox: Mailbox
) -> None:
    signed = await signed_in(db, settings, password=PASSWORD)
    token = await forgot(client, mailbox, signed.email)

    too_short = await reset(client, token, "short")
    assert_error(too_short, 400, "INVALID_REQUEST")  # and the token is not spent by it

    response = await reset(client, token, "brand-new-password")
    assert response.status_code == 200 and response.json() == {"success": True}
    new_hash = (await user_row(db, signed.user_id)).password_hash
    assert new_hash is not None and new_hash.startswith("$argon2id$")

    assert_error(await sign_in(client, signed.email, PASSWORD), 401, "INVALID_CREDENTIALS")
    assert (await sign_in(client, signed.email, "brand-new-password")).status_code == 200
    # One-time token: the second use changes nothing.
    assert_error(await reset(client, token, "another-password"), 400, "INVALID_TOKEN")
    assert (await user_row(db, signed.user_id)).password_hash == new_hash
    # The reset signed out every existing session.
    assert_error(await me(client, signed.access), 401, "UNAUTHORIZED")
    assert_error(await refresh(client, signed.refresh), 401, "TOKEN_EXPIRED")


async def test_reset_with_an_expired_or_garbage_token(
    client: httpx.AsyncClient, db: Database, mailbox: Mailbox
) -> None:
    email = unique_email("expiredreset")
    await create_user(db, email=email)
    token = await forgot(client, mailbox, email)
    async with db.transaction() as session:
        await session.execute(
            update(PasswordReset)
            .where(PasswordReset.token_hash == auth.sha256(token))  # type: ignore[arg-type]
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert_error(await reset(client, token, "brand-new-password"), 400, "TOKEN_EXPIRED")
    assert_error(await reset(client, "garbage", "brand-new-password"), 400, "INVALID_TOKEN")
    assert_error(await reset(client, "", "brand-new-password"), 400, "INVALID_TOKEN")
    missing = await client.post(f"{API}/auth/reset-password", json={"token": token})
    assert_error(missing, 400, "INVALID_REQUEST")
    # The old password still works.
    assert (await sign_in(client, email)).status_code == 200


async def test_reset_token_lives_one_hour(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email = unique_email("resetttl")
    user_id = await passwordless_user(db, email)
    token = await forgot(client, mailbox, email)
    async with db.session() as session:
        row = await session.get(PasswordReset, auth.sha256(token))
    assert row is not None and row.user_id == user_id and row.used_at is None
    assert timedelta(minutes=59) < row.expires_at - utcnow() <= timedelta(hours=1)
