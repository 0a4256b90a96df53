"""REST group ``referrals`` (lower_snake codes, as the users pages write them)."""

from __future__ import annotations

from typing import Any

from predictql.rest_compat.routing import ApiRequest, endpoint
from predictql.services import referrals


@endpoint("GET", "/users/me/referral/info", auth="required", lower_codes=True)
async def referral_info(api: ApiRequest) -> dict[str, Any]:
    async with api.db.session() as session:
        info = await referrals.info(session, api.actor)
    referrer = info.referrer
    return {
        "referral_code": info.referral_code,
        "referrer": {"name": referrer.name, "image_url": referrer.image_url} if referrer else None,
        "total_earnings": info.total_earnings,
        "total_referrals": info.total_referrals,
        "total_volume": info.total_volume,
        "total_deposits": info.total_deposits,
        "stats": {
            f"level{n}": {"count": s.count, "total_volume": s.total_volume, "earnings": s.earnings, "fee": s.fee}
            for n, s in enumerate(info.levels, start=1)
        },
    }


@endpoint("GET", "/users/me/referral/children", auth="required", lower_codes=True)
async def referral_children(api: ApiRequest) -> list[dict[str, Any]]:
    async with api.db.session() as session:
        found = await referrals.children(session, api.actor)
    return [
        {
            "id": child.id,
            "username": child.username,
            "image": child.image,
            "level": child.level,
            "joined_date": child.joined_date,
            "total_bets": child.total_bets,
            "total_volume": child.total_volume,
        }
        for child in found
    ]
