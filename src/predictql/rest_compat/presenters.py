"""REST shapes of shared objects, exactly as the Intotes examples show them (routes.yaml schemas)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.models import User
from predictql.services import positions
from predictql.services.lmsr_trading import FeedTrade
from predictql.services.positions import SIDE_RU, Activity, PositionView
from predictql.services.users import MoneyMovement, Profile


def _position_base(view: PositionView) -> dict[str, Any]:
    p = view.position
    return {
        "id": p.id,
        "user_id": p.user_id,
        "market_id": p.market_id,
        "token_type": p.token,
        "amount": p.amount,
        "avg_price": p.avg_price,
        "use_bonus": p.use_bonus,
        "event_id": view.event.id,
        "event_name": view.event.name,
        "pool_id": view.pool.id,
        "pool_name": view.pool.name,
        "market_name": view.market.name,
        "side": p.token,
        "side_ru": SIDE_RU[p.token],
    }


def position(view: PositionView) -> dict[str, Any]:
    """PositionWithDetails."""
    return {**_position_base(view), "created_at": view.position.created_at, "unrealized_pnl": view.unrealized_pnl}


def closed_position(view: PositionView) -> dict[str, Any]:
    """ClosedPositionWithDetails: ``won_side`` 0 YES won, 1 NO won, null when sold before resolution."""
    p = view.position
    return {
        **_position_base(view),
        "pnl": p.realized_pnl,
        "won_side": p.won_side,
        "closed_at": p.closed_at,
    }


def feed_trade(item: FeedTrade) -> dict[str, Any]:
    """SimpleTrade."""
    return {
        "amount": item.amount,
        "name": item.name,
        "token": item.token,
        "event": item.event,
        "market": item.market,
        "avatar": item.avatar,
    }


def user_info(profile: Profile, activity: Activity | None = None) -> dict[str, Any]:
    """UserInfo. ``activity`` (``services.positions.activity``) fills positions and aggregates; it is
    None for a profile hidden from the caller, which then shows empty lists and zeros."""
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
        "positions": [position(view) for view in activity.open] if activity else [],
        "closed_positions": [closed_position(view) for view in activity.closed.items] if activity else [],
        "closed_positions_has_more": activity.closed.has_more if activity else False,
        "total_predictions": activity.summary.total_predictions if activity else 0,
        "biggest_win": activity.summary.biggest_win if activity else 0,
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
    return {
        "id": item.id,
        "type": item.type,
        "amount": item.amount,
        "status": item.status,
        "created_at": item.created_at,
    }


async def user_info_with_activity(session: AsyncSession, actor: Actor, profile: Profile) -> dict[str, Any]:
    """UserInfo with positions and aggregates, as ``/auth/me`` and ``/users/{id}`` show it."""
    return user_info(profile, await positions.activity(session, actor, user=profile.user))
