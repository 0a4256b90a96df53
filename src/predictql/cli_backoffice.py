"""``predictql backoffice``: the operator's card orders and withdrawals from a shell.

    predictql backoffice card-orders --as ops@example.com [--all] [--type deposit|withdraw]
    predictql backoffice withdrawals --as ops@example.com [--all] [--network tron|bsc|...]
    predictql backoffice complete card_12 --as ops@example.com [--note TEXT]
    predictql backoffice reject card_12|wdr_7 --as ops@example.com [--note TEXT]
    predictql backoffice approve wdr_7 --tx HASH --as ops@example.com

``--as`` names the operator (or admin) account the action is done and audited as. Ids are the
GraphQL global ids (``card_12``, ``wdr_7``); ``complete`` and ``approve`` also take the plain row id.
Output: one JSON object per line (lists) or the settled object.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import DomainError, Forbidden
from predictql.models import CardOrder, Withdrawal
from predictql.settings import Settings

LIST_LIMIT = 100


def add_parsers(commands: Any) -> None:
    """The money-out commands, added to the ``backoffice`` group (created here if no one else did)."""
    group = commands.choices.get("backoffice")
    if group is None:
        group = commands.add_parser("backoffice", help="operator work: card orders, withdrawals, ...")
    sub = getattr(group, "pq_commands", None)
    if sub is None:
        sub = group.add_subparsers(dest="backoffice_command", required=True)
        group.pq_commands = sub

    def command(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help)
        parser.add_argument("--as", dest="operator", required=True, metavar="EMAIL", help="the operator acting")
        parser.set_defaults(money_out=name)
        return parser

    cards = command("card-orders", "list open card orders (newest first)")
    cards.add_argument("--all", action="store_true", help="every status, not only the open ones")
    cards.add_argument("--type", choices=("deposit", "withdraw"))
    outs = command("withdrawals", "list pending crypto withdrawals (newest first)")
    outs.add_argument("--all", action="store_true", help="every status, not only pending")
    outs.add_argument("--network", choices=("tron", "bsc", "polygon", "ethereum", "avalanche"))
    complete = command("complete", "complete an open card order (credit a deposit, pay a withdraw)")
    complete.add_argument("id", help="card_N or N")
    complete.add_argument("--note")
    reject = command("reject", "reject an open card order or a pending withdrawal (refunds a withdraw)")
    reject.add_argument("id", help="card_N or wdr_N")
    reject.add_argument("--note")
    approve = command("approve", "record a pending withdrawal as sent on chain")
    approve.add_argument("id", help="wdr_N or N")
    approve.add_argument("--tx", required=True, metavar="HASH", help="the on-chain transaction id")


def _id(value: str, prefix: str | None) -> tuple[str, int]:
    from predictql.schema.ids import Kind, parse

    if value.isdigit() and prefix is not None:
        return prefix, int(value)
    kind, row_id = parse(value)
    if kind not in (Kind.CARD_ORDER, Kind.WITHDRAWAL):
        raise DomainError(f"{value} is neither a card order (card_N) nor a withdrawal (wdr_N)", "INVALID_ID")
    return kind.value, row_id


def _card(row: CardOrder) -> dict[str, Any]:
    return {
        "id": f"card_{row.id}",
        "user_id": row.user_id,
        "type": row.type,
        "amount": row.amount,
        "status": row.status,
        "payment_details": row.payment_details,
        "created_at": row.created_at.isoformat(),
    }


def _out(row: Withdrawal) -> dict[str, Any]:
    return {
        "id": f"wdr_{row.id}",
        "user_id": row.user_id,
        "token": row.token,
        "network": row.network,
        "address": row.address,
        "amount": row.amount,
        "fee": row.fee,
        "amount_sent": row.amount_sent,
        "status": row.status,
        "tx_hash": row.tx_hash,
        "created_at": row.created_at.isoformat(),
    }


async def operator(session: AsyncSession, email: str) -> Actor:
    """The account ``--as`` names, as the actor the services check and the audit log records: the
    one lookup of every ``backoffice`` command. An unknown email or a plain user is refused."""
    from predictql.services import accounts

    user = await accounts.user_by_email(session, accounts.normalize_email(email))
    if user is None or user.id is None or not (user.is_operator or user.is_admin):
        raise Forbidden(f"{email} is not an operator or admin account")
    return Actor(user_id=user.id, is_operator=user.is_operator, is_admin=user.is_admin)


async def run(db: Database, args: argparse.Namespace, settings: Settings) -> list[dict[str, Any]]:
    from predictql.services import card_orders, withdrawals
    from predictql.services.cursors import PageArgs

    async with db.session() as session:
        actor = await operator(session, args.operator)
    if args.money_out == "card-orders":
        statuses = card_orders.STATUSES if args.all else card_orders.OPEN
        async with db.session() as session:
            page = await card_orders.queue(
                session, actor, PageArgs(first=LIST_LIMIT), statuses=statuses, type=args.type
            )
        return [_card(row) for row in page.items]
    if args.money_out == "withdrawals":
        states = withdrawals.STATUSES if args.all else ("pending",)
        async with db.session() as session:
            found = await withdrawals.queue(
                session, actor, PageArgs(first=LIST_LIMIT), statuses=states, network=args.network
            )
        return [_out(row) for row in found.items]
    kind, row_id = _id(args.id, {"complete": "card", "approve": "wdr"}.get(args.money_out))
    async with db.transaction() as session:
        if args.money_out == "complete" and kind == "card":
            return [_card(await card_orders.complete(session, actor, order_id=row_id, note=args.note))]
        if args.money_out == "approve" and kind == "wdr":
            return [_out(await withdrawals.approve(session, actor, withdrawal_id=row_id, tx_hash=args.tx))]
        if args.money_out == "reject" and kind == "card":
            return [_card(await card_orders.reject(session, actor, order_id=row_id, note=args.note))]
        if args.money_out == "reject":
            return [_out(await withdrawals.reject(session, actor, withdrawal_id=row_id, note=args.note))]
    raise DomainError(f"{args.money_out} does not apply to {args.id}", "INVALID_ID")


def print_lines(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        print(json.dumps(row))
