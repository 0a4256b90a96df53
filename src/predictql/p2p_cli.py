"""``predictql backoffice p2p-disputes``: list the open P2P disputes, or resolve one.

    predictql backoffice p2p-disputes [list] --as OPERATOR_EMAIL [--all] [--limit N]
    predictql backoffice p2p-disputes resolve ORDER_ID --to buyer|seller --as OPERATOR_EMAIL [--note TEXT]
    predictql backoffice p2p-ads [list] --as OPERATOR_EMAIL [--status approved|hidden] [--limit N]
    predictql backoffice p2p-ads moderate AD_ID --status approved|hidden --as OPERATOR_EMAIL [--note TEXT]
    predictql backoffice answer card_N|pord_N --as OPERATOR_EMAIL --message TEXT

The operator named by ``--as`` (an operator or an admin, ``cli_backoffice.operator``) is the actor:
lists and actions go through the same role-checked services as the GraphQL back office
(``services.p2p_backoffice``), and the audit log records it.
"""

from __future__ import annotations

import argparse
from typing import Any

from predictql.auth import Actor
from predictql.cli_backoffice import operator
from predictql.db import Database
from predictql.errors import DomainError
from predictql.services.cursors import MAX_PAGE

MODERATION = ("approved", "hidden")
AS_HELP = "email of the operator or admin acting"


def _as(parser: Any, *, listing: bool) -> None:
    """``--as``: required by an action; a list takes it before or after ``list`` (``p2p-disputes
    --as EMAIL`` lists too), and ``_operator`` refuses a list without it."""
    if listing:
        parser.add_argument("--as", dest="operator", default=argparse.SUPPRESS, metavar="EMAIL", help=AS_HELP)
    else:
        parser.add_argument("--as", dest="operator", required=True, metavar="EMAIL", help=AS_HELP)


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"between 1 and {MAX_PAGE}")
    return value


def add_commands(backoffice: Any) -> None:
    disputes = backoffice.add_parser("p2p-disputes", help="P2P disputes: list (default) or resolve one")
    disputes.set_defaults(run=_list, all=False, limit=50, operator=None)
    _as(disputes, listing=True)
    actions = disputes.add_subparsers(dest="p2p_action")
    listing = actions.add_parser("list", help="open disputes, newest first (JSON lines)")
    _as(listing, listing=True)
    listing.add_argument("--all", action="store_true", help="also the resolved ones")
    listing.add_argument("--limit", type=_limit, default=50)
    listing.set_defaults(run=_list)
    resolve = actions.add_parser("resolve", help="settle a dispute: escrow to the buyer or back to the seller")
    resolve.add_argument("order_id", type=int)
    resolve.add_argument("--to", required=True, choices=("buyer", "seller"))
    _as(resolve, listing=False)
    resolve.add_argument("--note", default=None, help="why, for the audit log")
    resolve.set_defaults(run=_resolve)

    ads = backoffice.add_parser("p2p-ads", help="P2P ads for moderation: list (default) or moderate one")
    ads.set_defaults(run=_ads, status=None, limit=50, operator=None)
    _as(ads, listing=True)
    ad_actions = ads.add_subparsers(dest="p2p_action")
    ad_list = ad_actions.add_parser("list", help="ads newest first (JSON lines), optionally by moderation status")
    _as(ad_list, listing=True)
    ad_list.add_argument("--status", choices=MODERATION)
    ad_list.add_argument("--limit", type=_limit, default=50)
    ad_list.set_defaults(run=_ads)
    moderate = ad_actions.add_parser("moderate", help="hide an ad (out of listings, no new orders) or approve it")
    moderate.add_argument("ad_id", type=int)
    moderate.add_argument("--status", required=True, choices=MODERATION)
    _as(moderate, listing=False)
    moderate.add_argument("--note", default=None, help="why, for the audit log")
    moderate.set_defaults(run=_moderate)

    answer = backoffice.add_parser("answer", help="answer a card order's or a P2P order's chat as an operator")
    answer.add_argument("id", help="card_N (a card order) or pord_N (a P2P order)")
    _as(answer, listing=False)
    answer.add_argument("--message", required=True)
    answer.set_defaults(run=_answer)


def _row(order: Any) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status,
        "buyer_id": order.buyer_id,
        "seller_id": order.seller_id,
        "usdt_amount": order.usdt_amount,
        "fiat_amount": order.fiat_amount,
        "fiat_currency": order.fiat_currency,
        "frozen_balance": order.frozen_balance,
        "resolution": order.resolution,
        "updated_at": order.updated_at.isoformat(),
    }


async def _operator(session: Any, args: argparse.Namespace) -> Actor:
    if not args.operator:
        raise DomainError("--as OPERATOR_EMAIL is required: the operator or admin acting", code="INVALID_REQUEST")
    return await operator(session, args.operator)


async def _list(db: Database, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Through ``p2p_backoffice.disputes``, as the GraphQL back office's ``p2pDisputes``."""
    from predictql.services import p2p_backoffice
    from predictql.services.cursors import PageArgs

    async with db.session() as session:
        actor = await _operator(session, args)
        page = await p2p_backoffice.disputes(session, actor, PageArgs(first=args.limit), open_only=not args.all)
        return [_row(row) for row in page.items]


async def _resolve(db: Database, args: argparse.Namespace) -> dict[str, Any]:
    from predictql.services import p2p_backoffice

    async with db.transaction() as session:
        actor = await _operator(session, args)
        order = await p2p_backoffice.resolve(session, actor, order_id=args.order_id, to=args.to, note=args.note)
        return _row(order)


def _ad(ad: Any) -> dict[str, Any]:
    return {
        "id": ad.id,
        "user_id": ad.user_id,
        "type": ad.type,
        "fiat_currency": ad.fiat_currency,
        "exchange_rate": ad.exchange_rate,
        "remaining_amount": ad.remaining_amount,
        "is_active": ad.is_active,
        "moderation_status": ad.moderation_status,
        "instructions": ad.instructions,
        "updated_at": ad.updated_at.isoformat(),
    }


async def _ads(db: Database, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Through ``p2p_backoffice.ads``, as the GraphQL back office's ``p2pAdsForModeration``."""
    from predictql.services import p2p_backoffice
    from predictql.services.cursors import PageArgs

    async with db.session() as session:
        actor = await _operator(session, args)
        page = await p2p_backoffice.ads(session, actor, PageArgs(first=args.limit), moderation_status=args.status)
        return [_ad(row) for row in page.items]


async def _moderate(db: Database, args: argparse.Namespace) -> dict[str, Any]:
    from predictql.services import p2p_backoffice

    async with db.transaction() as session:
        actor = await _operator(session, args)
        ad = await p2p_backoffice.moderate(session, actor, ad_id=args.ad_id, status=args.status, note=args.note)
        return _ad(ad)


async def _answer(db: Database, args: argparse.Namespace) -> dict[str, Any]:
    """An operator's chat answer, through the same services (audited, notified, streamed) as GraphQL."""
    from predictql.schema.ids import Kind, parse
    from predictql.services import card_orders, p2p_chat

    kind, row_id = parse(args.id)
    async with db.transaction() as session:
        actor = await _operator(session, args)
        if kind is Kind.CARD_ORDER:
            card = await card_orders.post_message(session, actor, order_id=row_id, message=args.message)
            return {"id": f"cmsg_{card.id}", "order_id": args.id, "message": card.message}
        if kind is Kind.P2P_ORDER:
            p2p = await p2p_chat.post(session, actor, order_id=row_id, message=args.message)
            return {"id": f"pmsg_{p2p.id}", "order_id": args.id, "message": p2p.message}
    raise DomainError(f"{args.id} is neither a card order (card_N) nor a P2P order (pord_N)", "INVALID_ID")
