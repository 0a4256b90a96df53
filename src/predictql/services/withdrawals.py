"""Crypto withdrawals: USDT/USDC sent on chain after an operator approves.

Networks (concepts.md section 13): ``tron`` (USDT only, minimum 200 cents, fee a fixed 1 USDT =
100 cents) and ``bsc``/``polygon``/``ethereum``/``avalanche`` (USDT or USDC, minimum 100 cents, fee
0.3 % rounded up to the cent). The balance is one currency unit (P2P calls it USDT at 100 = 1.00),
so ``amount`` cents are that many kopecks of balance: the whole amount is debited into the payout
hold when requested, ``amount - fee`` goes on chain. One pending request per user; the user may
cancel it while pending (refund); an operator approves it with the on-chain transaction id (paid
out) or rejects it (refund). Approve and cancel race on a conditional ``UPDATE``: exactly one wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from predictql.models import Withdrawal
from predictql.services import audit, money_out, notifications
from predictql.services.crypto_addresses import valid_address
from predictql.services.cursors import Page, PageArgs, keyset_page, where_given
from predictql.services.notifications import Draft
from predictql.settings import Settings
from predictql.subscriptions import topics
from predictql.subscriptions.payloads import WithdrawalState

SUBJECT = "withdrawal"
STATUSES = ("pending", "completed", "cancelled", "rejected")
MAX_TX_HASH = 128


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    tokens: tuple[str, ...]
    min_amount: int  # cents
    fee_fixed: int  # cents
    fee_per_mille: int  # of the amount, rounded up

    def fee(self, amount: int) -> int:
        return self.fee_fixed + -(-amount * self.fee_per_mille // 1000)

    @property
    def fee_label(self) -> str:
        return f"{self.fee_fixed / 100:g} USDT" if self.fee_fixed else f"{self.fee_per_mille / 10:g}%"


NETWORKS = {
    "tron": Network("tron", ("USDT",), 200, 100, 0),
    **{name: Network(name, ("USDT", "USDC"), 100, 0, 3) for name in ("bsc", "polygon", "ethereum", "avalanche")},
}
TOKENS = ("USDT", "USDC")


@dataclass(frozen=True, slots=True)
class Info:
    networks: tuple[str, ...]
    tokens: tuple[str, ...]
    min_amount: int  # the smallest minimum, cents
    fee_percent: str


def info() -> Info:
    return Info(tuple(NETWORKS), TOKENS, min(n.min_amount for n in NETWORKS.values()), "0.3%")


def quote(*, token: str, network: str, amount: int, address: str) -> tuple[Network, int]:
    """Checks a request as written (before any balance is read); the network and the fee."""
    if network not in NETWORKS:
        raise DomainError(f"network must be one of {', '.join(NETWORKS)}", "UNSUPPORTED_NETWORK", field="network")
    chain = NETWORKS[network]
    if token not in chain.tokens:
        raise DomainError(f"{network} supports {', '.join(chain.tokens)} only", "UNSUPPORTED_TOKEN", field="token")
    if amount < chain.min_amount:
        raise InvalidInput(f"the minimum on {network} is {chain.min_amount} cents", "INVALID_AMOUNT", field="amount")
    if not valid_address(network, address):
        raise DomainError(f"not a valid {network} address", "INVALID_ADDRESS", field="address")
    return chain, chain.fee(amount)


async def request(
    session: AsyncSession, actor: Actor, settings: Settings, *, token: str, network: str, amount: int, address: str
) -> Withdrawal:
    """A pending withdrawal of the caller's, debited into the payout hold."""
    user_id = actor.require_write()
    _, fee = quote(token=token, network=network, amount=amount, address=address)
    cash = await money_out.lock_user_money(session, user_id)
    if await pending_of(session, user_id) is not None:
        raise DomainError("a withdrawal is pending already; cancel it or wait", "PENDING_WITHDRAWAL_EXISTS")
    await money_out.check_gates(session, settings, user_id, amount, cash)
    now = utcnow()
    row = Withdrawal(
        user_id=user_id,
        token=token,
        network=network,
        address=address,
        amount=amount,
        fee=fee,
        amount_sent=amount - fee,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    await money_out.hold(session, user_id, amount, (SUBJECT, row.id))
    await _changed(session, row, None)
    return row


async def pending_of(session: AsyncSession, user_id: int) -> Withdrawal | None:
    return await session.scalar(
        select(Withdrawal).where(col(Withdrawal.user_id) == user_id, col(Withdrawal.status) == "pending").limit(1)
    )


async def my_pending(session: AsyncSession, actor: Actor) -> Withdrawal | None:
    return await pending_of(session, actor.require_user())


async def _move(session: AsyncSession, row: Withdrawal, to: str, **values: object) -> None:
    if row.status != "pending":
        raise Conflict(f"withdrawal is {row.status}", "WITHDRAWAL_NOT_PENDING")
    result = await session.execute(
        update(Withdrawal)
        .where(col(Withdrawal.id) == row.id, col(Withdrawal.status) == "pending")
        .values(status=to, updated_at=utcnow(), closed_at=utcnow(), **values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("withdrawal changed meanwhile; reload it", "WITHDRAWAL_NOT_PENDING")
    await session.refresh(row)


TEXT = {
    "pending": "Withdrawal #{id} of {amount} to {network} {address} awaits approval.",
    "completed": "Withdrawal #{id} was sent: {sent} on {network}.",
    "cancelled": "Withdrawal #{id} was cancelled; {amount} is back on your balance.",
    "rejected": "Withdrawal #{id} was rejected; {amount} is back on your balance.",
}


def _usd(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


async def _changed(session: AsyncSession, row: Withdrawal, actor: Actor | None) -> None:
    assert row.id is not None
    topics.withdrawal_changed(session, WithdrawalState.of(row))
    topics.backoffice_item_changed(session, SUBJECT, row.id, row.status, open=row.status == "pending")
    message = TEXT[row.status].format(
        id=row.id,
        amount=f"{_usd(row.amount)} {row.token}",
        sent=f"{_usd(row.amount_sent)} {row.token}",
        network=row.network,
        address=row.address,
    )
    draft = Draft(row.user_id, "withdrawal_updated", "Withdrawal", message, SUBJECT, row.id)
    await notifications.create(session, draft)
    if actor is not None:
        action = "approve" if row.status == "completed" else "reject"
        await audit.record(
            session,
            actor,
            f"withdrawal.{action}",
            SUBJECT,
            row.id,
            before={"status": "pending"},
            after={"status": row.status, "tx_hash": row.tx_hash},
            note=row.note,
        )


async def cancel_pending(session: AsyncSession, actor: Actor) -> Withdrawal:
    """The caller cancels their pending withdrawal; the amount returns to the balance."""
    user_id = actor.require_write()
    row = await pending_of(session, user_id)
    if row is None:
        raise NotFound("no pending withdrawal", "WITHDRAWAL_NOT_FOUND")
    await _move(session, row, "cancelled")
    await money_out.release(session, user_id, row.amount, (SUBJECT, row.id or 0))
    await _changed(session, row, None)
    return row


async def _load(session: AsyncSession, actor: Actor, withdrawal_id: int) -> Withdrawal:
    row = await session.get(Withdrawal, withdrawal_id, populate_existing=True)
    if row is None:
        raise NotFound("withdrawal not found", "WITHDRAWAL_NOT_FOUND", field="id")
    if row.user_id == actor.user_id:  # four eyes: an operator never settles their own money
        raise Forbidden("operators cannot settle their own withdrawals")
    return row


def _tx_hash(value: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_TX_HASH or not text.isascii() or not text.replace("0x", "", 1).isalnum():
        raise InvalidInput("txHash must be the on-chain transaction id", "INVALID_TX_HASH", field="txHash")
    return text


async def approve(session: AsyncSession, actor: Actor, *, withdrawal_id: int, tx_hash: str) -> Withdrawal:
    """An operator sent it on chain: recorded with the transaction id, the hold paid out."""
    operator_id = actor.require_operator()
    text = _tx_hash(tx_hash)
    row = await _load(session, actor, withdrawal_id)
    await _move(session, row, "completed", tx_hash=text, operator_id=operator_id)
    await money_out.pay_out(session, row.user_id, row.amount, row.fee, (SUBJECT, withdrawal_id))
    await _changed(session, row, actor)
    return row


async def reject(session: AsyncSession, actor: Actor, *, withdrawal_id: int, note: str | None = None) -> Withdrawal:
    """An operator refuses it; the amount returns to the user's balance."""
    operator_id = actor.require_operator()
    row = await _load(session, actor, withdrawal_id)
    await _move(session, row, "rejected", operator_id=operator_id, note=money_out.operator_note(note))
    await money_out.release(session, row.user_id, row.amount, (SUBJECT, withdrawal_id))
    await _changed(session, row, actor)
    return row


async def my_page(session: AsyncSession, actor: Actor, args: PageArgs) -> Page[Withdrawal]:
    user_id = actor.require_user()
    return await keyset_page(
        session, select(Withdrawal).where(col(Withdrawal.user_id) == user_id), col(Withdrawal.id), args
    )


async def queue(
    session: AsyncSession,
    actor: Actor,
    args: PageArgs,
    *,
    statuses: tuple[str, ...] = ("pending",),
    network: str | None = None,
    user_id: int | None = None,
) -> Page[Withdrawal]:
    """The back office's withdrawals, newest first: pending ones unless ``statuses`` says otherwise."""
    actor.require_operator()
    query = select(Withdrawal).where(col(Withdrawal.status).in_(statuses))
    query = where_given(query, (Withdrawal.network, network), (Withdrawal.user_id, user_id))
    return await keyset_page(session, query, col(Withdrawal.id), args)
