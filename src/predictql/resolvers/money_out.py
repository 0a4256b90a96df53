"""GraphQL root fields of card orders and crypto withdrawals, the user's side: parse -> one service
call -> wrap (REST twins in ``rest_compat/card.py`` and ``rest_compat/withdrawals.py``; the
operator's side is ``resolvers/backoffice.py``)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from predictql.resolvers.common import INPUT, user_errors
from predictql.resolvers.subscriptions import FROM_SEQ, private
from predictql.schema.context import Info
from predictql.schema.ids import Kind, decode
from predictql.schema.money_out import (
    CancelCardOrderPayload,
    CancelWithdrawalPayload,
    CardLimits,
    CardMessage,
    CardOrder,
    CardOrderType,
    ConfirmCardOrderPaidPayload,
    CreateCardOrderPayload,
    CryptoNetwork,
    CryptoToken,
    RequestWithdrawalPayload,
    SendCardOrderMessagePayload,
    Withdrawal,
    WithdrawalNetwork,
)
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.schema.scalars import Long
from predictql.schema.subscriptions import StreamMessage
from predictql.services import card_orders, withdrawals
from predictql.subscriptions import topics


@strawberry.input(description="The user's card for a card withdraw.")
class CardDetailsInput:
    card_number: str = strawberry.field(description="13-19 digits (spaces or dashes allowed), Luhn-valid.")
    bank_name: str | None = strawberry.field(default=None, description="The bank (optional).")
    holder_name: str | None = strawberry.field(default=None, description="The holder's name (optional).")


@strawberry.input(description="A new card order.")
class CreateCardOrderInput:
    type: CardOrderType = strawberry.field(description="DEPOSIT or WITHDRAW.")
    amount: Long = strawberry.field(description="Kopecks, within cardLimits.")
    payment_details: CardDetailsInput | None = strawberry.field(
        default=None, description="The user's card: required for WITHDRAW."
    )


@strawberry.input(description="One card order of the caller's.")
class CardOrderInput:
    id: strawberry.ID = strawberry.field(description="The card order's id (card_...).")


@strawberry.input(description="A message on a card order's chat.")
class SendCardOrderMessageInput:
    order_id: strawberry.ID = strawberry.field(description="The card order (card_...).")
    message: str = strawberry.field(description="The text, 1-2000 characters.")


@strawberry.input(description="A crypto withdrawal request.")
class RequestWithdrawalInput:
    token: CryptoToken = strawberry.field(description="USDT or USDC (tron: USDT only).")
    network: CryptoNetwork = strawberry.field(description="The chain.")
    amount: Long = strawberry.field(description="Cents (= kopecks of balance), at least the network's minimum.")
    address: str = strawberry.field(description="The destination address (TRON base58check, EVM 0x + EIP-55).")


def _details(given: CardDetailsInput | None) -> dict[str, str | None] | None:
    if given is None:
        return None
    return {"card_number": given.card_number, "bank_name": given.bank_name, "holder_name": given.holder_name}


@strawberry.type
class MoneyOutQuery:
    @strawberry.field(description="The platform card to pay card deposits into, and the limits (signed in).")
    async def card_limits(self, info: Info) -> CardLimits:
        info.context.actor.require_user()
        return CardLimits.of(card_orders.limits(info.context.settings))

    @strawberry.field(description=f"The caller's card orders, newest first; pages of {BOUNDS}.")
    async def my_card_orders(
        self,
        info: Info,
        type: Annotated[CardOrderType | None, strawberry.argument(description="Only this type.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[CardOrder]:
        args = page_args(info, first, after, last, before)
        async with info.context.db.session() as session:
            page = await card_orders.my_page(session, info.context.actor, args, type=type.value if type else None)
        return connection(page, CardOrder.from_row, lambda row: row.id)

    @strawberry.field(description=f"A card order's chat, newest first (its owner or an operator); pages of {BOUNDS}.")
    async def card_order_messages(
        self,
        info: Info,
        order_id: Annotated[strawberry.ID, strawberry.argument(description="The card order (card_...).")],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[CardMessage]:
        args, oid = page_args(info, first, after, last, before), decode(Kind.CARD_ORDER, order_id, "orderId")
        async with info.context.db.session() as session:
            page = await card_orders.message_page(session, info.context.actor, args, order_id=oid)
        return connection(page, CardMessage.from_row, lambda row: row.id)

    @strawberry.field(description="Each withdrawal network with its tokens, minimum and fee.")
    def withdrawal_networks(self) -> list[WithdrawalNetwork]:
        return WithdrawalNetwork.all()

    @strawberry.field(description=f"The caller's crypto withdrawals, newest first; pages of {BOUNDS}.")
    async def my_withdrawals(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[Withdrawal]:
        args = page_args(info, first, after, last, before)
        async with info.context.db.session() as session:
            page = await withdrawals.my_page(session, info.context.actor, args)
        return connection(page, Withdrawal.from_row, lambda row: row.id)

    @strawberry.field(description="The caller's pending crypto withdrawal; null when none.")
    async def pending_withdrawal(self, info: Info) -> Withdrawal | None:
        async with info.context.db.session() as session:
            row = await withdrawals.my_pending(session, info.context.actor)
        return None if row is None else Withdrawal.from_row(row)


@strawberry.type
class MoneyOutMutation:
    @strawberry.mutation(description="Create a card deposit or withdraw (0 % fee); a withdraw is debited now.")
    @user_errors
    async def create_card_order(
        self, info: Info, input: Annotated[CreateCardOrderInput, INPUT]
    ) -> CreateCardOrderPayload:
        context = info.context
        async with context.db.transaction() as session:
            row = await card_orders.create(
                session,
                context.actor,
                context.settings,
                type=input.type.value,
                amount=input.amount,
                details=_details(input.payment_details),
            )
        return CreateCardOrderPayload(card_order=CardOrder.from_row(row))

    @strawberry.mutation(description="Say the bank transfer of a PENDING deposit is sent (-> PAID_BY_USER).")
    @user_errors
    async def confirm_card_order_paid(
        self, info: Info, input: Annotated[CardOrderInput, INPUT]
    ) -> ConfirmCardOrderPaidPayload:
        order_id = decode(Kind.CARD_ORDER, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await card_orders.confirm_paid(session, info.context.actor, order_id=order_id)
        return ConfirmCardOrderPaidPayload(card_order=CardOrder.from_row(row))

    @strawberry.mutation(description="Cancel a PENDING card order of the caller's; a withdraw is refunded.")
    @user_errors
    async def cancel_card_order(self, info: Info, input: Annotated[CardOrderInput, INPUT]) -> CancelCardOrderPayload:
        order_id = decode(Kind.CARD_ORDER, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await card_orders.cancel(session, info.context.actor, order_id=order_id)
        return CancelCardOrderPayload(card_order=CardOrder.from_row(row))

    @strawberry.mutation(description="Write on a card order's chat: its owner to the operators, or an operator back.")
    @user_errors
    async def send_card_order_message(
        self, info: Info, input: Annotated[SendCardOrderMessageInput, INPUT]
    ) -> SendCardOrderMessagePayload:
        order_id = decode(Kind.CARD_ORDER, input.order_id, "orderId")
        async with info.context.db.transaction() as session:
            row = await card_orders.post_message(session, info.context.actor, order_id=order_id, message=input.message)
        return SendCardOrderMessagePayload(message=CardMessage.from_row(row))

    @strawberry.mutation(description="Request a crypto withdrawal (one pending at a time); debited now.")
    @user_errors
    async def request_withdrawal(
        self, info: Info, input: Annotated[RequestWithdrawalInput, INPUT]
    ) -> RequestWithdrawalPayload:
        context = info.context
        async with context.db.transaction() as session:
            row = await withdrawals.request(
                session,
                context.actor,
                context.settings,
                token=input.token.value,
                network=input.network.value,
                amount=input.amount,
                address=input.address,
            )
        return RequestWithdrawalPayload(withdrawal=Withdrawal.from_row(row))

    @strawberry.mutation(description="Cancel the caller's pending withdrawal; the amount returns to the balance.")
    @user_errors
    async def cancel_withdrawal(self, info: Info) -> CancelWithdrawalPayload:
        async with info.context.db.transaction() as session:
            row = await withdrawals.cancel_pending(session, info.context.actor)
        return CancelWithdrawalPayload(withdrawal=Withdrawal.from_row(row))


@strawberry.type
class MoneyOutSubscription:
    @strawberry.subscription(
        description="Each change of one of the caller's card orders (created, paid, completed, cancelled, rejected), "
        "whole. No snapshot: use the myCardOrders query, or fromSeq."
    )
    async def my_card_orders(
        self, info: Info, from_seq: Annotated[Long | None, FROM_SEQ] = None
    ) -> AsyncGenerator[StreamMessage[CardOrder], None]:
        return private(info, topics.user_card_orders_channel, CardOrder.live, from_seq)

    @strawberry.subscription(
        description="Each change of one of the caller's crypto withdrawals (requested, sent, cancelled, rejected), "
        "whole. No snapshot: use the myWithdrawals query, or fromSeq."
    )
    async def my_withdrawals(
        self, info: Info, from_seq: Annotated[Long | None, FROM_SEQ] = None
    ) -> AsyncGenerator[StreamMessage[Withdrawal], None]:
        return private(info, topics.user_withdrawals_channel, Withdrawal.live, from_seq)
