"""GraphQL types for users, their tokens and money movements."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from predictql.models import ApiToken as ApiTokenRow
from predictql.schema.scalars import Long
from predictql.services.users import MoneyMovement, Profile


@strawberry.type(description="A user. Private fields are null unless the caller is this user.")
class User:
    id: strawberry.ID = strawberry.field(description="The user's id.")
    name: str = strawberry.field(description="Display name (1-100 characters).")
    nickname: str | None = strawberry.field(description="Public nickname; null when not set.")
    avatar_url: str | None = strawberry.field(description="URL of the avatar image; null when none was uploaded.")
    language: str = strawberry.field(description="Interface language: en or ru.")
    theme: str = strawberry.field(description="Interface theme: light or dark.")
    level: int = strawberry.field(description="Trader level, from 0.")
    profile_hidden: bool = strawberry.field(
        description="The user hides their name, trades and PnL from others (shown as 'Anonymous')."
    )
    is_creator: bool = strawberry.field(description="May create events and pools.")
    is_stats_viewer: bool = strawberry.field(description="May view platform statistics and grant the creator role.")
    telegram_verified: bool = strawberry.field(description="A Telegram account is linked and verified.")
    registered_date: date = strawberry.field(description="The UTC day the account was created.")
    email: str | None = strawberry.field(description="Only for the user themself.")
    referral_code: str | None = strawberry.field(description="Only for the user themself.")
    balance: Long | None = strawberry.field(description="Cash balance in kopecks (self only).")
    bonus_balance: Long | None = strawberry.field(description="Bonus balance in kopecks (self only).")
    total_balance: Long | None = strawberry.field(description="Balance plus bonusBalance, kopecks (self only).")
    email_verified: bool | None = strawberry.field(description="Only for the user themself.")
    is_admin: bool | None = strawberry.field(description="Only for the user themself.")

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
    user: User = strawberry.field(description="The signed-in user, with the private fields.")
    access_token: str = strawberry.field(description="Send as `Authorization: Bearer ...`.")
    refresh_token: str = strawberry.field(description="Exchange with `refreshToken` before it expires.")


@strawberry.type(description="A registered, not yet verified account: confirm the emailed code with verifyEmail.")
class SignUpPayload:
    user_id: strawberry.ID = strawberry.field(description="The new user's id, to pass to verifyEmail.")
    message: str = strawberry.field(description="What to tell the user (the code was emailed).")


@strawberry.type(description="A personal API token (the secret is shown only once, at creation).")
class ApiToken:
    id: strawberry.ID = strawberry.field(description="The token's id, for revokeApiToken.")
    name: str = strawberry.field(description="The caller's label for the token (1-100 characters).")
    prefix: str = strawberry.field(
        description="The first 10 characters of the secret, to recognise it; the secret itself is never shown again."
    )
    can_write: bool = strawberry.field(description="True: the token may call mutations; false: read-only.")
    created_at: datetime = strawberry.field(description="When the token was created (RFC 3339, UTC).")

    @classmethod
    def from_row(cls, row: ApiTokenRow) -> ApiToken:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, prefix=row.prefix, can_write=row.can_write,
                   created_at=row.created_at)


@strawberry.type(description="A new personal API token with its secret, shown only in this answer.")
class CreatedApiToken:
    token: str = strawberry.field(description="The secret; store it now, it is not shown again.")
    api_token: ApiToken = strawberry.field(description="The token as apiTokens lists it.")


@strawberry.type(description="A deposit or withdrawal, from the ledger.")
class MoneyTransaction:
    id: strawberry.ID = strawberry.field(description="The ledger transaction's id.")
    type: str = strawberry.field(description="The direction: deposit or withdrawal.")
    amount: Long = strawberry.field(description="Kopecks moved (always positive; type gives the direction).")
    status: str = strawberry.field(
        description="Always completed: the ledger holds only settled movements."
    )
    created_at: datetime = strawberry.field(description="When it was recorded (RFC 3339, UTC).")

    @classmethod
    def from_item(cls, item: MoneyMovement) -> MoneyTransaction:
        return cls(id=strawberry.ID(str(item.id)), type=item.type, amount=Long(item.amount), status=item.status,
                   created_at=item.created_at)


@strawberry.type
class RoleChange:
    user: User
