"""GraphQL types of money in and out: card orders and their chat, crypto withdrawals, and the back
office's audit log and work queue (README "Money in and out: card and crypto withdrawals")."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import cast

import strawberry
from strawberry.scalars import JSON

from predictql.models import AuditEntry as AuditRow
from predictql.models import CardMessage as CardMessageRow
from predictql.schema.context import Info
from predictql.schema.enums import value
from predictql.schema.ids import Kind, decode
from predictql.schema.node import Node, gid
from predictql.schema.payloads import MutationPayload
from predictql.schema.scalars import Long
from predictql.schema.users import User
from predictql.services import withdrawals as withdrawal_rules
from predictql.services.card_orders import Limits
from predictql.services.users import Profile
from predictql.subscriptions.payloads import BackOfficeItem as BackOfficeTick
from predictql.subscriptions.payloads import CardOrderState, WithdrawalState


@strawberry.enum(description="Which way a card order moves money.")
class CardOrderType(Enum):
    DEPOSIT = value("deposit", description="RUB in: the user pays the platform card, an operator credits it.")
    WITHDRAW = value("withdraw", description="RUB out: debited at creation, an operator pays the user's card.")


@strawberry.enum(description="Where a card order is.")
class CardOrderStatus(Enum):
    PENDING = value(
        "pending", description="Created; a deposit waits for the user's payment, a withdraw for an operator."
    )
    PAID_BY_USER = value("paid_by_user", description="A deposit the user says is paid; waits for an operator.")
    COMPLETED = value("completed", description="Done: a deposit credited, a withdraw paid out.")
    CANCELLED = value("cancelled", description="Cancelled by the user while pending; a withdraw was refunded.")
    REJECTED = value("rejected", description="Refused by an operator; a withdraw was refunded.")


@strawberry.enum(description="Who wrote a card-order chat message.")
class CardMessageSender(Enum):
    USER = value("user", description="The order's owner.")
    OPERATOR = value("operator", description="An operator or admin.")


@strawberry.enum(description="Where a crypto withdrawal is.")
class WithdrawalStatus(Enum):
    PENDING = value("pending", description="Debited into the payout hold; waits for an operator.")
    COMPLETED = value("completed", description="Sent on chain (txHash), the hold paid out.")
    CANCELLED = value("cancelled", description="Cancelled by the user while pending; refunded.")
    REJECTED = value("rejected", description="Refused by an operator; refunded.")


@strawberry.enum(description="A chain crypto withdrawals are sent on.")
class CryptoNetwork(Enum):
    TRON = value("tron", description="TRON (TRC-20): USDT only, minimum 2.00, fee a fixed 1 USDT.")
    BSC = value("bsc", description="BNB Smart Chain: USDT or USDC, minimum 1.00, fee 0.3 %.")
    POLYGON = value("polygon", description="Polygon: USDT or USDC, minimum 1.00, fee 0.3 %.")
    ETHEREUM = value("ethereum", description="Ethereum: USDT or USDC, minimum 1.00, fee 0.3 %.")
    AVALANCHE = value("avalanche", description="Avalanche C-Chain: USDT or USDC, minimum 1.00, fee 0.3 %.")


@strawberry.enum(description="A stablecoin crypto withdrawals send.")
class CryptoToken(Enum):
    USDT = value("USDT", description="Tether USD.")
    USDC = value("USDC", description="USD Coin.")


@strawberry.enum(description="What a back-office work item is.")
class BackOfficeItemKind(Enum):
    CARD_ORDER = value("card_order", description="A card order (id card_...).")
    WITHDRAWAL = value("withdrawal", description="A crypto withdrawal (id wdr_...).")
    P2P_DISPUTE = value(
        "p2p_dispute", description="A P2P order an operator was called on (id pord_...): open while in dispute."
    )
    P2P_AD = value(
        "p2p_ad", description="A P2P ad (id pad_...): newly published (ads are post-moderated) or moderated."
    )
    CHAT_SESSION = value("chat_session", description="A support chat (id chat_...): open while escalated.")


ITEM_KINDS = {  # a back-office item's kind -> the node kind of its id
    "card_order": Kind.CARD_ORDER,
    "withdrawal": Kind.WITHDRAWAL,
    "p2p_dispute": Kind.P2P_ORDER,
    "p2p_ad": Kind.P2P_AD,
    "chat_session": Kind.CHAT_SESSION,
}


async def _user(info: Info, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    row = await info.context.loaders.user_by_id.load(user_id)
    return None if row is None else User.from_profile(Profile(row, None))


@strawberry.type(description="The user's card for a card withdraw (the number as given, digits only).")
class CardDetails:
    card_number: str = strawberry.field(description="The card number, digits only.")
    bank_name: str | None = strawberry.field(description="The bank, when given.")
    holder_name: str | None = strawberry.field(description="The holder's name, when given.")


@strawberry.type(description="A RUB deposit or withdrawal by bank card, run by an operator (0 % fee).")
class CardOrder(Node):
    id: strawberry.ID = strawberry.field(description="The card order's global id (card_...).")
    owner_id: strawberry.Private[int]
    type: CardOrderType = strawberry.field(description="DEPOSIT or WITHDRAW.")
    amount: Long = strawberry.field(description="Kopecks.")
    status: CardOrderStatus = strawberry.field(description="Where the order is.")
    payment_details: CardDetails | None = strawberry.field(description="The user's card (a withdraw's payee).")
    operator_note: str | None = strawberry.field(description="The operator's note (a rejection's reason).")
    created_at: datetime = strawberry.field(description="When it was created (RFC 3339, UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    paid_at: datetime | None = strawberry.field(description="When the user said a deposit is paid.")
    closed_at: datetime | None = strawberry.field(description="When it was completed, cancelled or rejected.")

    @strawberry.field(description="The order's owner (public profile).")
    async def user(self, info: Info) -> User | None:
        return await _user(info, self.owner_id)

    @classmethod
    def of(cls, state: CardOrderState) -> CardOrder:
        details = state.payment_details
        return cls(
            id=gid(Kind.CARD_ORDER, state.id),
            owner_id=state.user_id,
            type=CardOrderType(state.type),
            amount=Long(state.amount),
            status=CardOrderStatus(state.status),
            payment_details=CardDetails(
                card_number=details.get("card_number", ""),
                bank_name=details.get("bank_name"),
                holder_name=details.get("holder_name"),
            )
            if details
            else None,
            operator_note=state.note,
            created_at=state.created_at,
            updated_at=state.updated_at,
            paid_at=state.paid_at,
            closed_at=state.closed_at,
        )

    @classmethod
    def from_row(cls, row: object) -> CardOrder:
        return cls.of(CardOrderState.of(row))

    @staticmethod
    def live(text: str) -> CardOrder:
        return CardOrder.of(CardOrderState.from_json(text))


@strawberry.type(description="One message of a card order's chat between its owner and the operators.")
class CardMessage(Node):
    id: strawberry.ID = strawberry.field(description="The message's global id (cmsg_...).")
    order_id: strawberry.ID = strawberry.field(description="The card order's global id (card_...).")
    sender: CardMessageSender = strawberry.field(description="USER (the owner) or OPERATOR.")
    sender_id: strawberry.ID = strawberry.field(description="Who wrote it (usr_...).")
    message: str = strawberry.field(description="The text.")
    created_at: datetime = strawberry.field(description="When it was written (RFC 3339, UTC).")

    @strawberry.field(description="The card order it belongs to.")
    async def order(self, info: Info) -> CardOrder | None:
        row = await info.context.loaders.card_order_by_id.load(decode(Kind.CARD_ORDER, self.order_id))
        return None if row is None else CardOrder.from_row(row)

    @classmethod
    def from_row(cls, row: CardMessageRow) -> CardMessage:
        return cls(
            id=gid(Kind.CARD_MESSAGE, row.id),
            order_id=gid(Kind.CARD_ORDER, row.order_id),
            sender=CardMessageSender.OPERATOR if row.from_operator else CardMessageSender.USER,
            sender_id=gid(Kind.USER, row.sender_id),
            message=row.message,
            created_at=row.created_at,
        )


@strawberry.type(
    description="A crypto withdrawal: amount cents are kopecks of balance, debited whole; "
    "amountSent = amount - fee goes on chain."
)
class Withdrawal(Node):
    id: strawberry.ID = strawberry.field(description="The withdrawal's global id (wdr_...).")
    owner_id: strawberry.Private[int]
    token: CryptoToken = strawberry.field(description="USDT or USDC.")
    network: CryptoNetwork = strawberry.field(description="The chain.")
    address: str = strawberry.field(description="The destination address (checksum-verified).")
    amount: Long = strawberry.field(description="Debited, cents (= kopecks of balance).")
    fee: Long = strawberry.field(description="The network's fee, cents.")
    amount_sent: Long = strawberry.field(description="What goes on chain: amount - fee, cents.")
    status: WithdrawalStatus = strawberry.field(description="Where the withdrawal is.")
    tx_hash: str | None = strawberry.field(description="The on-chain transaction id once sent.")
    operator_note: str | None = strawberry.field(description="The operator's note (a rejection's reason).")
    created_at: datetime = strawberry.field(description="When it was requested (RFC 3339, UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    closed_at: datetime | None = strawberry.field(description="When it was sent, cancelled or rejected.")

    @strawberry.field(description="Who asked for it (public profile).")
    async def user(self, info: Info) -> User | None:
        return await _user(info, self.owner_id)

    @classmethod
    def of(cls, state: WithdrawalState) -> Withdrawal:
        return cls(
            id=gid(Kind.WITHDRAWAL, state.id),
            owner_id=state.user_id,
            token=CryptoToken(state.token),
            network=CryptoNetwork(state.network),
            address=state.address,
            amount=Long(state.amount),
            fee=Long(state.fee),
            amount_sent=Long(state.amount_sent),
            status=WithdrawalStatus(state.status),
            tx_hash=state.tx_hash,
            operator_note=state.note,
            created_at=state.created_at,
            updated_at=state.updated_at,
            closed_at=state.closed_at,
        )

    @classmethod
    def from_row(cls, row: object) -> Withdrawal:
        return cls.of(WithdrawalState.of(row))

    @staticmethod
    def live(text: str) -> Withdrawal:
        return Withdrawal.of(WithdrawalState.from_json(text))


@strawberry.type(description="The platform card to pay card deposits into, and the card order limits.")
class CardLimits:
    bank_name: str = strawberry.field(description="The platform card's bank.")
    card_number: str = strawberry.field(description="The platform card's number.")
    holder_name: str = strawberry.field(description="The platform card's holder.")
    min_amount: Long = strawberry.field(description="Smallest card order, kopecks.")
    max_amount: Long = strawberry.field(description="Largest card order, kopecks.")

    @classmethod
    def of(cls, limits: Limits) -> CardLimits:
        return cls(
            bank_name=limits.bank_name,
            card_number=limits.card_number,
            holder_name=limits.holder_name,
            min_amount=Long(limits.min_amount),
            max_amount=Long(limits.max_amount),
        )


@strawberry.type(description="One chain's withdrawal rules.")
class WithdrawalNetwork:
    network: CryptoNetwork = strawberry.field(description="The chain.")
    tokens: list[CryptoToken] = strawberry.field(description="The tokens it sends.")
    min_amount: Long = strawberry.field(description="Smallest withdrawal, cents.")
    fee_fixed: Long = strawberry.field(description="Fixed fee, cents.")
    fee_percent: str = strawberry.field(description='Fee rule as text, e.g. "0.3%" or "1 USDT".')

    @classmethod
    def all(cls) -> list[WithdrawalNetwork]:
        return [
            cls(
                network=CryptoNetwork(n.name),
                tokens=[CryptoToken(t) for t in n.tokens],
                min_amount=Long(n.min_amount),
                fee_fixed=Long(n.fee_fixed),
                fee_percent=n.fee_label,
            )
            for n in withdrawal_rules.NETWORKS.values()
        ]


@strawberry.type(description="One operator or admin action, with the subject before and after (operators only).")
class AuditEntry(Node):
    id: strawberry.ID = strawberry.field(description="The entry's global id (aud_...).")
    actor_id: strawberry.Private[int | None]
    action: str = strawberry.field(description='What was done, e.g. "card_order.complete", "withdrawal.approve".')
    subject_type: str = strawberry.field(description='What it was done to: "card_order", "withdrawal", ...')
    subject_id: Long = strawberry.field(description="The subject's row id (its global id has the type's prefix).")
    before: JSON | None = strawberry.field(description="The changed fields before the action.")
    after: JSON | None = strawberry.field(description="The changed fields after the action.")
    note: str | None = strawberry.field(description="The actor's note.")
    created_at: datetime = strawberry.field(description="When it was done (RFC 3339, UTC).")

    @strawberry.field(description="Who did it; null for the system (a sweeper) or a deleted account.")
    async def actor(self, info: Info) -> User | None:
        return await _user(info, self.actor_id)

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditEntry:
        return cls(
            id=gid(Kind.AUDIT_ENTRY, row.id),
            actor_id=row.actor_id,
            action=row.action,
            subject_type=row.subject_type,
            subject_id=Long(row.subject_id),
            before=cast(JSON, row.before),
            after=cast(JSON, row.after),
            note=row.note,
            created_at=row.created_at,
        )


@strawberry.type(description="A back-office work item that appeared, changed state or left the queue.")
class BackOfficeItem:
    item_kind: BackOfficeItemKind = strawberry.field(description="What it is.")
    item_id: strawberry.ID = strawberry.field(
        description="Its global id, for node(id): card_..., wdr_..., pord_... (a dispute), pad_..., chat_..."
    )
    state: str = strawberry.field(description='Its state now ("pending", "paid_by_user", "completed", ...).')
    open: bool = strawberry.field(description="Whether it still waits for an operator.")
    at: datetime = strawberry.field(description="When it changed (RFC 3339, UTC).")

    @staticmethod
    def live(text: str) -> BackOfficeItem:
        tick = BackOfficeTick.from_json(text)
        item = gid(ITEM_KINDS[tick.kind], tick.id)
        return BackOfficeItem(
            item_kind=BackOfficeItemKind(tick.kind), item_id=item, state=tick.state, open=tick.open, at=tick.at
        )


# -- payloads ---------------------------------------------------------------------------------


@strawberry.type(description="What createCardOrder changed.")
class CreateCardOrderPayload(MutationPayload):
    card_order: CardOrder | None = strawberry.field(default=None, description="The new order.")


@strawberry.type(description="What confirmCardOrderPaid changed.")
class ConfirmCardOrderPaidPayload(MutationPayload):
    card_order: CardOrder | None = strawberry.field(default=None, description="The order, now PAID_BY_USER.")


@strawberry.type(description="What cancelCardOrder changed.")
class CancelCardOrderPayload(MutationPayload):
    card_order: CardOrder | None = strawberry.field(default=None, description="The order, now CANCELLED.")


@strawberry.type(description="What sendCardOrderMessage changed.")
class SendCardOrderMessagePayload(MutationPayload):
    message: CardMessage | None = strawberry.field(default=None, description="The new message.")


@strawberry.type(description="What requestWithdrawal changed.")
class RequestWithdrawalPayload(MutationPayload):
    withdrawal: Withdrawal | None = strawberry.field(default=None, description="The new pending withdrawal.")


@strawberry.type(description="What cancelWithdrawal changed.")
class CancelWithdrawalPayload(MutationPayload):
    withdrawal: Withdrawal | None = strawberry.field(default=None, description="The withdrawal, now CANCELLED.")


@strawberry.type(description="What completeCardOrder changed (operators).")
class CompleteCardOrderPayload(MutationPayload):
    card_order: CardOrder | None = strawberry.field(default=None, description="The order, now COMPLETED.")


@strawberry.type(description="What rejectCardOrder changed (operators).")
class RejectCardOrderPayload(MutationPayload):
    card_order: CardOrder | None = strawberry.field(default=None, description="The order, now REJECTED.")


@strawberry.type(description="What approveWithdrawal changed (operators).")
class ApproveWithdrawalPayload(MutationPayload):
    withdrawal: Withdrawal | None = strawberry.field(default=None, description="The withdrawal, now COMPLETED.")


@strawberry.type(description="What rejectWithdrawal changed (operators).")
class RejectWithdrawalPayload(MutationPayload):
    withdrawal: Withdrawal | None = strawberry.field(default=None, description="The withdrawal, now REJECTED.")
