"""GraphQL twins of the REST ``auth`` group, plus personal API tokens."""

from __future__ import annotations

from typing import Annotated, TypeVar

import strawberry

from predictql.auth import Actor
from predictql.errors import InvalidInput
from predictql.resolvers.common import INPUT, user_errors
from predictql.schema import ids
from predictql.schema.context import Info
from predictql.schema.enums import Language
from predictql.schema.ids import Kind, decode
from predictql.schema.node import gid
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.schema.users import (
    ApiToken,
    CreateApiTokenPayload,
    ForgotPasswordPayload,
    RefreshTokenPayload,
    ResetPasswordPayload,
    RevokeApiTokenPayload,
    SessionPayload,
    SignInPayload,
    SignOutPayload,
    SignUpPayload,
    User,
    VerifyEmailPayload,
)
from predictql.services import accounts, api_tokens, sessions, users
from predictql.services.sessions import TokenPair
from predictql.services.sign_in_limits import guard_for

S = TypeVar("S", bound=SessionPayload)


async def _session(info: Info, kind: type[S], user_id: int, pair: TokenPair) -> S:
    info.context.set_cookie("access_token", pair.access_token, pair.access_ttl)
    info.context.set_cookie("refresh_token", pair.refresh_token, pair.refresh_ttl)
    async with info.context.db.session() as session:
        profile = await users.profile(session, Actor(user_id=user_id), user_id=user_id)
    return kind(user=User.from_profile(profile), access_token=pair.access_token, refresh_token=pair.refresh_token)


@strawberry.input(description="A new account.")
class SignUpInput:
    email: str = strawberry.field(description="The account's email; the verification code is sent there.")
    password: str = strawberry.field(description="At least 8 characters.")
    language: Language | None = strawberry.field(default=None, description="EN or RU; RU when omitted.")
    referral_code: str | None = strawberry.field(default=None, description="The referrer's code, if any.")


@strawberry.input(description="The emailed code, and whose it is (userId or email).")
class VerifyEmailInput:
    code: str = strawberry.field(description="The 6-digit code from the email.")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="The account's id (from signUp).")
    email: str | None = strawberry.field(default=None, description="Or the account's email.")


@strawberry.input(description="Email and password.")
class SignInInput:
    email: str = strawberry.field(description="The account's email.")
    password: str = strawberry.field(description="The account's password.")


@strawberry.input(description="The refresh token to rotate (or none: the refresh_token cookie is used).")
class RefreshTokenInput:
    refresh_token: str | None = strawberry.field(default=None, description="The refresh token; the cookie if null.")


@strawberry.input(description="The account whose password is forgotten.")
class ForgotPasswordInput:
    email: str = strawberry.field(description="The account's email.")


@strawberry.input(description="A reset token from the emailed link and the new password.")
class ResetPasswordInput:
    token: str = strawberry.field(description="The token from the reset link.")
    new_password: str = strawberry.field(description="At least 8 characters.")


@strawberry.input(description="A new personal API token.")
class CreateApiTokenInput:
    name: str = strawberry.field(description="A name to recognise it by.")
    can_write: bool = strawberry.field(default=False, description="true lets it write (trade); read-only otherwise.")


@strawberry.input(description="The API token to revoke.")
class RevokeApiTokenInput:
    id: strawberry.ID = strawberry.field(description="One of the caller's API tokens.")


@strawberry.type
class AuthQuery:
    @strawberry.field(description="The signed-in user (null when anonymous).")
    async def me(self, info: Info) -> User | None:
        actor = info.context.actor
        if actor.user_id is None:
            return None
        async with info.context.db.session() as session:
            return User.from_profile(await users.profile(session, actor, user_id=actor.user_id))

    @strawberry.field(description=f"The caller's live personal API tokens, newest first; pages of {BOUNDS}.")
    async def api_tokens(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[ApiToken]:
        args = page_args(info, first, after, last, before)
        async with info.context.db.session() as session:
            page = await api_tokens.page_mine(session, info.context.actor, args)
        return connection(page, ApiToken.from_row, lambda row: row.id)


@strawberry.type
class AuthMutation:
    @strawberry.mutation(description="Register; a 6-digit code is emailed. No tokens until verified.")
    @user_errors
    async def sign_up(self, info: Info, input: Annotated[SignUpInput, INPUT]) -> SignUpPayload:
        async with info.context.db.transaction() as session:
            user = await accounts.sign_up(
                session,
                email=input.email,
                password=input.password,
                language=input.language.value if input.language is not None else None,
                referral_code=input.referral_code,
                mailer=info.context.mailer,
            )
        return SignUpPayload(user_id=gid(Kind.USER, user.id), message="Check your email for the verification code.")

    @strawberry.mutation(description="Confirm the emailed code (by userId or email) and sign in.")
    @user_errors
    async def verify_email(self, info: Info, input: Annotated[VerifyEmailInput, INPUT]) -> VerifyEmailPayload:
        if not input.code.strip() or (input.user_id is None and not input.email):
            raise InvalidInput("code and userId (or email) are required", code="MISSING_FIELDS")
        user_id = decode(Kind.USER, input.user_id, "userId") if input.user_id is not None else None
        async with info.context.db.transaction() as session:
            user = await accounts.verify_email(session, user_id=user_id, email=input.email, code=input.code)
            assert user.id is not None
            pair = await sessions.open_session(session, info.context.settings, user.id)
        return await _session(info, VerifyEmailPayload, user.id, pair)

    @strawberry.mutation(description="Sign in with email and password.")
    @user_errors
    async def sign_in(self, info: Info, input: Annotated[SignInInput, INPUT]) -> SignInPayload:
        async with info.context.db.transaction() as session:
            user, pair = await accounts.sign_in(
                session,
                info.context.settings,
                email=input.email,
                password=input.password,
                mailer=info.context.mailer,
                guard=guard_for(info.context.request),
            )
        assert user.id is not None
        return await _session(info, SignInPayload, user.id, pair)

    @strawberry.mutation(description="Rotate tokens: the argument, or the refresh_token cookie.")
    @user_errors
    async def refresh_token(
        self, info: Info, input: Annotated[RefreshTokenInput | None, INPUT] = None
    ) -> RefreshTokenPayload:
        token = (input.refresh_token if input else None) or info.context.request.cookies.get("refresh_token")
        async with info.context.db.transaction() as session:
            user, pair = await sessions.rotate(session, info.context.settings, refresh_token=token)
        assert user.id is not None
        return await _session(info, RefreshTokenPayload, user.id, pair)

    @strawberry.mutation(description="Revoke this session's tokens server-side.")
    @user_errors
    async def sign_out(self, info: Info) -> SignOutPayload:
        async with info.context.db.transaction() as session:
            await sessions.sign_out(session, info.context.actor)
        info.context.set_cookie("access_token", "", 0)
        info.context.set_cookie("refresh_token", "", 0)
        return SignOutPayload()

    @strawberry.mutation(description="Email a one-time reset link. Succeeds whether or not the account exists.")
    @user_errors
    async def forgot_password(self, info: Info, input: Annotated[ForgotPasswordInput, INPUT]) -> ForgotPasswordPayload:
        accounts.forgot_password(info.context.db, info.context.settings, email=input.email, mailer=info.context.mailer)
        return ForgotPasswordPayload()

    @strawberry.mutation(description="Set a new password with a reset token; signs out every session.")
    @user_errors
    async def reset_password(self, info: Info, input: Annotated[ResetPasswordInput, INPUT]) -> ResetPasswordPayload:
        async with info.context.db.transaction() as session:
            await accounts.reset_password(session, token=input.token, new_password=input.new_password)
        return ResetPasswordPayload()

    @strawberry.mutation(description="Create a personal API token (read-only unless canWrite).")
    @user_errors
    async def create_api_token(self, info: Info, input: Annotated[CreateApiTokenInput, INPUT]) -> CreateApiTokenPayload:
        async with info.context.db.transaction() as session:
            row, secret = await api_tokens.create(
                session, info.context.actor, name=input.name, can_write=input.can_write
            )
        return CreateApiTokenPayload(token=secret, api_token=ApiToken.from_row(row))

    @strawberry.mutation(description="Revoke one of the caller's API tokens.")
    @user_errors
    async def revoke_api_token(self, info: Info, input: Annotated[RevokeApiTokenInput, INPUT]) -> RevokeApiTokenPayload:
        token_id = decode(Kind.API_TOKEN, input.id, "id")
        async with info.context.db.transaction() as session:
            await api_tokens.revoke(session, info.context.actor, token_id=token_id)
        return RevokeApiTokenPayload(revoked_api_token_id=strawberry.ID(ids.encode(ids.Kind.API_TOKEN, token_id)))
