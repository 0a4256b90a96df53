"""GraphQL twins of the REST ``users`` group and role management."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import strawberry

from predictql.errors import InvalidInput
from predictql.resolvers.common import parse_id
from predictql.schema.context import Info
from predictql.schema.users import MoneyTransaction, User
from predictql.services import users


@strawberry.type
class UsersQuery:
    @strawberry.field(description="A user's profile (private fields only for the user themself).")
    async def user(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The user's id.")],
    ) -> User:
        async with info.context.db.session() as session:
            return User.from_profile(await users.profile(session, info.context.actor, user_id=parse_id(id)))

    @strawberry.field(description="The caller's deposits and withdrawals, newest first.")
    async def my_transactions(self, info: Info) -> list[MoneyTransaction]:
        async with info.context.db.session() as session:
            return [MoneyTransaction.from_item(i) for i in await users.money_movements(session, info.context.actor)]


@strawberry.input(description="Profile changes; omitted or null fields stay as they are.")
class UpdateMeInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Display name, 1-100 characters.")
    nickname: str | None = strawberry.field(
        default=strawberry.UNSET, description="Public nickname: 3-32 letters, digits or _, unique (case-insensitive)."
    )
    language: str | None = strawberry.field(default=strawberry.UNSET, description="Interface language: en or ru.")
    theme: str | None = strawberry.field(default=strawberry.UNSET, description="Interface theme: light or dark.")
    profile_hidden: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Hide name, trades and PnL from others."
    )


@strawberry.type
class UsersMutation:
    @strawberry.mutation(description="Update the caller's profile; omitted fields are unchanged.")
    async def update_me(
        self,
        info: Info,
        input: Annotated[UpdateMeInput, strawberry.argument(description="The changes.")],
    ) -> User:
        changes = {k: v for k, v in vars(input).items() if v is not strawberry.UNSET and v is not None}
        async with info.context.db.transaction() as session:
            return User.from_profile(await users.update_me(session, info.context.actor, **changes))

    @strawberry.mutation(description="Upload an avatar image (JPEG, PNG, GIF or WebP), base64-encoded.")
    async def upload_avatar(
        self,
        info: Info,
        content_base64: Annotated[
            str, strawberry.argument(description="The whole image, base64-encoded, within the server's size limit.")
        ],
    ) -> str:
        try:
            content = base64.b64decode(content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("contentBase64 is not valid base64", code="invalid_file_type") from None
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
    async def set_role(
        self,
        info: Info,
        user_id: Annotated[strawberry.ID, strawberry.argument(description="The user whose role changes.")],
        role: Annotated[
            str,
            strawberry.argument(
                description="The role: creator, stats_viewer or admin (an admin cannot drop their own admin role)."
            ),
        ],
        value: Annotated[bool, strawberry.argument(description="True grants the role, false revokes it.")] = True,
    ) -> User:
        async with info.context.db.transaction() as session:
            user = await users.set_role(session, info.context.actor, user_id=parse_id(user_id), role=role, value=value)
            assert user.id is not None
            return User.from_profile(await users.profile(session, info.context.actor, user_id=user.id))
