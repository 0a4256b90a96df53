"""GraphQL twins of the REST ``users`` group and role management."""

from __future__ import annotations

from typing import Annotated

import strawberry

from predictql.resolvers.common import INPUT, decode_base64, user_errors
from predictql.schema.context import Info
from predictql.schema.enums import Language, Role, Theme
from predictql.schema.ids import Kind, decode
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.schema.users import MoneyTransaction, SetRolePayload, UpdateMePayload, UploadAvatarPayload, User
from predictql.services import users


@strawberry.type
class UsersQuery:
    @strawberry.field(description=f"The caller's deposits and withdrawals, newest first; pages of {BOUNDS}.")
    async def my_transactions(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[MoneyTransaction]:
        args = page_args(info, first, after, last, before)
        async with info.context.db.session() as session:
            page = await users.money_movement_page(session, info.context.actor, args)
        return connection(page, MoneyTransaction.from_item, lambda item: item.id)


@strawberry.input(description="Profile changes; omitted fields are unchanged.")
class UpdateMeInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Display name.")
    nickname: str | None = strawberry.field(default=strawberry.UNSET, description="Unique public nickname.")
    language: Language | None = strawberry.field(default=strawberry.UNSET, description="EN or RU.")
    theme: Theme | None = strawberry.field(default=strawberry.UNSET, description="Interface theme.")
    profile_hidden: bool | None = strawberry.field(default=strawberry.UNSET, description="Hide the public profile.")


@strawberry.input(description="A new avatar image.")
class UploadAvatarInput:
    content_base64: str = strawberry.field(description="JPEG, PNG, GIF or WebP bytes, base64-encoded.")


@strawberry.input(description="A role to grant or revoke.")
class SetRoleInput:
    user_id: strawberry.ID = strawberry.field(description="The user whose role changes (usr_...).")
    role: Role = strawberry.field(description="CREATOR, STATS_VIEWER or ADMIN.")
    value: bool = strawberry.field(default=True, description="true grants, false revokes.")


@strawberry.type
class UsersMutation:
    @strawberry.mutation(description="Update the caller's profile; omitted fields are unchanged.")
    @user_errors
    async def update_me(self, info: Info, input: Annotated[UpdateMeInput, INPUT]) -> UpdateMePayload:
        changes = {
            k: v.value if isinstance(v, Language | Theme) else v
            for k, v in vars(input).items()
            if v is not strawberry.UNSET and v is not None
        }
        async with info.context.db.transaction() as session:
            profile = await users.update_me(session, info.context.actor, **changes)
        return UpdateMePayload(user=User.from_profile(profile))

    @strawberry.mutation(description="Upload an avatar image (JPEG, PNG, GIF or WebP), base64-encoded.")
    @user_errors
    async def upload_avatar(self, info: Info, input: Annotated[UploadAvatarInput, INPUT]) -> UploadAvatarPayload:
        content = decode_base64(input.content_base64, code="invalid_file_type")
        settings = info.context.settings
        async with info.context.db.transaction() as session:
            url = await users.set_avatar(
                session,
                info.context.actor,
                content=content,
                directory=settings.avatar_dir,
                base_url=settings.public_url,
                max_bytes=settings.avatar_max_bytes,
            )
        return UploadAvatarPayload(avatar_url=url)

    @strawberry.mutation(description="Grant or revoke a role (stats viewers: creator; admins: any).")
    @user_errors
    async def set_role(self, info: Info, input: Annotated[SetRoleInput, INPUT]) -> SetRolePayload:
        user_id = decode(Kind.USER, input.user_id, "userId")
        async with info.context.db.transaction() as session:
            user = await users.set_role(
                session, info.context.actor, user_id=user_id, role=input.role.value, value=input.value
            )
            assert user.id is not None
            profile = await users.profile(session, info.context.actor, user_id=user.id)
        return SetRolePayload(user=User.from_profile(profile))
