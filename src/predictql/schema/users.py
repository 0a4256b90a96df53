"""GraphQL types for users, their tokens and money movements."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from predictql.models import ApiToken as ApiTokenRow
from predictql.schema.context import Info
from predictql.schema.enums import Language, MoneyTransactionStatus, MoneyTransactionType, PositionStatus, Theme
from predictql.schema.ids import Kind, decode
from predictql.schema.node import Node, gid
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, page_args
from predictql.schema.payloads import MutationPayload
from predictql.schema.scalars import Long
from predictql.services.positions import Summary
from predictql.services.users import MoneyMovement, Profile

if TYPE_CHECKING:
    from predictql.schema.trading import Position


@strawberry.type(description="A user. Private fields are null unless the caller is this user.")
class User(Node):
    id: strawberry.ID = strawberry.field(description="The user's global id (usr_...).")
    name: str = strawberry.field(description="Display name (1-100 characters).")
    nickname: str | None = strawberry.field(description="Public nickname; null when not set.")
    avatar_url: str | None = strawberry.field(description="URL of the avatar image; null when none was uploaded.")
    language: Language = strawberry.field(description="Interface language.")
    theme: Theme = strawberry.field(description="Interface theme.")
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
    is_operator: bool | None = strawberry.field(
        description=(
            "May work the back office (card orders, withdrawals, P2P disputes, support chat). "
            "Only for the user themself."
        )
    )

    @strawberry.field(
        description=f"The user's positions, newest first, open and closed (status narrows them); pages of {BOUNDS}. "
        "Null when the profile is hidden from the caller (anyone but the user themself)."
    )
    async def positions(
        self,
        info: Info,
        status: Annotated[
            PositionStatus | None, strawberry.argument(description="OPEN or CLOSED; both when omitted.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Annotated[Position, strawberry.lazy("predictql.schema.trading")]] | None:
        from predictql.schema.trading import positions_of

        user_id = decode(Kind.USER, self.id)
        if self.profile_hidden and info.context.actor.user_id != user_id:
            return None
        return await positions_of(info, user_id, status, page_args(info, first, after, last, before))

    async def _summary(self, info: Info) -> Summary | None:
        user_id = decode(Kind.USER, self.id)
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
            id=gid(Kind.USER, user.id),
            name=user.name,
            nickname=user.nickname,
            avatar_url=user.avatar_url,
            language=Language(user.language),
            theme=Theme(user.theme),
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
            is_operator=user.is_operator if money else None,
        )


@strawberry.type(description="A signed-in session's fields; the tokens are also set as HttpOnly cookies over HTTP.")
class SessionPayload(MutationPayload):
    user: User | None = strawberry.field(default=None, description="The signed-in user.")
    access_token: str | None = strawberry.field(default=None, description="Send as `Authorization: Bearer ...`.")
    refresh_token: str | None = strawberry.field(
        default=None, description="Exchange with `refreshToken` before it expires."
    )


@strawberry.type(description="What verifyEmail changed: the account is verified and signed in.")
class VerifyEmailPayload(SessionPayload):
    pass


@strawberry.type(description="What signIn changed: a new session.")
class SignInPayload(SessionPayload):
    pass


@strawberry.type(description="What refreshToken changed: the session's rotated tokens.")
class RefreshTokenPayload(SessionPayload):
    pass


@strawberry.type(description="What signUp changed: an unverified account; the code is emailed.")
class SignUpPayload(MutationPayload):
    user_id: strawberry.ID | None = strawberry.field(default=None, description="The new account's global id (usr_...).")
    message: str | None = strawberry.field(default=None, description="What to do next.")


@strawberry.type(description="What signOut changed: this session's tokens are revoked.")
class SignOutPayload(MutationPayload):
    pass


@strawberry.type(description="What forgotPassword changed: a reset link is emailed if the account exists.")
class ForgotPasswordPayload(MutationPayload):
    pass


@strawberry.type(description="What resetPassword changed: the password, and every session is signed out.")
class ResetPasswordPayload(MutationPayload):
    pass


@strawberry.type(description="A personal API token (the secret is shown only once, at creation).")
class ApiToken(Node):
    id: strawberry.ID = strawberry.field(description="The token's global id (tok_...), for revokeApiToken.")
    name: str = strawberry.field(description="The caller's label for the token (1-100 characters).")
    prefix: str = strawberry.field(
        description="The first 10 characters of the secret, to recognise it; the secret itself is never shown again."
    )
    can_write: bool = strawberry.field(description="True: the token may call mutations; false: read-only.")
    created_at: datetime = strawberry.field(description="When the token was created (RFC 3339, UTC).")

    @classmethod
    def from_row(cls, row: ApiTokenRow) -> ApiToken:
        return cls(
            id=gid(Kind.API_TOKEN, row.id),
            name=row.name,
            prefix=row.prefix,
            can_write=row.can_write,
            created_at=row.created_at,
        )


@strawberry.type(description="What createApiToken changed: a new token and its secret.")
class CreateApiTokenPayload(MutationPayload):
    token: str | None = strawberry.field(default=None, description="The secret; store it now, it is not shown again.")
    api_token: ApiToken | None = strawberry.field(default=None, description="The new token.")


@strawberry.type(description="What revokeApiToken changed.")
class RevokeApiTokenPayload(MutationPayload):
    revoked_api_token_id: strawberry.ID | None = strawberry.field(default=None, description="The revoked token's id.")


@strawberry.type(description="What updateMe changed.")
class UpdateMePayload(MutationPayload):
    user: User | None = strawberry.field(default=None, description="The caller as they now are.")


@strawberry.type(description="What uploadAvatar changed.")
class UploadAvatarPayload(MutationPayload):
    avatar_url: str | None = strawberry.field(default=None, description="Where the new avatar is served.")


@strawberry.type(description="What setRole changed.")
class SetRolePayload(MutationPayload):
    user: User | None = strawberry.field(default=None, description="The user with their roles as they now are.")


@strawberry.type(description="A deposit or withdrawal, from the ledger.")
class MoneyTransaction(Node):
    id: strawberry.ID = strawberry.field(description="The ledger transaction's global id (txn_...).")
    type: MoneyTransactionType = strawberry.field(description="The direction: DEPOSIT or WITHDRAWAL.")
    amount: Long = strawberry.field(description="Kopecks moved (always positive; type gives the direction).")
    status: MoneyTransactionStatus = strawberry.field(
        description="COMPLETED for deposits; a withdrawal (card or crypto) is PENDING until sent (COMPLETED) or "
        "cancelled or rejected (FAILED)."
    )
    created_at: datetime = strawberry.field(description="When it was recorded (RFC 3339, UTC).")

    @classmethod
    def from_item(cls, item: MoneyMovement) -> MoneyTransaction:
        return cls(
            id=gid(Kind.TRANSACTION, item.id),
            type=MoneyTransactionType(item.type),
            amount=Long(item.amount),
            status=MoneyTransactionStatus(item.status),
            created_at=item.created_at,
        )


@strawberry.type
class RoleChange:
    user: User
