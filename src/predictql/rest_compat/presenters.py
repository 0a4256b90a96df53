"""REST shapes of shared objects, exactly as the Intotes examples show them (routes.yaml schemas)."""

from __future__ import annotations

from typing import Any

from predictql.models import User
from predictql.services.users import MoneyMovement, Profile


def user_info(profile: Profile) -> dict[str, Any]:
    user = profile.user
    data: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "nickname": user.nickname,
        "profile_hidden": user.profile_hidden,
        "language": user.language,
        "theme": user.theme,
        "level": user.level,
        "avatar_url": user.avatar_url,
        "telegram_verified": user.telegram_verified,
        "is_creator": user.is_creator,
        "is_stats_viewer": user.is_stats_viewer,
        "positions": [],
        "closed_positions": [],
        "closed_positions_has_more": False,
        "total_predictions": 0,
        "biggest_win": 0,
        "registered_date": user.created_at.date().isoformat(),
    }
    if profile.balances is not None:
        data.update(
            email=user.email,
            referral_code=user.referral_code,
            balance=profile.balances.cash,
            bonus_balance=profile.balances.bonus,
            total_balance=profile.balances.total,
            # No custody integration: deposit addresses are not issued by this server.
            tron_address=None,
            bsc_address=None,
            polygon_address=None,
            ethereum_address=None,
        )
    return data


def raw_user(user: User, balance: int, bonus: int) -> dict[str, Any]:
    """The DB-shaped user that verify-email returns."""
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": "admin" if user.is_admin else "creator" if user.is_creator else "user",
        "balance": balance,
        "bonus_balance": bonus,
        "email_verified": user.email_verified,
        "profile_hidden": user.profile_hidden,
        "language": user.language,
        "theme": user.theme,
        "telegram_verified": user.telegram_verified,
        "is_banned": user.is_banned,
        "oauth_provider": user.oauth_provider or "",
        "created_at": user.created_at,
    }


def money_movement(item: MoneyMovement) -> dict[str, Any]:
    return {"id": item.id, "type": item.type, "amount": item.amount, "status": item.status, "created_at": item.created_at}
