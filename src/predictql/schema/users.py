"""GraphQL types for users, their tokens and money movements."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from predictql.models import ApiToken as ApiTokenRow
from predictql.schema.context import Info
from predictql.schema.history import row_id
from predictql.schema.ids import Kind
from predictql.schema.scalars import Long
from predictql.services.positions import Summary
from predictql.services.users import MoneyMovement, Profile


@strawberry.type(description="A user. Private fields are null unless the caller is this user.")
class User:
    id: strawberry.ID
    name: str
    nickname: str | None
    avatar_url: str | None
    language: str
    theme: str
    level: int
    profile_hidden: bool
    is_creator: bool
    is_stats_viewer: bool
    telegram_verified: bool
    registered_date: date
    email: str | None = strawberry.field(description="Only for the user themself.")
    referral_code: str | None = strawberry.field(description="Only for the user themself.")
    balance: Long | None = strawberry.field(description="Cash balance in kopecks (self only).")
    bonus_balance: Long | None = strawberry.field(description="Bonus balance in kopecks (self only).")
    total_balance: Long | None = strawberry.field(description="balance + bonusBalance (self only).")
    email_verified: bool | None = strawberry.field(description="Only for the user themself.")
    is_admin: bool | None = strawberry.field(description="Only for the user themself.")

    async def _summary(self, info: Info) -> Summary | None:
        user_id = row_id(Kind.USER, self.id)
        if self.profile_hidden and info.context.actor.user_id != user_id:
            return None
        return await info.context.loaders.summary_by_user_id.load(user_id)

    @strawberry.field(description="Positions ever opened (public profile statistic); null for a hidden profile.")
    async def total_predictions(self, info: Info) -> int | None:
        summary = await self._summary(info)
        return summary.total_predictions if summary else None

    @strawberry.field(
        description="Best realized PnL of one closed position, kopecks (0 before a win); null for a hidden profile."
    )
    async def biggest_win(self, info: Info) -> Long | None:
        summary = await self._summary(info)
        return Long(summary.biggest_win) if summary else None

    @classmethod
    def from_profile(cls, profile: Profile) -> User:
        user, money = profile.user, profile.balances
        return cls(
            id=strawberry.ID(str(user.id)),
            name=user.name,
            nickname=user.nickname,
            avatar_url=user.avatar_url,
            language=user.language,
            theme=user.theme,
            level=user.level,
            profile_hidden=user.profile_hidden,
            is_creator=user.is_creator,
            is_stats_viewer=user.is_stats_viewer,
            telegram_verified=user.telegram_verified,
            registered_date=user.created_at.date(),
            email=user.email if money else None,
            referral_code=user.referral_code if money else None,
            balance=Long(money.cash) if money else None,
            bonus_balance=Long(money.bonus) if money else None,
            total_balance=Long(money.total) if money else None,
            email_verified=user.email_verified if money else None,
            is_admin=user.is_admin if money else None,
        )


@strawberry.type(description="A signed-in user; the tokens are also set as HttpOnly cookies over HTTP.")
class AuthPayload:
    user: User
    access_token: str = strawberry.field(description="Send as `Authorization: Bearer ...`.")
    refresh_token: str = strawberry.field(description="Exchange with `refreshToken` before it expires.")


@strawberry.type
class SignUpPayload:
    user_id: strawberry.ID
    message: str


@strawberry.type(description="A personal API token (the secret is shown only once, at creation).")
class ApiToken:
    id: strawberry.ID
    name: str
    prefix: str
    can_write: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: ApiTokenRow) -> ApiToken:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, prefix=row.prefix, can_write=row.can_write,
                   created_at=row.created_at)


@strawberry.type
class CreatedApiToken:
    token: str = strawberry.field(description="The secret; store it now, it is not shown again.")
    api_token: ApiToken


@strawberry.type(description="A deposit or withdrawal, from the ledger.")
class MoneyTransaction:
    id: strawberry.ID
    type: str
    amount: Long
    status: str
    created_at: datetime

    @classmethod
    def from_item(cls, item: MoneyMovement) -> MoneyTransaction:
        return cls(id=strawberry.ID(str(item.id)), type=item.type, amount=Long(item.amount), status=item.status,
                   created_at=item.created_at)


@strawberry.type
class RoleChange:
    user: User
