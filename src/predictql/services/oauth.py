"""Google sign-in as a generic OAuth2 / OpenID Connect authorization-code flow.

Endpoints come from settings, so any compliant provider works (the tests run a small local one).
The ``state`` is a random value echoed through a short-lived cookie (CSRF protection).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.errors import Forbidden, InvalidInput, Unauthenticated, Unavailable
from predictql.models import User
from predictql.services import accounts, sessions
from predictql.services.sessions import TokenPair
from predictql.settings import Settings

PROVIDER = "google"


@dataclass(frozen=True, slots=True)
class Start:
    url: str
    state: str


def redirect_uri(settings: Settings) -> str:
    return f"{settings.public_url.rstrip('/')}/api/v1/auth/google/callback"


def _client(settings: Settings) -> tuple[str, str]:
    if not settings.oauth_google_client_id or settings.oauth_google_client_secret is None:
        raise Unavailable("Google sign-in is not configured on this server")
    return settings.oauth_google_client_id, settings.oauth_google_client_secret.get_secret_value()


def start(settings: Settings) -> Start:
    client_id, _ = _client(settings)
    state = secrets.token_urlsafe(24)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri(settings),
            "scope": "openid email profile",
            "state": state,
        }
    )
    return Start(f"{settings.oauth_google_authorize_url}?{query}", state)


async def _identity(settings: Settings, http: httpx.AsyncClient, code: str) -> dict[str, Any]:
    client_id, client_secret = _client(settings)
    failed = Unauthenticated("sign-in with the provider failed", code="OAUTH_FAILED")
    try:
        token = await http.post(
            settings.oauth_google_token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri(settings),
                "client_id": client_id,
                "client_secret": client_secret,
            },
            headers={"Accept": "application/json"},
        )
        grant = token.json() if token.status_code == 200 else None
        if not isinstance(grant, dict) or not isinstance(grant.get("access_token"), str):
            raise failed
        info = await http.get(
            settings.oauth_google_userinfo_url,
            headers={"Authorization": f"Bearer {grant['access_token']}"},
        )
        claims = info.json() if info.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        raise failed from exc
    # A provider answering something other than an object is a failed sign-in, not a 500.
    if not isinstance(claims, dict) or not claims.get("sub") or not isinstance(claims.get("email"), str):
        raise failed
    return claims


async def callback(
    session: AsyncSession,
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    code: str | None,
    state: str | None,
    expected_state: str | None,
) -> tuple[User, TokenPair]:
    if not code:
        raise InvalidInput("missing authorization code")
    if not state or not expected_state or not secrets.compare_digest(state, expected_state):
        raise InvalidInput("invalid OAuth state")
    claims = await _identity(settings, http, code)
    user = await _find_or_create(session, claims)
    if user.is_banned:
        raise Forbidden("account is banned")
    assert user.id is not None
    return user, await sessions.open_session(session, settings, user.id)


def _email_verified(claims: dict[str, Any]) -> bool:
    return claims.get("email_verified") in (True, "true")


async def _find_or_create(session: AsyncSession, claims: dict[str, Any]) -> User:
    subject = str(claims["sub"])
    user = await session.scalar(select(User).where(col(User.oauth_provider) == PROVIDER, col(User.oauth_id) == subject))
    if user is not None:
        return user
    # Only an address the provider has verified may create or claim an account here: an
    # unverified one would let anybody take over (or squat) the address's account.
    if not _email_verified(claims):
        raise Unauthenticated("the provider has not verified this email", code="OAUTH_FAILED")
    email = accounts.normalize_email(claims["email"])
    existing = await accounts.user_by_email(session, email)
    if existing is not None:
        if not existing.email_verified:
            # Whoever registered this address with a password never proved they own it; the
            # provider just did. Drop that password so the squatter cannot sign in afterwards.
            existing.password_hash = None
        existing.oauth_provider, existing.oauth_id = PROVIDER, subject
        existing.email_verified = True
        return existing
    user = await accounts.create_user(
        session, email=email, password=None, verified=True, name=str(claims.get("name") or "")[:100]
    )
    user.oauth_provider, user.oauth_id = PROVIDER, subject
    if isinstance(claims.get("picture"), str):
        user.avatar_url = claims["picture"][:500]
    return user
