"""GraphQL root fields of the back office (operators and admins; anyone else: FORBIDDEN): the card
orders and withdrawals that wait for them, settling each, the audit log, and the live queue.
Answering a card order's chat is ``sendCardOrderMessage`` (``resolvers/money_out.py``). Every action
is audited by its service, in its own transaction."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from predictql.resolvers.common import INPUT, user_errors
from predictql.resolvers.subscriptions import FROM_SEQ, messages
from predictql.schema.context import Info
from predictql.schema.ids import Kind, decode
from predictql.schema.money_out import (
    ApproveWithdrawalPayload,
    AuditEntry,
    BackOfficeItem,
    CardOrder,
    CardOrderStatus,
    CardOrderType,
    CompleteCardOrderPayload,
    CryptoNetwork,
    RejectCardOrderPayload,
    RejectWithdrawalPayload,
    Withdrawal,
    WithdrawalStatus,
)
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.schema.scalars import Long
from predictql.schema.subscriptions import StreamMessage
from predictql.services import audit, card_orders, withdrawals
from predictql.subscriptions import streams, topics


@strawberry.input(description="Which card orders the back office lists.")
class CardOrderFilter:
    statuses: list[CardOrderStatus] | None = strawberry.field(
        default=None, description="These statuses; default the open ones (PENDING, PAID_BY_USER)."
    )
    type: CardOrderType | None = strawberry.field(default=None, description="Only this type.")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="Only this user's (usr_...).")


@strawberry.input(description="Which withdrawals the back office lists.")
class WithdrawalFilter:
    statuses: list[WithdrawalStatus] | None = strawberry.field(
        default=None, description="These statuses; default PENDING."
    )
    network: CryptoNetwork | None = strawberry.field(default=None, description="Only this chain.")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="Only this user's (usr_...).")


@strawberry.input(description="Which audit entries to list.")
class AuditLogFilter:
    subject_type: str | None = strawberry.field(default=None, description='Only this subject type ("card_order"...).')
    subject_id: Long | None = strawberry.field(default=None, description="Only this subject's row id.")
    actor_id: strawberry.ID | None = strawberry.field(default=None, description="Only this operator's (usr_...).")


@strawberry.input(description="A card order an operator settles.")
class SettleCardOrderInput:
    id: strawberry.ID = strawberry.field(description="The card order (card_...).")
    note: str | None = strawberry.field(default=None, description="A note for the audit log and the user.")


@strawberry.input(description="A withdrawal an operator sent on chain.")
class ApproveWithdrawalInput:
    id: strawberry.ID = strawberry.field(description="The withdrawal (wdr_...).")
    tx_hash: str = strawberry.field(description="The on-chain transaction id.")


@strawberry.input(description="A withdrawal an operator refuses.")
class RejectWithdrawalInput:
    id: strawberry.ID = strawberry.field(description="The withdrawal (wdr_...).")
    note: str | None = strawberry.field(default=None, description="The reason, for the audit log and the user.")


def _user(value: strawberry.ID | None) -> int | None:
    return None if value is None else decode(Kind.USER, value, "userId")


@strawberry.type
class BackOfficeQuery:
    @strawberry.field(description=f"Card orders for the back office, newest first (operators); pages of {BOUNDS}.")
    async def back_office_card_orders(
        self,
        info: Info,
        filter: Annotated[CardOrderFilter | None, strawberry.argument(description="Which orders.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[CardOrder]:
        args, given = page_args(info, first, after, last, before), filter or CardOrderFilter()
        statuses = tuple(s.value for s in given.statuses) if given.statuses else card_orders.OPEN
        async with info.context.db.session() as session:
            page = await card_orders.queue(
                session,
                info.context.actor,
                args,
                statuses=statuses,
                type=given.type.value if given.type else None,
                user_id=_user(given.user_id),
            )
        return connection(page, CardOrder.from_row, lambda row: row.id)

    @strawberry.field(description=f"Withdrawals for the back office, newest first (operators); pages of {BOUNDS}.")
    async def back_office_withdrawals(
        self,
        info: Info,
        filter: Annotated[WithdrawalFilter | None, strawberry.argument(description="Which withdrawals.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Withdrawal]:
        args, given = page_args(info, first, after, last, before), filter or WithdrawalFilter()
        statuses = tuple(s.value for s in given.statuses) if given.statuses else ("pending",)
        async with info.context.db.session() as session:
            page = await withdrawals.queue(
                session,
                info.context.actor,
                args,
                statuses=statuses,
                network=given.network.value if given.network else None,
                user_id=_user(given.user_id),
            )
        return connection(page, Withdrawal.from_row, lambda row: row.id)

    @strawberry.field(description=f"The audit log, newest first (operators and admins); pages of {BOUNDS}.")
    async def audit_log(
        self,
        info: Info,
        filter: Annotated[AuditLogFilter | None, strawberry.argument(description="Which entries.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[AuditEntry]:
        args, given = page_args(info, first, after, last, before), filter or AuditLogFilter()
        async with info.context.db.session() as session:
            page = await audit.entries(
                session,
                info.context.actor,
                args,
                subject_type=given.subject_type,
                subject_id=given.subject_id,
                actor_id=_user(given.actor_id),
            )
        return connection(page, AuditEntry.from_row, lambda row: row.id)


@strawberry.type
class BackOfficeMutation:
    @strawberry.mutation(description="Complete an open card order (operators): a deposit is credited, a withdraw paid.")
    @user_errors
    async def complete_card_order(
        self, info: Info, input: Annotated[SettleCardOrderInput, INPUT]
    ) -> CompleteCardOrderPayload:
        order_id = decode(Kind.CARD_ORDER, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await card_orders.complete(session, info.context.actor, order_id=order_id, note=input.note)
        return CompleteCardOrderPayload(card_order=CardOrder.from_row(row))

    @strawberry.mutation(description="Reject an open card order (operators); a withdraw is refunded.")
    @user_errors
    async def reject_card_order(
        self, info: Info, input: Annotated[SettleCardOrderInput, INPUT]
    ) -> RejectCardOrderPayload:
        order_id = decode(Kind.CARD_ORDER, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await card_orders.reject(session, info.context.actor, order_id=order_id, note=input.note)
        return RejectCardOrderPayload(card_order=CardOrder.from_row(row))

    @strawberry.mutation(description="Record a pending withdrawal as sent on chain (operators): paid out, once.")
    @user_errors
    async def approve_withdrawal(
        self, info: Info, input: Annotated[ApproveWithdrawalInput, INPUT]
    ) -> ApproveWithdrawalPayload:
        withdrawal_id = decode(Kind.WITHDRAWAL, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await withdrawals.approve(
                session, info.context.actor, withdrawal_id=withdrawal_id, tx_hash=input.tx_hash
            )
        return ApproveWithdrawalPayload(withdrawal=Withdrawal.from_row(row))

    @strawberry.mutation(description="Reject a pending withdrawal (operators); the amount returns to the user.")
    @user_errors
    async def reject_withdrawal(
        self, info: Info, input: Annotated[RejectWithdrawalInput, INPUT]
    ) -> RejectWithdrawalPayload:
        withdrawal_id = decode(Kind.WITHDRAWAL, input.id, "id")
        async with info.context.db.transaction() as session:
            row = await withdrawals.reject(session, info.context.actor, withdrawal_id=withdrawal_id, note=input.note)
        return RejectWithdrawalPayload(withdrawal=Withdrawal.from_row(row))


@strawberry.type
class BackOfficeSubscription:
    @strawberry.subscription(
        description="Every back-office work item as it appears, changes state or leaves the queue (card orders, "
        "withdrawals, P2P disputes and ads, escalated chats); operators and admins only. No snapshot: use the "
        "backOffice* queries, or fromSeq."
    )
    async def back_office_queue(
        self, info: Info, from_seq: Annotated[Long | None, FROM_SEQ] = None
    ) -> AsyncGenerator[StreamMessage[BackOfficeItem], None]:
        context = info.context
        stream = streams.follow(context.bus, topics.BACKOFFICE, live=BackOfficeItem.live, from_seq=from_seq)
        return messages(context, stream, check=context.actor.require_operator)
