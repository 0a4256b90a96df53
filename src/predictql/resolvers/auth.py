"""GraphQL twins of the REST ``auth`` group, plus personal API tokens."""

from __future__ import annotations

import strawberry

from predictql.auth import Actor
from predictql.errors import InvalidInput
from predictql.schema.context import Info
from predictql.schema.ids import Kind, decode
from predictql.schema.node import gid
from predictql.schema.users import ApiToken, AuthPayload, CreatedApiToken, SignUpPayload, User
from predictql.services import accounts, api_tokens, sessions, users
from predictql.services.sessions import TokenPair
from predictql.services.sign_in_limits import guard_for


async def _payload(info: Info, user_id: int, pair: TokenPair) -> AuthPayload:
    info.context.set_cookie("access_token", pair.access_token, pair.access_ttl)
    info.context.set_cookie("refresh_token", pair.refresh_token, pair.refresh_ttl)
    async with info.context.db.session() as session:
        profile = await users.profile(session, Actor(user_id=user_id), user_id=user_id)
    return AuthPayload(
        user=User.from_profile(profile), access_token=pair.access_token, refresh_token=pair.refresh_token
    )


@strawberry.type
class AuthQuery:
    @strawberry.field(description="The signed-in user (null when anonymous).")
    async def me(self, info: Info) -> User | None:
        actor = info.context.actor
        if actor.user_id is None:
            return None
        async with info.context.db.session() as session:
            return User.from_profile(await users.profile(session, actor, user_id=actor.user_id))

    @strawberry.field(description="The caller's live personal API tokens.")
    async def api_tokens(self, info: Info) -> list[ApiToken]:
        async with info.context.db.session() as session:
            return [ApiToken.from_row(row) for row in await api_tokens.list_mine(session, info.context.actor)]


@strawberry.type
class AuthMutation:
    @strawberry.mutation(description="Register; a 6-digit code is emailed. No tokens until verified.")
    async def sign_up(
        self, info: Info, email: str, password: str, language: str | None = None, referral_code: str | None = None
    ) -> SignUpPayload:
        async with info.context.db.transaction() as session:
            user = await accounts.sign_up(
                session,
                email=email,
                password=password,
                language=language,
                referral_code=referral_code,
                mailer=info.context.mailer,
            )
        return SignUpPayload(user_id=gid(Kind.USER, user.id), message="Check your email for the verification code.")

    @strawberry.mutation(description="Confirm the emailed code (by userId or email) and sign in.")
    async def verify_email(
        self, info: Info, code: str, user_id: strawberry.ID | None = None, email: str | None = None
    ) -> AuthPayload:
        if not code.strip() or (user_id is None and not email):
            raise InvalidInput("code and userId (or email) are required", code="MISSING_FIELDS")
        async with info.context.db.transaction() as session:
            user = await accounts.verify_email(
                session, user_id=decode(Kind.USER, user_id) if user_id is not None else None, email=email, code=code
            )
            assert user.id is not None
            pair = await sessions.open_session(session, info.context.settings, user.id)
        return await _payload(info, user.id, pair)

    @strawberry.mutation(description="Sign in with email and password.")
    async def sign_in(self, info: Info, email: str, password: str) -> AuthPayload:
        async with info.context.db.transaction() as session:
            user, pair = await accounts.sign_in(
                session,
                info.context.settings,
                email=email,
                password=password,
                mailer=info.context.mailer,
                guard=guard_for(info.context.request),
            )
        assert user.id is not None
        return await _payload(info, user.id, pair)

    @strawberry.mutation(description="Rotate tokens: the argument, or the refresh_token cookie.")
    async def refresh_token(self, info: Info, refresh_token: str | None = None) -> AuthPayload:
        token = refresh_token or info.context.request.cookies.get("refresh_token")
        async with info.context.db.transaction() as session:
            user, pair = await sessions.rotate(session, info.context.settings, refresh_token=token)
        assert user.id is not None
        return await _payload(info, user.id, pair)

    @strawberry.mutation(description="Revoke this session's tokens server-side.")
    async def sign_out(self, info: Info) -> bool:
        async with info.context.db.transaction() as session:
            await sessions.sign_out(session, info.context.actor)
        info.context.set_cookie("access_token", "", 0)
        info.context.set_cookie("refresh_token", "", 0)
        return True

    @strawberry.mutation(description="Email a one-time reset link. Always true (no account enumeration).")
    async def forgot_password(self, info: Info, email: str) -> bool:
        accounts.forgot_password(info.context.db, info.context.settings, email=email, mailer=info.context.mailer)
        return True

    @strawberry.mutation(description="Set a new password with a reset token; signs out every session.")
    async def reset_password(self, info: Info, token: str, new_password: str) -> bool:
        async with info.context.db.transaction() as session:
            await accounts.reset_password(session, token=token, new_password=new_password)
        return True

    @strawberry.mutation(description="Create a personal API token (read-only unless canWrite).")
    async def create_api_token(self, info: Info, name: str, can_write: bool = False) -> CreatedApiToken:
        async with info.context.db.transaction() as session:
            row, secret = await api_tokens.create(session, info.context.actor, name=name, can_write=can_write)
        return CreatedApiToken(token=secret, api_token=ApiToken.from_row(row))

    @strawberry.mutation(description="Revoke one of the caller's API tokens.")
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> bool:
        async with info.context.db.transaction() as session:
            await api_tokens.revoke(session, info.context.actor, token_id=decode(Kind.API_TOKEN, id))
        return True
