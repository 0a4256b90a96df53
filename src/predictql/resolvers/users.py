"""GraphQL twins of the REST ``users`` group and role management."""

from __future__ import annotations

import strawberry

from predictql.resolvers.common import decode_base64, parse_id
from predictql.schema.context import Info
from predictql.schema.users import MoneyTransaction, User
from predictql.services import users


@strawberry.type
class UsersQuery:
    @strawberry.field(description="A user's profile (private fields only for the user themself).")
    async def user(self, info: Info, id: strawberry.ID) -> User:
        async with info.context.db.session() as session:
            return User.from_profile(await users.profile(session, info.context.actor, user_id=parse_id(id)))

    @strawberry.field(description="The caller's deposits and withdrawals, newest first.")
    async def my_transactions(self, info: Info) -> list[MoneyTransaction]:
        async with info.context.db.session() as session:
            return [MoneyTransaction.from_item(i) for i in await users.money_movements(session, info.context.actor)]


@strawberry.input
class UpdateMeInput:
    name: str | None = strawberry.UNSET
    nickname: str | None = strawberry.UNSET
    language: str | None = strawberry.UNSET
    theme: str | None = strawberry.UNSET
    profile_hidden: bool | None = strawberry.UNSET


@strawberry.type
class UsersMutation:
    @strawberry.mutation(description="Update the caller's profile; omitted fields are unchanged.")
    async def update_me(self, info: Info, input: UpdateMeInput) -> User:
        changes = {k: v for k, v in vars(input).items() if v is not strawberry.UNSET and v is not None}
        async with info.context.db.transaction() as session:
            return User.from_profile(await users.update_me(session, info.context.actor, **changes))

    @strawberry.mutation(description="Upload an avatar image (JPEG, PNG, GIF or WebP), base64-encoded.")
    async def upload_avatar(self, info: Info, content_base64: str) -> str:
        content = decode_base64(content_base64, code="invalid_file_type")
        settings = info.context.settings
        async with info.context.db.transaction() as session:
            return await users.set_avatar(
                session,
                info.context.actor,
                content=content,
                directory=settings.avatar_dir,
                base_url=settings.public_url,
                max_bytes=settings.avatar_max_bytes,
            )

    @strawberry.mutation(description="Grant or revoke a role (stats viewers: creator; admins: any).")
    async def set_role(self, info: Info, user_id: strawberry.ID, role: str, value: bool = True) -> User:
        async with info.context.db.transaction() as session:
            user = await users.set_role(session, info.context.actor, user_id=parse_id(user_id), role=role, value=value)
            assert user.id is not None
            return User.from_profile(await users.profile(session, info.context.actor, user_id=user.id))
