"""``predictql backoffice p2p-disputes``: list the open P2P disputes, or resolve one.

    predictql backoffice p2p-disputes [list] [--all] [--limit N]
    predictql backoffice p2p-disputes resolve ORDER_ID --to buyer|seller --as OPERATOR_EMAIL [--note TEXT]

The operator named by ``--as`` (an operator or an admin) is the actor the audit log records.
"""

from __future__ import annotations

import argparse
from typing import Any

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import DomainError


def add_commands(backoffice: Any) -> None:
    disputes = backoffice.add_parser("p2p-disputes", help="P2P disputes: list (default) or resolve one")
    disputes.set_defaults(run=_list, all=False, limit=50)
    actions = disputes.add_subparsers(dest="p2p_action")
    listing = actions.add_parser("list", help="open disputes, newest first (JSON lines)")
    listing.add_argument("--all", action="store_true", help="also the resolved ones")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=_list)
    resolve = actions.add_parser("resolve", help="settle a dispute: escrow to the buyer or back to the seller")
    resolve.add_argument("order_id", type=int)
    resolve.add_argument("--to", required=True, choices=("buyer", "seller"))
    resolve.add_argument("--as", dest="operator", required=True, help="email of the operator or admin acting")
    resolve.add_argument("--note", default=None, help="why, for the audit log")
    resolve.set_defaults(run=_resolve)


def _row(order: Any) -> dict[str, Any]:
    return {
        "id": order.id, "status": order.status, "buyer_id": order.buyer_id, "seller_id": order.seller_id,
        "usdt_amount": order.usdt_amount, "fiat_amount": order.fiat_amount, "fiat_currency": order.fiat_currency,
        "frozen_balance": order.frozen_balance, "resolution": order.resolution,
        "updated_at": order.updated_at.isoformat(),
    }


async def _operator(session: Any, email: str) -> Actor:
    from predictql.services import accounts

    user = await accounts.user_by_email(session, accounts.normalize_email(email))
    if user is None or user.id is None:
        raise DomainError(f"no user with email {email}", code="user_not_found")
    return Actor(user_id=user.id, is_operator=user.is_operator, is_admin=user.is_admin)


async def _list(db: Database, args: argparse.Namespace) -> list[dict[str, Any]]:
    from sqlmodel import col, select

    from predictql.models import P2POrder

    query = select(P2POrder).where(col(P2POrder.operator_called))
    if not args.all:
        query = query.where(col(P2POrder.status) == "dispute")
    async with db.session() as session:
        rows = await session.scalars(query.order_by(col(P2POrder.id).desc()).limit(args.limit))
        return [_row(row) for row in rows]


async def _resolve(db: Database, args: argparse.Namespace) -> dict[str, Any]:
    from predictql.services import p2p_backoffice

    async with db.transaction() as session:
        actor = await _operator(session, args.operator)
        order = await p2p_backoffice.resolve(session, actor, order_id=args.order_id, to=args.to, note=args.note)
        return _row(order)
