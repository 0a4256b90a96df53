"""REST group ``auth``: sign-up, verification, sign-in, tokens, password reset, Google sign-in."""

from __future__ import annotations

from typing import Any

from pydantic import StrictInt, StrictStr
from starlette.responses import RedirectResponse, Response

from predictql.auth import Actor
from predictql.errors import InvalidInput
from predictql.rest_compat.presenters import raw_user, user_info_with_activity
from predictql.rest_compat.routing import ApiRequest, StrictBody, endpoint
from predictql.services import accounts, ledger, oauth, sessions, users
from predictql.services.sessions import TokenPair
from predictql.services.sign_in_limits import guard_for

OAUTH_STATE_COOKIE = "oauth_state"


class SignUp(StrictBody):
    email: StrictStr
    password: StrictStr
    language: StrictStr | None = None
    referral_code: StrictStr | None = None


class VerifyEmail(StrictBody):
    user_id: StrictInt | None = None
    verification_code: StrictStr | None = None
    email: StrictStr | None = None
    code: StrictStr | None = None


class SignIn(StrictBody):
    email: StrictStr
    password: StrictStr


class ForgotPassword(StrictBody):
    email: StrictStr


class ResetPassword(StrictBody):
    token: StrictStr
    new_password: StrictStr


def _set_tokens(api: ApiRequest, pair: TokenPair) -> None:
    api.set_cookie("access_token", pair.access_token, pair.access_ttl)
    api.set_cookie("refresh_token", pair.refresh_token, pair.refresh_ttl)


async def _me(api: ApiRequest, user_id: int) -> dict[str, Any]:
    actor = Actor(user_id=user_id)
    async with api.db.session() as session:
        profile = await users.profile(session, actor, user_id=user_id)
        return {"user": await user_info_with_activity(session, actor, profile)}


@endpoint("POST", "/auth/sign-up", auth="none", status=201, body=SignUp)
async def sign_up(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(SignUp)
    async with api.db.transaction() as session:
        user = await accounts.sign_up(
            session,
            email=body.email,
            password=body.password,
            language=body.language,
            referral_code=body.referral_code,
            mailer=api.mailer,
        )
    return {
        "success": True,
        "message": "User created successfully. Please check your email for verification code.",
        "user_id": user.id,
    }


@endpoint("POST", "/auth/verify-email", auth="none", invalid_code="MISSING_FIELDS", body=VerifyEmail)
async def verify_email(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(VerifyEmail)
    code = body.verification_code or body.code
    if not code or (body.user_id is None and not body.email):
        raise InvalidInput("user_id (or email) and verification_code are required", code="MISSING_FIELDS")
    async with api.db.transaction() as session:
        user = await accounts.verify_email(session, user_id=body.user_id, email=body.email, code=code)
        assert user.id is not None
        pair = await sessions.open_session(session, api.settings, user.id)
        money = await ledger.balances(session, user.id)
    _set_tokens(api, pair)
    return {"success": True, "message": "Email verified successfully", "user": raw_user(user, money.cash, money.bonus)}


@endpoint("POST", "/auth/sign-in", auth="none", body=SignIn)
async def sign_in(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(SignIn)
    async with api.db.transaction() as session:
        user, pair = await accounts.sign_in(
            session,
            api.settings,
            email=body.email,
            password=body.password,
            mailer=api.mailer,
            guard=guard_for(api.request),
        )
    _set_tokens(api, pair)
    assert user.id is not None
    return await _me(api, user.id)


@endpoint("POST", "/auth/refresh", auth="none")
async def refresh(api: ApiRequest) -> dict[str, Any]:
    async with api.db.transaction() as session:
        user, pair = await sessions.rotate(
            session, api.settings, refresh_token=api.request.cookies.get("refresh_token")
        )
    _set_tokens(api, pair)
    assert user.id is not None
    return await _me(api, user.id)


@endpoint("DELETE", "/auth/logout", auth="required")
async def logout(api: ApiRequest) -> dict[str, Any]:
    async with api.db.transaction() as session:
        await sessions.sign_out(session, api.actor)
    api.set_cookie("access_token", "", 0)
    api.set_cookie("refresh_token", "", 0)
    return {}


@endpoint("GET", "/auth/me", auth="required")
async def me(api: ApiRequest) -> dict[str, Any]:
    return await _me(api, api.actor.require_user())


@endpoint("POST", "/auth/forgot-password", auth="none", body=ForgotPassword)
async def forgot_password(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(ForgotPassword)
    accounts.forgot_password(api.db, api.settings, email=body.email, mailer=api.mailer)
    return {"success": True, "message": "If an account with that email exists, a password reset link has been sent."}


@endpoint("POST", "/auth/reset-password", auth="none", body=ResetPassword)
async def reset_password(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(ResetPassword)
    async with api.db.transaction() as session:
        await accounts.reset_password(session, token=body.token, new_password=body.new_password)
    return {"success": True}


@endpoint("GET", "/auth/google", auth="none", status=302)
async def google_start(api: ApiRequest) -> Response:
    start = oauth.start(api.settings)
    api.set_cookie(OAUTH_STATE_COOKIE, start.state, 600)
    return RedirectResponse(start.url, status_code=api.spec.status)


@endpoint("GET", "/auth/google/callback", auth="none")
async def google_callback(api: ApiRequest) -> dict[str, Any]:
    params = api.request.query_params
    async with api.db.transaction() as session:
        user, pair = await oauth.callback(
            session,
            api.settings,
            api.state("http"),
            code=params.get("code"),
            state=params.get("state"),
            expected_state=api.request.cookies.get(OAUTH_STATE_COOKIE),
        )
    _set_tokens(api, pair)
    api.set_cookie(OAUTH_STATE_COOKIE, "", 0)
    assert user.id is not None
    return await _me(api, user.id)
