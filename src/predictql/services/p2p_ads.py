"""P2P ads: a trader's standing offer to buy or sell balance ("USDT") for fiat paid outside.

Amounts (``min_amount``, ``max_amount``, ``remaining_amount``) are balance kopecks, what an
order's ``usdt_amount`` is compared with; ``exchange_rate`` is fiat kopecks per 100 balance
kopecks (RUB default 100 = 1:1). ``remaining_amount`` starts at ``max_amount``: open and completed
orders take from it, a cancelled order gives its amount back. Ads are live at once
(``moderation_status`` "approved"); an operator can hide one (``p2p_backoffice``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, cast, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, Forbidden, InvalidInput, NotFound
from predictql.inputs import check_json, text_problem
from predictql.models import P2PAd, P2POrder, P2PProfile, User
from predictql.models.p2p import OPEN_ORDER_STATUSES
from predictql.services import p2p_profiles
from predictql.subscriptions import topics

TYPES = ("buy", "sell")
SORTS = ("rating", "orders_count", "best_price")
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 20, 100, 100_000
MAX_METHODS, MAX_TEXT, MAX_DETAILS = 10, 2000, 4000
MAX_RATE, MAX_AMOUNT = 10_000_000, 10**13  # so that a fiat amount always fits 64 bits
DURATIONS = (5, 180)  # the payment window's bounds, minutes
DEFAULT_DURATION = 15
LISTED = "approved"  # moderation states: approved (live) | hidden (by an operator) | deleted
CURRENCY = re.compile(r"[A-Z]{3,8}")


@dataclass(frozen=True, slots=True)
class AdView:
    """An ad with its owner and the owner's P2P stats."""

    ad: P2PAd
    owner: User
    completed_orders: int
    avg_rating: float


@dataclass(frozen=True, slots=True)
class AdFilter:
    type: str | None = None
    fiat_currency: str | None = None
    amount: int | None = None
    payment_method: str | None = None
    max_payment_duration: int | None = None
    is_active: bool | None = True
    author_nickname: str | None = None
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class AdFields:
    """What a create or update sets (None: unchanged / default)."""

    type: str | None = None
    fiat_currency: str | None = None
    exchange_rate: int | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    payment_methods: list[str] | None = None
    payment_details: dict[str, Any] | None = None
    instructions: str | None = None
    max_payment_duration: int | None = None
    is_active: bool | None = None


def _bad(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, field=field)


def _check_amounts(min_amount: int, max_amount: int) -> None:
    if min_amount <= 0:
        raise _bad("min_amount must be a positive number of kopecks", "minAmount")
    if max_amount < min_amount:
        raise _bad("max_amount must be at least min_amount", "maxAmount")
    if max_amount > MAX_AMOUNT:
        raise _bad(f"max_amount is at most {MAX_AMOUNT}", "maxAmount")


def _check_common(fields: AdFields) -> None:
    if fields.exchange_rate is not None and not 0 < fields.exchange_rate <= MAX_RATE:
        raise _bad(f"exchange_rate must be 1 to {MAX_RATE}", "exchangeRate")
    methods = fields.payment_methods
    if methods is not None:
        if not methods or len(methods) > MAX_METHODS or len(set(methods)) != len(methods):
            raise _bad(f"payment_methods: 1 to {MAX_METHODS} distinct names", "paymentMethods")
        if any(not 0 < len(m.strip()) <= 64 or m != m.strip() or text_problem(m) for m in methods):
            raise _bad("a payment method is 1 to 64 characters without surrounding spaces", "paymentMethods")
    if fields.instructions is not None and text_problem(fields.instructions):
        raise _bad("instructions hold a character that cannot be stored", "instructions")
    if fields.payment_details is not None:
        check_json(fields.payment_details, "payment_details")
        if len(str(fields.payment_details)) > MAX_DETAILS:
            raise _bad(f"payment_details is longer than {MAX_DETAILS} characters", "paymentDetails")
    if fields.instructions is not None and len(fields.instructions) > MAX_TEXT:
        raise _bad(f"instructions are longer than {MAX_TEXT} characters", "instructions")
    duration = fields.max_payment_duration
    if duration is not None and not DURATIONS[0] <= duration <= DURATIONS[1]:
        raise _bad(f"max_payment_duration: {DURATIONS[0]} to {DURATIONS[1]} minutes", "maxPaymentDuration")


async def _lock_user(session: AsyncSession, user_id: int) -> None:
    """Serializes one user's ad changes (one active ad per type) across processes."""
    await session.execute(select(col(User.id)).where(col(User.id) == user_id).with_for_update())


async def _active_twin(session: AsyncSession, user_id: int, type_: str, other_than: int | None = None) -> bool:
    query = select(col(P2PAd.id)).where(
        col(P2PAd.user_id) == user_id,
        col(P2PAd.type) == type_,
        col(P2PAd.is_active),
        col(P2PAd.moderation_status) != "deleted",
    )
    if other_than is not None:
        query = query.where(col(P2PAd.id) != other_than)
    return await session.scalar(query.limit(1)) is not None


async def create_ad(session: AsyncSession, actor: Actor, fields: AdFields) -> P2PAd:
    """Publish an ad; DUPLICATE_AD_TYPE when the caller has an active ad of this type."""
    user_id = actor.require_write()
    if fields.type not in TYPES:
        raise _bad("type must be buy or sell", "type")
    currency = fields.fiat_currency or ""
    if not CURRENCY.fullmatch(currency):
        raise _bad("fiat_currency must be a currency code such as RUB", "fiatCurrency")
    rate = fields.exchange_rate if fields.exchange_rate is not None else (100 if currency == "RUB" else None)
    if rate is None:
        raise _bad("exchange_rate is required for a currency other than RUB", "exchangeRate")
    if fields.min_amount is None or fields.max_amount is None:
        raise _bad("min_amount and max_amount are required", "minAmount")
    if fields.payment_methods is None or fields.payment_details is None:
        raise _bad("payment_methods and payment_details are required", "paymentMethods")
    _check_common(fields)
    _check_amounts(fields.min_amount, fields.max_amount)
    await _lock_user(session, user_id)
    if await _active_twin(session, user_id, fields.type):
        raise InvalidInput(f"you already have an active {fields.type} ad", code="DUPLICATE_AD_TYPE")
    ad = P2PAd(
        user_id=user_id,
        type=fields.type,
        fiat_currency=currency,
        exchange_rate=rate,
        min_amount=fields.min_amount,
        max_amount=fields.max_amount,
        remaining_amount=fields.max_amount,
        payment_methods=list(fields.payment_methods),
        payment_details=dict(fields.payment_details),
        instructions=fields.instructions or "",
        max_payment_duration=fields.max_payment_duration or DEFAULT_DURATION,
        is_active=True if fields.is_active is None else fields.is_active,
    )
    session.add(ad)
    await session.flush()
    await p2p_profiles.ensure(session, [user_id])
    # Post-moderation: the ad is live now; operators see it arrive (nothing waits on them: not open).
    topics.backoffice_item_changed(session, "p2p_ad", ad.id or 0, ad.moderation_status, open=False)
    return ad


async def _own_ad(session: AsyncSession, actor: Actor, ad_id: int) -> P2PAd:
    user_id = actor.require_write()
    ad = await session.get(P2PAd, ad_id, with_for_update=True, populate_existing=True)
    if ad is None or ad.moderation_status == "deleted":
        raise NotFound("ad not found")
    if ad.user_id != user_id:
        raise Forbidden("not your ad")
    return ad


async def _open_amount(session: AsyncSession, ad_id: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(P2POrder.usdt_amount), 0)).where(
            col(P2POrder.ad_id) == ad_id, col(P2POrder.status).in_(OPEN_ORDER_STATUSES)
        )
    )
    return int(total or 0)


async def update_ad(session: AsyncSession, actor: Actor, *, ad_id: int, fields: AdFields) -> P2PAd:
    """Change an ad of the caller's. A new max_amount refills it: remaining_amount becomes
    max_amount less what its open orders hold."""
    ad = await _own_ad(session, actor, ad_id)
    _check_common(fields)
    min_amount = fields.min_amount if fields.min_amount is not None else ad.min_amount
    max_amount = fields.max_amount if fields.max_amount is not None else ad.max_amount
    _check_amounts(min_amount, max_amount)
    if fields.is_active and not ad.is_active:
        await _lock_user(session, ad.user_id)
        if await _active_twin(session, ad.user_id, ad.type, other_than=ad.id):
            raise InvalidInput(f"you already have an active {ad.type} ad", code="DUPLICATE_AD_TYPE")
    if fields.max_amount is not None:
        ad.remaining_amount = max(0, max_amount - await _open_amount(session, ad.id or 0))
    ad.min_amount, ad.max_amount = min_amount, max_amount
    for name in (
        "exchange_rate",
        "payment_methods",
        "payment_details",
        "instructions",
        "max_payment_duration",
        "is_active",
    ):
        value = getattr(fields, name)
        if value is not None:
            setattr(ad, name, value)
    ad.updated_at = utcnow()
    await session.flush()
    return ad


async def delete_ad(session: AsyncSession, actor: Actor, *, ad_id: int) -> None:
    """Delete an ad of the caller's; HAS_OPEN_ORDERS while an order on it is open. An ad with past
    orders stays as their record (``moderation_status`` "deleted", hidden everywhere)."""
    ad = await _own_ad(session, actor, ad_id)
    open_order = select(col(P2POrder.id)).where(
        col(P2POrder.ad_id) == ad_id, col(P2POrder.status).in_(OPEN_ORDER_STATUSES)
    )
    if await session.scalar(open_order.limit(1)) is not None:
        raise Conflict("the ad has open orders", code="HAS_OPEN_ORDERS")
    if await session.scalar(select(col(P2POrder.id)).where(col(P2POrder.ad_id) == ad_id).limit(1)) is None:
        await session.delete(ad)
    else:
        ad.is_active, ad.moderation_status, ad.updated_at = False, "deleted", utcnow()
    await session.flush()


def _rating_expr() -> Any:
    return cast(P2PProfile.rating_sum, Float) / func.nullif(P2PProfile.rating_count, 0)


def _browse(filters: AdFilter) -> Any:
    query = (
        select(P2PAd, User, P2PProfile)
        .join(User, col(User.id) == col(P2PAd.user_id))
        .outerjoin(P2PProfile, col(P2PProfile.user_id) == col(P2PAd.user_id))
        .where(col(P2PAd.moderation_status) == LISTED)
    )
    if filters.is_active is not None:
        query = query.where(col(P2PAd.is_active) == filters.is_active)
    if filters.type is not None:
        query = query.where(col(P2PAd.type) == filters.type)
    if filters.fiat_currency is not None:
        query = query.where(col(P2PAd.fiat_currency) == filters.fiat_currency.upper())
    if filters.amount is not None:
        query = query.where(
            col(P2PAd.min_amount) <= filters.amount,
            col(P2PAd.max_amount) >= filters.amount,
            col(P2PAd.remaining_amount) >= filters.amount,
        )
    if filters.max_payment_duration is not None:
        query = query.where(col(P2PAd.max_payment_duration) <= filters.max_payment_duration)
    if filters.author_nickname is not None:
        query = query.where(col(User.nickname) == filters.author_nickname)
    if filters.user_id is not None:
        query = query.where(col(P2PAd.user_id) == filters.user_id)
    return query


def _ordered(query: Any, sort: str, type_: str | None) -> Any:
    if sort == "orders_count":
        key = [func.coalesce(P2PProfile.completed_orders, 0).desc()]
    elif sort == "best_price":
        # For the taker: the cheapest sell ad, the best-paying buy ad (ascending as documented
        # when no type is given).
        key = [col(P2PAd.exchange_rate).desc() if type_ == "buy" else col(P2PAd.exchange_rate).asc()]
    else:
        key = [func.coalesce(_rating_expr(), 0).desc(), func.coalesce(P2PProfile.completed_orders, 0).desc()]
    return query.order_by(*key, col(P2PAd.id).desc())


def _view(ad: P2PAd, owner: User, profile: P2PProfile | None) -> AdView:
    return AdView(ad, owner, *p2p_profiles.stats(profile))


async def list_ads(
    session: AsyncSession, filters: AdFilter, *, sort: str = "rating", limit: int = DEFAULT_LIMIT, offset: int = 0
) -> list[AdView]:
    """Listed ads matching ``filters`` in ``sort`` order; a payment method is matched in Python
    (a JSON list), so the page is cut after filtering."""
    if sort not in SORTS:
        raise InvalidInput(f"sort_by must be one of {', '.join(SORTS)}", field="sortBy")
    if filters.type is not None and filters.type not in TYPES:
        raise InvalidInput("type must be buy or sell", field="type")
    query = _ordered(_browse(filters), sort, filters.type)
    if filters.payment_method is None:
        rows = await session.execute(query.limit(limit).offset(offset))
        return [_view(*row) for row in rows]
    found: list[AdView] = []
    skipped = 0
    for ad, owner, profile in await session.execute(query):
        if filters.payment_method not in ad.payment_methods:
            continue
        if skipped < offset:
            skipped += 1
            continue
        found.append(_view(ad, owner, profile))
        if len(found) == limit:
            break
    return found


async def get_ad(session: AsyncSession, actor: Actor, *, ad_id: int) -> AdView:
    """One ad with its owner; a hidden or deleted ad only to its owner and operators."""
    row = (
        await session.execute(
            select(P2PAd, User, P2PProfile)
            .join(User, col(User.id) == col(P2PAd.user_id))
            .outerjoin(P2PProfile, col(P2PProfile.user_id) == col(P2PAd.user_id))
            .where(col(P2PAd.id) == ad_id)
        )
    ).first()
    if row is None:
        raise NotFound("ad not found")
    ad, owner, profile = row
    staff = actor.is_operator or actor.is_admin
    if ad.moderation_status == "deleted" or (
        ad.moderation_status != LISTED and not staff and actor.user_id != ad.user_id
    ):
        raise NotFound("ad not found")
    return _view(ad, owner, profile)


async def give_back(session: AsyncSession, ad_id: int, amount: int) -> None:
    """A cancelled order's amount returns to its ad (an atomic add: no lock needed)."""
    await session.execute(
        update(P2PAd).where(col(P2PAd.id) == ad_id).values(remaining_amount=P2PAd.remaining_amount + amount)
    )
