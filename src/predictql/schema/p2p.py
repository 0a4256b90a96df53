"""GraphQL types of the P2P exchange: ads, orders, order chat messages (Nodes), their enums,
inputs and payloads.

Amounts are ``Long`` balance kopecks ("USDT"); ``fiatAmount`` is fiat kopecks; ``exchangeRate`` is
fiat kopecks per 100 balance kopecks (100 = 1:1). Payment details are free-form JSON, shown only
to the people of an order (an ad's own details only to its owner and operators).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from predictql.models import P2PAd as AdRow
from predictql.models import P2PMessage as MessageRow
from predictql.models import P2POrder as OrderRow
from predictql.schema.context import Info
from predictql.schema.enums import opt, value
from predictql.schema.ids import Kind
from predictql.schema.node import Node, gid, opt_gid
from predictql.schema.payloads import Balances, MutationPayload
from predictql.schema.scalars import Long
from predictql.subscriptions.payloads import P2PMessageState, P2POrderState


@strawberry.enum(description="What a P2P ad's owner does with balance (USDT).")
class P2PAdType(Enum):
    BUY = value("buy", "The owner buys balance for fiat: a taker sells (withdraws).")
    SELL = value("sell", "The owner sells balance for fiat: a taker buys (deposits).")


@strawberry.enum(description="Where a P2P order is in its life.")
class P2POrderStatus(Enum):
    PENDING = value("pending", "Waiting for the buyer's fiat payment (within the payment window).")
    PAID_BY_BUYER = value("paid_by_buyer", "The buyer says the fiat was sent; the seller confirms receipt.")
    COMPLETED = value("completed", "The escrow went to the buyer.")
    CANCELLED = value("cancelled", "The escrow went back to the seller.")
    DISPUTE = value("dispute", "An operator was called and resolves the order.")


@strawberry.enum(description="Why a P2P order was cancelled.")
class P2PCancelReason(Enum):
    BUYER = value("buyer", "The buyer cancelled.")
    SELLER = value("seller", "The seller cancelled before the buyer paid.")
    EXPIRED = value("expired", "The payment window passed unpaid.")
    OPERATOR = value("operator", "An operator resolved the dispute to the seller.")


@strawberry.enum(description="The side a dispute is resolved to.")
class P2PDisputeSide(Enum):
    BUYER = value("buyer", "The escrow is released to the buyer; the order completes.")
    SELLER = value("seller", "The escrow returns to the seller; the order is cancelled.")


@strawberry.enum(description="A P2P ad's moderation state: ads are live at once; an operator may hide one.")
class P2PModerationStatus(Enum):
    APPROVED = value("approved", "Listed and takeable (while active).")
    HIDDEN = value("hidden", "Hidden by an operator: not listed, takes no order.")


@strawberry.enum(description="How P2P ads are sorted.")
class P2PAdSort(Enum):
    RATING = value("rating", "Owner's average rating, best first (then completed orders).")
    ORDERS_COUNT = value("orders_count", "Owner's completed orders, most first.")
    BEST_PRICE = value("best_price", "Best rate for the taker first (lowest for sell ads, highest for buy ads).")


@strawberry.enum(description="Who wrote a P2P chat message.")
class P2PSenderType(Enum):
    USER = value("user", "The buyer or the seller.")
    OPERATOR = value("operator", "An operator.")
    SYSTEM = value("system", "The platform.")


@strawberry.type(description="A P2P trader's public profile and record.")
class P2PTrader:
    id: strawberry.ID = strawberry.field(description="The trader's user id (usr_...).")
    completed_orders: int = strawberry.field(description="P2P orders of theirs that completed.")
    avg_rating: float = strawberry.field(description="Average rating counterparties gave them, 1-5; 0 before any.")
    user_id: strawberry.Private[int]

    @strawberry.field(description="The trader's name.")
    async def name(self, info: Info) -> str:
        row = await info.context.loaders.user_by_id.load(self.user_id)
        return row.name if row is not None else ""

    @strawberry.field(description="The trader's public nickname; null when not set.")
    async def nickname(self, info: Info) -> str | None:
        row = await info.context.loaders.user_by_id.load(self.user_id)
        return row.nickname if row is not None else None

    @classmethod
    async def load(cls, info: Info, user_id: int) -> P2PTrader:
        done, avg = await info.context.loaders.p2p_stats_by_user_id.load(user_id)
        return cls(id=gid(Kind.USER, user_id), completed_orders=done, avg_rating=avg, user_id=user_id)


def _staff(info: Info) -> bool:
    return info.context.actor.is_operator or info.context.actor.is_admin


@strawberry.type(description="A standing P2P offer to buy or sell balance for fiat.")
class P2PAd(Node):
    id: strawberry.ID = strawberry.field(description="The ad's global id (pad_...).")
    type: P2PAdType = strawberry.field(description="BUY or SELL, for the owner.")
    fiat_currency: str = strawberry.field(description="The fiat currency, e.g. RUB.")
    exchange_rate: Long = strawberry.field(description="Fiat kopecks per 100 balance kopecks (100 = 1:1).")
    min_amount: Long = strawberry.field(description="Smallest order, balance kopecks.")
    max_amount: Long = strawberry.field(description="Largest order, balance kopecks (and the ad's volume).")
    remaining_amount: Long = strawberry.field(description="What orders may still take, balance kopecks.")
    payment_methods: list[str] = strawberry.field(description="Accepted payment methods (sber, tinkoff, ...).")
    instructions: str = strawberry.field(description="The owner's instructions to takers.")
    max_payment_duration: int = strawberry.field(description="Minutes a buyer has to pay an order.")
    is_active: bool = strawberry.field(description="Takes orders (the owner may pause it).")
    moderation_status: P2PModerationStatus = strawberry.field(description="APPROVED or HIDDEN by an operator.")
    is_platform_ad: bool = strawberry.field(description="Published by the platform itself.")
    created_at: datetime = strawberry.field(description="When it was published (RFC 3339, UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (RFC 3339, UTC).")
    owner_id: strawberry.Private[int]
    details: strawberry.Private[dict[str, object]]

    @strawberry.field(
        description="The owner's payment details per method; null unless the caller owns the ad or is an operator."
    )
    def payment_details(self, info: Info) -> JSON | None:
        mine = info.context.actor.user_id == self.owner_id
        return JSON(self.details) if mine or _staff(info) else None

    @strawberry.field(description="The owner and their P2P record.")
    async def owner(self, info: Info) -> P2PTrader:
        return await P2PTrader.load(info, self.owner_id)

    @classmethod
    def from_row(cls, row: AdRow) -> P2PAd:
        return cls(
            id=gid(Kind.P2P_AD, row.id),
            type=P2PAdType(row.type),
            fiat_currency=row.fiat_currency,
            exchange_rate=Long(row.exchange_rate),
            min_amount=Long(row.min_amount),
            max_amount=Long(row.max_amount),
            remaining_amount=Long(row.remaining_amount),
            payment_methods=list(row.payment_methods),
            instructions=row.instructions,
            max_payment_duration=row.max_payment_duration,
            is_active=row.is_active,
            moderation_status=P2PModerationStatus(row.moderation_status),
            is_platform_ad=row.is_platform_ad,
            created_at=row.created_at,
            updated_at=row.updated_at,
            owner_id=row.user_id,
            details=dict(row.payment_details),
        )


@strawberry.type(description="One P2P trade: a taker on an ad, the seller's balance held in escrow until it settles.")
class P2POrder(Node):
    id: strawberry.ID = strawberry.field(description="The order's global id (pord_...).")
    usdt_amount: Long = strawberry.field(description="Balance kopecks traded.")
    fiat_amount: Long = strawberry.field(description="Fiat kopecks the buyer pays outside the platform.")
    fiat_currency: str = strawberry.field(description="The fiat currency.")
    exchange_rate: Long = strawberry.field(description="The ad's rate when the order was made.")
    payment_method: str = strawberry.field(description="How the buyer pays.")
    status: P2POrderStatus = strawberry.field(description="Where the order is.")
    frozen_balance: Long = strawberry.field(description="Held in the seller's escrow now, balance kopecks.")
    operator_called: bool = strawberry.field(description="A participant called an operator (a dispute).")
    cancel_reason: P2PCancelReason | None = strawberry.field(description="Why it was cancelled; null otherwise.")
    resolution: P2PDisputeSide | None = strawberry.field(description="A resolved dispute's side; null otherwise.")
    expires_at: datetime | None = strawberry.field(description="End of the payment window while PENDING.")
    buyer_paid_at: datetime | None = strawberry.field(description="When the buyer confirmed the payment.")
    finished_at: datetime | None = strawberry.field(description="When it completed or was cancelled.")
    created_at: datetime = strawberry.field(description="When it was made (RFC 3339, UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (RFC 3339, UTC).")
    ad_id: strawberry.Private[int]
    buyer_id: strawberry.Private[int]
    seller_id: strawberry.Private[int]
    row_id: strawberry.Private[int]

    @strawberry.field(description="The ad taken; null once its owner deleted it.")
    async def ad(self, info: Info) -> P2PAd | None:
        row = await info.context.loaders.p2p_ad_by_id.load(self.ad_id)
        return P2PAd.from_row(row) if row is not None and row.moderation_status != "deleted" else None

    @strawberry.field(description="Who pays fiat and receives the balance.")
    async def buyer(self, info: Info) -> P2PTrader:
        return await P2PTrader.load(info, self.buyer_id)

    @strawberry.field(description="Who receives fiat; their balance is in escrow.")
    async def seller(self, info: Info) -> P2PTrader:
        return await P2PTrader.load(info, self.seller_id)

    @strawberry.field(description="Where the buyer pays (the seller's receiving details).")
    async def payment_details(self, info: Info) -> JSON | None:
        row = await info.context.loaders.p2p_order_by_id.load(self.row_id)
        return JSON(row.payment_details) if row is not None else None

    @strawberry.field(description="How the buyer says they pay (set by the buyer); null until set.")
    async def buyer_payment_details(self, info: Info) -> JSON | None:
        row = await info.context.loaders.p2p_order_by_id.load(self.row_id)
        return JSON(row.buyer_payment_details) if row is not None and row.buyer_payment_details else None

    @classmethod
    def from_row(cls, row: OrderRow | P2POrderState) -> P2POrder:
        return cls(
            id=gid(Kind.P2P_ORDER, row.id),
            usdt_amount=Long(row.usdt_amount),
            fiat_amount=Long(row.fiat_amount),
            fiat_currency=row.fiat_currency,
            exchange_rate=Long(row.exchange_rate),
            payment_method=row.payment_method,
            status=P2POrderStatus(row.status),
            frozen_balance=Long(row.frozen_balance),
            operator_called=row.operator_called,
            cancel_reason=opt(P2PCancelReason, row.cancel_reason),
            resolution=opt(P2PDisputeSide, row.resolution),
            expires_at=row.expires_at,
            buyer_paid_at=row.buyer_paid_at,
            finished_at=row.finished_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            ad_id=row.ad_id,
            buyer_id=row.buyer_id,
            seller_id=row.seller_id,
            row_id=row.id or 0,
        )

    @staticmethod
    def live(text: str) -> P2POrder:
        return P2POrder.from_row(P2POrderState.from_json(text))


@strawberry.type(description="A message of a P2P order's chat.")
class P2PMessage(Node):
    id: strawberry.ID = strawberry.field(description="The message's global id (pmsg_...).")
    order_id: strawberry.ID = strawberry.field(description="The order's global id (pord_...).")
    sender_id: strawberry.ID | None = strawberry.field(description="The writer's user id; null for the platform.")
    sender_type: P2PSenderType = strawberry.field(description="USER, OPERATOR or SYSTEM.")
    message: str = strawberry.field(description="The text.")
    created_at: datetime = strawberry.field(description="When it was written (RFC 3339, UTC).")

    @classmethod
    def from_row(cls, row: MessageRow | P2PMessageState) -> P2PMessage:
        return cls(
            id=gid(Kind.P2P_MESSAGE, row.id),
            order_id=gid(Kind.P2P_ORDER, row.order_id),
            sender_id=opt_gid(Kind.USER, row.user_id),
            sender_type=P2PSenderType(row.sender_type),
            message=row.message,
            created_at=row.created_at,
        )

    @staticmethod
    def live(text: str) -> P2PMessage:
        return P2PMessage.from_row(P2PMessageState.from_json(text))


@strawberry.input(description="Which P2P ads to list; every filter is optional.")
class P2PAdFilter:
    type: P2PAdType | None = strawberry.field(default=None, description="Only BUY or SELL ads.")
    fiat_currency: str | None = strawberry.field(default=None, description="Only ads in this currency (RUB).")
    amount: Long | None = strawberry.field(default=None, description="Only ads whose min..max and remaining cover it.")
    payment_method: str | None = strawberry.field(default=None, description="Only ads taking this method.")
    max_payment_duration: int | None = strawberry.field(
        default=None, description="Only ads whose payment window is at most this many minutes."
    )
    is_active: bool = strawberry.field(default=True, description="Active ads (default) or paused ones.")
    author_nickname: str | None = strawberry.field(default=None, description="Only ads of this nickname.")


@strawberry.input(description="A new P2P ad.")
class CreateP2PAdInput:
    type: P2PAdType = strawberry.field(description="BUY or SELL (for the caller).")
    fiat_currency: str = strawberry.field(description="Currency code, e.g. RUB.")
    min_amount: Long = strawberry.field(description="Smallest order, balance kopecks.")
    max_amount: Long = strawberry.field(description="Largest order and the ad's volume, balance kopecks.")
    payment_methods: list[str] = strawberry.field(description="1-10 accepted methods.")
    payment_details: JSON = strawberry.field(description="Method -> details shown to buyers of a SELL ad's orders.")
    exchange_rate: Long | None = strawberry.field(default=None, description="Required unless RUB (default 100).")
    instructions: str | None = strawberry.field(default=None, description="Instructions to takers.")
    max_payment_duration: int | None = strawberry.field(default=None, description="Minutes to pay, 5-180 (15).")


@strawberry.input(description="Changes to one of the caller's P2P ads; omitted fields stay.")
class UpdateP2PAdInput:
    id: strawberry.ID = strawberry.field(description="The ad (pad_...).")
    exchange_rate: Long | None = strawberry.field(default=None, description="New rate.")
    min_amount: Long | None = strawberry.field(default=None, description="New minimum.")
    max_amount: Long | None = strawberry.field(default=None, description="New maximum; refills remainingAmount.")
    payment_methods: list[str] | None = strawberry.field(default=None, description="New methods.")
    payment_details: JSON | None = strawberry.field(default=None, description="New details.")
    instructions: str | None = strawberry.field(default=None, description="New instructions.")
    max_payment_duration: int | None = strawberry.field(default=None, description="New payment window, minutes.")
    is_active: bool | None = strawberry.field(default=None, description="Pause (false) or resume (true).")


@strawberry.input(description="One P2P ad.")
class P2PAdIdInput:
    id: strawberry.ID = strawberry.field(description="The ad (pad_...).")


@strawberry.input(description="Take a P2P ad.")
class CreateP2POrderInput:
    ad_id: strawberry.ID = strawberry.field(description="The ad (pad_...).")
    usdt_amount: Long = strawberry.field(description="Balance kopecks, within the ad's limits and remaining.")
    payment_method: str = strawberry.field(description="One of the ad's methods.")
    payment_details: JSON | None = strawberry.field(
        default=None, description="Taking a BUY ad: where you receive the fiat (required then)."
    )


@strawberry.input(description="One P2P order.")
class P2POrderIdInput:
    id: strawberry.ID = strawberry.field(description="The order (pord_...).")


@strawberry.input(description="The buyer's own payment details for an order.")
class SetP2PPaymentDetailsInput:
    id: strawberry.ID = strawberry.field(description="The order (pord_...).")
    payment_details: JSON = strawberry.field(description="How the buyer pays (payer name, card...).")


@strawberry.input(description="Rate the counterparty of a completed order.")
class RateP2POrderInput:
    id: strawberry.ID = strawberry.field(description="The order (pord_...).")
    rating: int = strawberry.field(description="1 to 5.")


@strawberry.input(description="A chat message on a P2P order.")
class SendP2PMessageInput:
    order_id: strawberry.ID = strawberry.field(description="The order (pord_...).")
    message: str = strawberry.field(description="1-2000 characters.")


@strawberry.input(description="Resolve a P2P dispute (operators and admins).")
class ResolveP2PDisputeInput:
    id: strawberry.ID = strawberry.field(description="The order in dispute (pord_...).")
    to: P2PDisputeSide = strawberry.field(description="BUYER gets the escrow, or it returns to the SELLER.")
    note: str | None = strawberry.field(default=None, description="Why, for the audit log.")


@strawberry.input(description="Hide or approve a P2P ad (operators and admins).")
class ModerateP2PAdInput:
    id: strawberry.ID = strawberry.field(description="The ad (pad_...).")
    status: P2PModerationStatus = strawberry.field(description="HIDDEN or APPROVED.")
    note: str | None = strawberry.field(default=None, description="Why, for the audit log.")


@strawberry.type(description="The ad after the mutation.")
class P2PAdPayload(MutationPayload):
    ad: P2PAd | None = strawberry.field(default=None, description="The ad as it is now.")


@strawberry.type(description="What deleteP2PAd removed.")
class DeleteP2PAdPayload(MutationPayload):
    deleted_ad_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted ad's id.")


@strawberry.type(description="The order after the mutation, and the caller's balances.")
class P2POrderPayload(MutationPayload):
    order: P2POrder | None = strawberry.field(default=None, description="The order as it is now.")
    balances: Balances | None = strawberry.field(default=None, description="The caller's balances now.")


@strawberry.type(description="The message written.")
class SendP2PMessagePayload(MutationPayload):
    message: P2PMessage | None = strawberry.field(default=None, description="The new message.")
