"""The 3-level referral split of every collected fee, and what referrers read back."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import select

from predictql.models import User
from predictql.pricing.fees import referral_split
from predictql.services import ledger
from predictql.services.ledger import Movement

REFERRAL_KINDS = ("referral_l1", "referral_l2", "referral_l3")


async def chain(session: AsyncSession, user_id: int) -> list[int]:
    """The user's referrers, nearest first (at most 3), in one query."""
    level1, level2 = aliased(User), aliased(User)
    row = (
        await session.execute(
            select(User.referrer_id, level1.referrer_id, level2.referrer_id)
            .select_from(User)
            .outerjoin(level1, level1.id == User.referrer_id)  # type: ignore[arg-type]
            .outerjoin(level2, level2.id == level1.referrer_id)  # type: ignore[arg-type]
            .where(User.id == user_id)
        )
    ).first()
    referrers: list[int] = []
    for referrer in row or ():
        if referrer is None:
            break
        referrers.append(int(referrer))
    return referrers


def fee_movements(fee: int, referrers: list[int], *, payer_id: int, reference: tuple[str, int]) -> list[Movement]:
    """Distribute a fee already credited to ``platform:fees``: 15/4/1 % to referrers, rest to revenue."""
    if fee <= 0:
        return []
    shares, platform = referral_split(fee, len(referrers))
    movements = [
        ledger.transfer(REFERRAL_KINDS[level], ledger.FEES, ledger.user_cash(referrer), share,
                        user_id=payer_id, reference=reference)
        for level, (referrer, share) in enumerate(zip(referrers, shares, strict=True))
    ]
    movements.append(
        ledger.transfer("fee_revenue", ledger.FEES, ledger.REVENUE, platform, user_id=payer_id, reference=reference)
    )
    return movements
