"""GraphQL root fields of the P2P exchange: parse -> one service call -> wrap.

Ads are listed in a chosen order, so their connection pages forward by position (``first`` /
``after``); the caller's orders and the back-office lists page by id, newest first.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from enum import Enum
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.errors import InvalidInput
from predictql.models import P2POrder as OrderRow
from predictql.resolvers.common import INPUT, user_errors
from predictql.resolvers.subscriptions import FROM_SEQ, messages, private
from predictql.schema.context import Context, Info
from predictql.schema.ids import Kind, decode
from predictql.schema.p2p import (
    CreateP2PAdInput,
    CreateP2POrderInput,
    DeleteP2PAdPayload,
    ModerateP2PAdInput,
    P2PAd,
    P2PAdFilter,
    P2PAdIdInput,
    P2PAdPayload,
    P2PAdSort,
    P2PMessage,
    P2PModerationStatus,
    P2POrder,
    P2POrderIdInput,
    P2POrderPayload,
    P2POrderStatus,
    RateP2POrderInput,
    ResolveP2PDisputeInput,
    SendP2PMessageInput,
    SendP2PMessagePayload,
    SetP2PPaymentDetailsInput,
    UpdateP2PAdInput,
)
from predictql.schema.pagination import (
    BOUNDS,
    After,
    Before,
    Connection,
    First,
    Last,
    connection,
    page_args,
    ranked_connection,
)
from predictql.schema.payloads import Balances
from predictql.schema.scalars import Long
from predictql.schema.subscriptions import StreamMessage
from predictql.services import ledger, p2p_ads, p2p_backoffice, p2p_chat, p2p_flow, p2p_orders
from predictql.services.cursors import MAX_PAGE, decode_cursor, encode_cursor
from predictql.services.p2p_ads import AdFields, AdFilter
from predictql.subscriptions import streams, topics


def _offset_page(first: int | None, after: str | None) -> tuple[int, int]:
    size = 20 if first is None else first
    if not 1 <= size <= MAX_PAGE:
        raise InvalidInput(f"first must be {BOUNDS}", "INVALID_PAGINATION")
    return size, decode_cursor(after) if after else 0


def _fields(data: CreateP2PAdInput | UpdateP2PAdInput) -> AdFields:
    raw: dict[str, Any] = {name: getattr(data, name, None) for name in AdFields.__dataclass_fields__}
    if isinstance(raw.get("type"), Enum):
        raw["type"] = raw["type"].value
    for name in ("exchange_rate", "min_amount", "max_amount"):
        raw[name] = int(raw[name]) if raw[name] is not None else None
    details = raw.get("payment_details")
    if details is not None and not isinstance(details, dict):
        raise InvalidInput("paymentDetails must be an object", field="paymentDetails")
    return AdFields(**raw)


@strawberry.type
class P2PQuery:
    @strawberry.field(
        description=f"Listed P2P ads matching the filter, in the chosen order; pages of {BOUNDS} forward (first/after)."
    )
    async def p2p_ads(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            P2PAdFilter | None, strawberry.argument(description="Which ads; active ads of every kind when omitted.")
        ] = None,
        order_by: Annotated[P2PAdSort, strawberry.argument(description="The order.")] = P2PAdSort.RATING,
    ) -> Connection[P2PAd]:
        size, offset = _offset_page(first, after)
        f = filter or P2PAdFilter()
        filters = AdFilter(
            type=f.type.value if f.type else None,
            fiat_currency=f.fiat_currency,
            amount=int(f.amount) if f.amount is not None else None,
            payment_method=f.payment_method,
            max_payment_duration=f.max_payment_duration,
            is_active=f.is_active,
            author_nickname=f.author_nickname,
        )
        async with info.context.db.session() as session:
            views = await p2p_ads.list_ads(session, filters, sort=order_by.value, limit=size + 1, offset=offset)
        rows = [view.ad for view in views[:size]]
        cursors = [encode_cursor(offset + i + 1) for i in range(len(rows))]
        return ranked_connection(rows, cursors, len(views) > size, offset > 0, P2PAd.from_row)

    @strawberry.field(description="One P2P ad; null when missing, or hidden and not the caller's.")
    async def p2p_ad(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The ad (pad_...).")]
    ) -> P2PAd | None:
        return await fetch_p2p_ad(info.context, decode(Kind.P2P_AD, id))

    @strawberry.field(
        name="myP2POrders", description=f"The caller's P2P orders as buyer or seller, newest first; pages of {BOUNDS}."
    )
    async def my_p2p_orders(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[P2POrderStatus | None, strawberry.argument(description="Only this state.")] = None,
    ) -> Connection[P2POrder]:
        args = page_args(info, first, after, last, before)
        async with info.context.db.session() as session:
            page = await p2p_orders.my_orders_page(
                session, info.context.actor, args, status=status.value if status else None
            )
        return connection(page, P2POrder.from_row, lambda row: row.id)

    @strawberry.field(description="One P2P order; null unless the caller is its buyer, its seller or an operator.")
    async def p2p_order(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The order (pord_...).")]
    ) -> P2POrder | None:
        return await fetch_p2p_order(info.context, decode(Kind.P2P_ORDER, id))

    @strawberry.field(
        description=f"A P2P order's chat, oldest first; pages of {BOUNDS} forward. Its buyer, its "
        "seller and operators only (FORBIDDEN otherwise)."
    )
    async def p2p_order_messages(
        self,
        info: Info,
        order_id: Annotated[strawberry.ID, strawberry.argument(description="The order (pord_...).")],
        first: First = None,
        after: After = None,
    ) -> Connection[P2PMessage]:
        size, offset = _offset_page(first, after)
        async with info.context.db.session() as session:
            chat = await p2p_chat.history(
                session, info.context.actor, order_id=decode(Kind.P2P_ORDER, order_id), limit=size + 1, offset=offset
            )
        rows = [row for row, _ in chat.messages[:size]]
        cursors = [encode_cursor(offset + i + 1) for i in range(len(rows))]
        return ranked_connection(rows, cursors, len(chat.messages) > size, offset > 0, P2PMessage.from_row)

    @strawberry.field(
        description=f"Back office: P2P orders in dispute (openOnly false: every order an operator was "
        f"called on), newest first; pages of {BOUNDS}. Operators and admins (FORBIDDEN otherwise)."
    )
    async def p2p_disputes(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        open_only: Annotated[bool, strawberry.argument(description="Only disputes not yet resolved.")] = True,
        user_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only orders of this user.")] = None,
    ) -> Connection[P2POrder]:
        args = page_args(info, first, after, last, before)
        who = decode(Kind.USER, user_id) if user_id is not None else None
        async with info.context.db.session() as session:
            page = await p2p_backoffice.disputes(session, info.context.actor, args, open_only=open_only, user_id=who)
        return connection(page, P2POrder.from_row, lambda row: row.id)

    @strawberry.field(
        description=f"Back office: P2P ads to moderate, newest first, by moderation state and owner; "
        f"pages of {BOUNDS}. Operators and admins (FORBIDDEN otherwise)."
    )
    async def p2p_ads_for_moderation(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        moderation_status: Annotated[
            P2PModerationStatus | None, strawberry.argument(description="Only ads in this state.")
        ] = None,
        user_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only ads of this user.")] = None,
    ) -> Connection[P2PAd]:
        args = page_args(info, first, after, last, before)
        who = decode(Kind.USER, user_id) if user_id is not None else None
        state = moderation_status.value if moderation_status else None
        async with info.context.db.session() as session:
            page = await p2p_backoffice.ads(session, info.context.actor, args, moderation_status=state, user_id=who)
        return connection(page, P2PAd.from_row, lambda row: row.id)


async def fetch_p2p_ad(context: Context, row_id: int) -> P2PAd | None:
    row = await context.loaders.p2p_ad_by_id.load(row_id)
    if row is None or row.moderation_status == "deleted":
        return None
    seen = row.moderation_status == p2p_ads.LISTED or context.actor.user_id == row.user_id
    return P2PAd.from_row(row) if seen or context.actor.is_operator or context.actor.is_admin else None


async def fetch_p2p_order(context: Context, row_id: int) -> P2POrder | None:
    row = await context.loaders.p2p_order_by_id.load(row_id)
    return P2POrder.from_row(row) if row is not None and p2p_orders.role_of(row, context.actor) else None


async def fetch_p2p_message(context: Context, row_id: int) -> P2PMessage | None:
    row = await context.loaders.p2p_message_by_id.load(row_id)
    if row is None or await fetch_p2p_order(context, row.order_id) is None:
        return None
    return P2PMessage.from_row(row)


OrderAction = Callable[..., Awaitable[OrderRow]]


async def _order_payload(info: Info, action: OrderAction, **kwargs: Any) -> P2POrderPayload:
    actor = info.context.actor
    async with info.context.db.transaction() as session:
        row = await action(session, actor, **kwargs)
        money = await ledger.balances(session, actor.require_user())
    info.context.reset_loaders()
    return P2POrderPayload(order=P2POrder.from_row(row), balances=Balances.from_row(money))


def _order_id(value: strawberry.ID) -> int:
    return decode(Kind.P2P_ORDER, value, "id")


@strawberry.type
class P2PMutation:
    @strawberry.mutation(name="createP2PAd", description="Publish a P2P ad (one active ad per type per user).")
    @user_errors
    async def create_p2p_ad(self, info: Info, input: Annotated[CreateP2PAdInput, INPUT]) -> P2PAdPayload:
        async with info.context.db.transaction() as session:
            row = await p2p_ads.create_ad(session, info.context.actor, _fields(input))
        return P2PAdPayload(ad=P2PAd.from_row(row))

    @strawberry.mutation(name="updateP2PAd", description="Change, pause or resume one of the caller's P2P ads.")
    @user_errors
    async def update_p2p_ad(self, info: Info, input: Annotated[UpdateP2PAdInput, INPUT]) -> P2PAdPayload:
        ad_id = decode(Kind.P2P_AD, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await p2p_ads.update_ad(session, info.context.actor, ad_id=ad_id, fields=_fields(input))
        return P2PAdPayload(ad=P2PAd.from_row(row))

    @strawberry.mutation(
        name="deleteP2PAd", description="Delete one of the caller's P2P ads (HAS_OPEN_ORDERS while orders are open)."
    )
    @user_errors
    async def delete_p2p_ad(self, info: Info, input: Annotated[P2PAdIdInput, INPUT]) -> DeleteP2PAdPayload:
        ad_id = decode(Kind.P2P_AD, input.id, "id")
        async with info.context.db.transaction() as session:
            await p2p_ads.delete_ad(session, info.context.actor, ad_id=ad_id)
        return DeleteP2PAdPayload(deleted_ad_id=input.id)

    @strawberry.mutation(
        name="createP2POrder",
        description="Take a P2P ad: the seller's amount is held in escrow, the payment window starts.",
    )
    @user_errors
    async def create_p2p_order(self, info: Info, input: Annotated[CreateP2POrderInput, INPUT]) -> P2POrderPayload:
        details = input.payment_details
        if details is not None and not isinstance(details, dict):
            raise InvalidInput("paymentDetails must be an object", field="paymentDetails")
        request = p2p_orders.OrderRequest(
            decode(Kind.P2P_AD, input.ad_id, "adId"), int(input.usdt_amount), input.payment_method, details
        )
        settings = info.context.settings

        async def create(session: AsyncSession, actor: Actor) -> OrderRow:
            return await p2p_orders.create_order(session, actor, request, settings=settings)

        return await _order_payload(info, create)

    @strawberry.mutation(name="setP2PPaymentDetails", description="The buyer's own payment details (how they pay).")
    @user_errors
    async def set_p2p_payment_details(
        self, info: Info, input: Annotated[SetP2PPaymentDetailsInput, INPUT]
    ) -> P2POrderPayload:
        if not isinstance(input.payment_details, dict):
            raise InvalidInput("paymentDetails must be an object", field="paymentDetails")
        return await _order_payload(
            info, p2p_flow.set_buyer_details, order_id=_order_id(input.id), payment_details=input.payment_details
        )

    @strawberry.mutation(
        name="confirmP2POrderPaid", description="The buyer says the fiat was sent: PENDING -> PAID_BY_BUYER."
    )
    @user_errors
    async def confirm_p2p_order_paid(self, info: Info, input: Annotated[P2POrderIdInput, INPUT]) -> P2POrderPayload:
        return await _order_payload(info, p2p_flow.confirm_paid, order_id=_order_id(input.id))

    @strawberry.mutation(
        name="confirmP2POrderReceived",
        description="The seller got the fiat: the escrow goes to the buyer, the order COMPLETED.",
    )
    @user_errors
    async def confirm_p2p_order_received(self, info: Info, input: Annotated[P2POrderIdInput, INPUT]) -> P2POrderPayload:
        return await _order_payload(info, p2p_flow.confirm_received, order_id=_order_id(input.id))

    @strawberry.mutation(
        name="cancelP2POrder", description="Cancel (buyer before completion, seller before payment): escrow back."
    )
    @user_errors
    async def cancel_p2p_order(self, info: Info, input: Annotated[P2POrderIdInput, INPUT]) -> P2POrderPayload:
        return await _order_payload(info, p2p_flow.cancel, order_id=_order_id(input.id))

    @strawberry.mutation(name="callP2POperator", description="Call an operator: the order goes to DISPUTE.")
    @user_errors
    async def call_p2p_operator(self, info: Info, input: Annotated[P2POrderIdInput, INPUT]) -> P2POrderPayload:
        return await _order_payload(info, p2p_flow.call_operator, order_id=_order_id(input.id))

    @strawberry.mutation(name="rateP2POrder", description="Rate the counterparty of a completed order, once, 1-5.")
    @user_errors
    async def rate_p2p_order(self, info: Info, input: Annotated[RateP2POrderInput, INPUT]) -> P2POrderPayload:
        return await _order_payload(info, p2p_flow.rate, order_id=_order_id(input.id), rating=input.rating)

    @strawberry.mutation(
        name="sendP2PMessage",
        description="Write on a P2P order's chat (its buyer, its seller, or an operator answering).",
    )
    @user_errors
    async def send_p2p_message(self, info: Info, input: Annotated[SendP2PMessageInput, INPUT]) -> SendP2PMessagePayload:
        order_id = decode(Kind.P2P_ORDER, input.order_id, "orderId")
        async with info.context.db.transaction() as session:
            row = await p2p_chat.post(session, info.context.actor, order_id=order_id, message=input.message)
        return SendP2PMessagePayload(message=P2PMessage.from_row(row))

    @strawberry.mutation(
        name="resolveP2PDispute",
        description="Back office: resolve a dispute to the buyer or the seller (audited). "
        "Operators and admins (FORBIDDEN otherwise).",
    )
    @user_errors
    async def resolve_p2p_dispute(self, info: Info, input: Annotated[ResolveP2PDisputeInput, INPUT]) -> P2POrderPayload:
        return await _order_payload(
            info, p2p_backoffice.resolve, order_id=_order_id(input.id), to=input.to.value, note=input.note
        )

    @strawberry.mutation(
        name="moderateP2PAd",
        description="Back office: hide or approve a P2P ad (audited). Operators and admins (FORBIDDEN otherwise).",
    )
    @user_errors
    async def moderate_p2p_ad(self, info: Info, input: Annotated[ModerateP2PAdInput, INPUT]) -> P2PAdPayload:
        ad_id = decode(Kind.P2P_AD, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await p2p_backoffice.moderate(
                session, info.context.actor, ad_id=ad_id, status=input.status.value, note=input.note
            )
        return P2PAdPayload(ad=P2PAd.from_row(row))


async def _can_follow(context: Context, order_id: int) -> None:
    async with context.db.session() as session:
        await p2p_orders.visible(session, context.actor, order_id)


@strawberry.type
class P2PSubscription:
    @strawberry.subscription(
        name="myP2POrders",
        description="Each change of a P2P order the caller buys or sells in (made, paid, "
        "completed, cancelled, disputed, resolved), whole. No snapshot: use myP2POrders, or "
        "fromSeq.",
    )
    async def my_p2p_orders(
        self, info: Info, from_seq: Annotated[Long | None, FROM_SEQ] = None
    ) -> AsyncGenerator[StreamMessage[P2POrder], None]:
        return private(info, topics.user_p2p_orders_channel, P2POrder.live, from_seq)

    @strawberry.subscription(
        description="Each new message of a P2P order's chat; its buyer, its seller and "
        "operators only. No snapshot: use p2pOrderMessages, or fromSeq."
    )
    async def p2p_order_messages(
        self,
        info: Info,
        order_id: Annotated[strawberry.ID, strawberry.argument(description="The order (pord_...).")],
        from_seq: Annotated[Long | None, FROM_SEQ] = None,
    ) -> AsyncGenerator[StreamMessage[P2PMessage], None]:
        context, oid = info.context, decode(Kind.P2P_ORDER, order_id)
        stream = streams.follow(
            context.bus, topics.p2p_order_messages_channel(oid), live=P2PMessage.live, from_seq=from_seq
        )
        return messages(context, stream, check=lambda: _can_follow(context, oid))
