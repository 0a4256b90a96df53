"""P2P orders: take an ad, hold the seller's amount in escrow, settle once.

State machine: ``pending`` -(buyer confirm-paid)-> ``paid_by_buyer`` -(seller confirm-received)->
``completed``; ``cancelled`` (buyer before completion, seller while pending, the sweeper when the
payment window passes unpaid, an operator resolving a dispute to the seller); ``dispute``
(call-operator, from pending or paid_by_buyer) until an operator resolves it.

Exactly once: every transition locks the order row (``FOR UPDATE``; SQLite serializes writers)
and re-reads its status, so of two racing transitions one moves the money and the other sees the
new state (the transitions are in ``p2p_flow``). Escrow is the seller's ``user:{id}:p2p_escrow``
ledger account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Forbidden, InsufficientFunds, InvalidInput, NotFound
from predictql.inputs import check_json
from predictql.models import LedgerAccount, P2PAd, P2POrder, User
from predictql.models.p2p import OPEN_ORDER_STATUSES
from predictql.services import ledger, money_out, notifications, p2p_ads, p2p_profiles
from predictql.services.cursors import Page, PageArgs, keyset_page
from predictql.services.notifications import Draft
from predictql.settings import Settings
from predictql.subscriptions import topics

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
FORMATS = ("p2p", "fast_pay")
STATUSES = ("pending", "paid_by_buyer", "completed", "cancelled", "dispute")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    ad_id: int
    usdt_amount: int
    payment_method: str
    payment_details: dict[str, Any] | None = None
    format: str | None = None


def missing(code: str = "ORDER_NOT_FOUND") -> NotFound:
    return NotFound("order not found", code=code)


async def lock(session: AsyncSession, order_id: int, code: str = "ORDER_NOT_FOUND") -> P2POrder:
    order = await session.get(P2POrder, order_id, with_for_update=True, populate_existing=True)
    if order is None:
        raise missing(code)
    return order


def role_of(order: P2POrder, actor: Actor) -> str | None:
    """``buyer``, ``seller``, ``operator`` or None (may not see the order)."""
    if actor.user_id is not None and actor.user_id == order.buyer_id:
        return "buyer"
    if actor.user_id is not None and actor.user_id == order.seller_id:
        return "seller"
    if actor.user_id is not None and (actor.is_operator or actor.is_admin):
        return "operator"
    return None


def participant(order: P2POrder, actor: Actor, *, staff: bool = False) -> str:
    actor.require_user()
    role = role_of(order, actor)
    if role is None or (role == "operator" and not staff):
        raise Forbidden("not a participant of this order")
    return role


def _check_amount(ad: P2PAd, amount: int) -> int:
    fiat = amount * ad.exchange_rate // 100
    if amount <= 0 or fiat <= 0:
        raise InvalidInput("the amount is too small", code="AMOUNT_TOO_SMALL", field="usdtAmount")
    if amount < ad.min_amount:
        raise InvalidInput(f"the ad's minimum is {ad.min_amount}", code="AMOUNT_TOO_LOW", field="usdtAmount")
    if amount > ad.max_amount:
        raise InvalidInput(f"the ad's maximum is {ad.max_amount}", code="AMOUNT_TOO_HIGH", field="usdtAmount")
    if amount > ad.remaining_amount:
        raise InvalidInput(
            f"the ad has {ad.remaining_amount} left", code="AMOUNT_EXCEEDS_AVAILABLE", field="usdtAmount"
        )
    return fiat


async def _open_deposit(session: AsyncSession, user_id: int) -> bool:
    found = await session.scalar(
        select(col(P2POrder.id))
        .join(P2PAd, col(P2PAd.id) == col(P2POrder.ad_id))
        .where(
            col(P2POrder.buyer_id) == user_id, col(P2PAd.type) == "sell", col(P2POrder.status).in_(OPEN_ORDER_STATUSES)
        )
        .limit(1)
    )
    return found is not None


async def open_escrow(session: AsyncSession, user_id: int) -> None:
    """Get-or-create the user's P2P escrow account; concurrent callers neither fail nor duplicate it."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(LedgerAccount)
        .values(code=ledger.user_p2p_escrow(user_id), kind=ledger.P2P_ESCROW_KIND, user_id=user_id)
        .on_conflict_do_nothing(index_elements=["code"])
    )


def _details(ad: P2PAd, request: OrderRequest) -> dict[str, Any]:
    """Where the buyer pays: the ad owner's details for the method (sell ad), or the taker's own
    receiving details (buy ad: the taker sells)."""
    if ad.type == "buy":
        if not request.payment_details:
            raise InvalidInput("payment_details (where you receive the fiat) are required", field="paymentDetails")
        check_json(request.payment_details, "payment_details")
        return dict(request.payment_details)
    value = ad.payment_details.get(request.payment_method, ad.payment_details)
    return value if isinstance(value, dict) else {"details": value}


async def create_order(
    session: AsyncSession, actor: Actor, request: OrderRequest, *, settings: Settings | None = None
) -> P2POrder:
    """Take an ad: the seller's amount moves to escrow; the payment window starts. Taking a buy ad
    sells balance for fiat, a withdrawal: it passes the money-out gates of ``money_out.check_gates``
    (``settings`` gives their limits; the defaults when None)."""
    taker = actor.require_write()
    if request.format is not None and request.format not in FORMATS:
        raise InvalidInput("format must be p2p or fast_pay", field="format")
    ad = await session.get(P2PAd, request.ad_id, with_for_update=True, populate_existing=True)
    if ad is None or ad.moderation_status == "deleted":
        raise NotFound("ad not found")
    if not ad.is_active or ad.moderation_status != p2p_ads.LISTED:
        raise InvalidInput("the ad is not active", code="AD_NOT_ACTIVE")
    if ad.user_id == taker:
        raise InvalidInput("you cannot take your own ad", code="OWN_AD")
    if request.payment_method not in ad.payment_methods:
        raise InvalidInput(
            "the ad does not take this payment method", code="INVALID_PAYMENT_METHOD", field="paymentMethod"
        )
    fiat = _check_amount(ad, request.usdt_amount)
    buyer, seller = (taker, ad.user_id) if ad.type == "sell" else (ad.user_id, taker)
    details = _details(ad, request)
    # Serializes this taker's order creations. NO KEY UPDATE: a plain FOR UPDATE also blocks the key
    # share that every insert referencing the user takes, and a card or crypto withdrawal of the same
    # user inserts such rows while holding the user's money lock that this order waits for below
    # (a deadlock seen in tests/p2p/test_p2p_concurrency.py on PostgreSQL).
    await session.execute(select(col(User.id)).where(col(User.id) == taker).with_for_update(key_share=True))
    if ad.type == "sell" and await _open_deposit(session, taker):
        raise InvalidInput("finish your open deposit order first", code="ACTIVE_DEPOSIT_ORDER_EXISTS")
    if ad.type == "buy":
        cash = await money_out.lock_user_money(session, taker)
        try:
            await money_out.check_gates(session, settings or Settings(), taker, request.usdt_amount, cash)
        except InsufficientFunds:
            raise InvalidInput(
                "the seller's balance does not cover this amount", code="SELLER_INSUFFICIENT_BALANCE"
            ) from None
    now = utcnow()
    order = P2POrder(
        ad_id=ad.id or 0,
        buyer_id=buyer,
        seller_id=seller,
        usdt_amount=request.usdt_amount,
        fiat_amount=fiat,
        fiat_currency=ad.fiat_currency,
        exchange_rate=ad.exchange_rate,
        payment_method=request.payment_method,
        payment_details=details,
        status="pending",
        frozen_balance=request.usdt_amount,
        expires_at=now + timedelta(minutes=ad.max_payment_duration),
        created_at=now,
        updated_at=now,
    )
    ad.remaining_amount -= request.usdt_amount
    session.add(order)
    await session.flush()
    await open_escrow(session, seller)
    await p2p_profiles.ensure(session, [buyer, seller])
    try:
        await ledger.post(
            session,
            kind="p2p_escrow",
            legs=[(ledger.user_cash(seller), -order.usdt_amount), (ledger.user_p2p_escrow(seller), order.usdt_amount)],
            user_id=seller,
            reference=("p2p_order", order.id or 0),
        )
    except InsufficientFunds:
        raise InvalidInput(
            "the seller's balance does not cover this amount", code="SELLER_INSUFFICIENT_BALANCE"
        ) from None
    topics.p2p_order_changed(session, order)
    await tell(
        session,
        order,
        [ad.user_id],
        "p2p_order_created",
        "New P2P order",
        f"Order #{order.id} on your {ad.type} ad: {money(order.usdt_amount)}",
    )
    return order


def money(kopecks: int) -> str:
    return f"{kopecks // 100}.{kopecks % 100:02d}"


async def tell(session: AsyncSession, order: P2POrder, users: list[int], kind: str, title: str, text: str) -> None:
    drafts = [Draft(user, kind, title, text, "p2p_order", order.id) for user in sorted(set(users))]
    await notifications.create_many(session, drafts)


@dataclass(frozen=True, slots=True)
class OrderView:
    order: P2POrder
    counterpart: User | None  # for the caller (the seller for an operator)


async def get_order(session: AsyncSession, actor: Actor, *, order_id: int) -> OrderView:
    """One order for its buyer, its seller or an operator."""
    actor.require_user()
    order = await session.get(P2POrder, order_id)
    if order is None:
        raise missing("NOT_FOUND")
    role = participant(order, actor, staff=True)
    other = await session.get(User, order.seller_id if role != "seller" else order.buyer_id)
    return OrderView(order, other)


def my_orders_query(user_id: int, status: str | None) -> Any:
    query = select(P2POrder).where((col(P2POrder.buyer_id) == user_id) | (col(P2POrder.seller_id) == user_id))
    if status is not None:
        query = query.where(col(P2POrder.status) == status)
    return query


async def my_orders(
    session: AsyncSession, actor: Actor, *, status: str | None = None, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> list[P2POrder]:
    """The caller's orders as buyer or seller, newest first."""
    user_id = actor.require_user()
    query = my_orders_query(user_id, status).order_by(col(P2POrder.id).desc()).limit(limit).offset(offset)
    return list(await session.scalars(query))


async def my_orders_page(
    session: AsyncSession, actor: Actor, page: PageArgs, *, status: str | None = None
) -> Page[P2POrder]:
    """The caller's orders as a newest-first keyset page (GraphQL connections)."""
    user_id = actor.require_user()
    return await keyset_page(session, my_orders_query(user_id, status), col(P2POrder.id), page)


async def visible(session: AsyncSession, actor: Actor, order_id: int) -> P2POrder:
    """The order if the caller is its buyer, its seller or an operator (ORDER_NOT_FOUND / FORBIDDEN)."""
    order = await session.get(P2POrder, order_id)
    if order is None:
        raise missing()
    participant(order, actor, staff=True)
    return order
