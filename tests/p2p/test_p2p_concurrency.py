"""P2P money is exact under concurrency, on SQLite (serialized writers) and PostgreSQL (row locks):
each race settles once, no balance goes negative, and the ledger check is clean after each one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlmodel import select

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.errors import DomainError
from predictql.models import LedgerTransaction, P2PAd, P2POrder
from predictql.services import p2p_ads, p2p_backoffice, p2p_expiry, p2p_flow, p2p_orders
from predictql.services.p2p_ads import AdFields
from predictql.services.p2p_orders import OrderRequest
from tests.api.test_users import new_user
from tests.p2p.helpers import assert_books_clean, balances


async def sell_ad(db: Database, seller: int, amount: int = 100_000, duration: int = 15) -> int:
    async with db.transaction() as session:
        ad = await p2p_ads.create_ad(
            session,
            Actor(user_id=seller),
            AdFields(
                type="sell",
                fiat_currency="RUB",
                min_amount=1_000,
                max_amount=amount,
                payment_methods=["sber"],
                payment_details={"sber": "card"},
                max_payment_duration=duration,
            ),
        )
    return ad.id or 0


async def order(db: Database, buyer: int, ad_id: int, amount: int) -> int:
    async with db.transaction() as session:
        row = await p2p_orders.create_order(session, Actor(user_id=buyer), OrderRequest(ad_id, amount, "sber"))
    return row.id or 0


async def attempt(db: Database, action: Callable[..., Awaitable[Any]], **kwargs: Any) -> str:
    """Run one service call in its own transaction: "ok" or the error code."""
    try:
        async with db.transaction() as session:
            await action(session, **kwargs)
    except DomainError as error:
        return error.code
    return "ok"


async def movements(db: Database, order_id: int) -> list[str]:
    async with db.session() as session:
        rows = await session.scalars(
            select(LedgerTransaction.kind)
            .where(LedgerTransaction.reference_type == "p2p_order", LedgerTransaction.reference_id == order_id)
            .order_by(LedgerTransaction.id)
        )
        return list(rows)


async def test_two_takers_race_for_the_last_amount(db: Database) -> None:
    seller = await new_user(db, balance=100_000)
    ad_id = await sell_ad(db, seller, amount=60_000)
    buyers = [await new_user(db) for _ in range(4)]
    create = p2p_orders.create_order
    results = await asyncio.gather(
        *(attempt(db, create, actor=Actor(user_id=b), request=OrderRequest(ad_id, 40_000, "sber")) for b in buyers)
    )
    assert sorted(results) == ["AMOUNT_EXCEEDS_AVAILABLE"] * 3 + ["ok"]
    async with db.session() as session:
        ad = await session.get(P2PAd, ad_id)
        assert ad is not None and ad.remaining_amount == 20_000
    money = await balances(db, seller)
    assert (money.cash, money.p2p_frozen) == (60_000, 40_000)
    await assert_books_clean(db)


async def test_two_takers_cannot_overdraw_the_seller(db: Database) -> None:
    seller = await new_user(db, balance=50_000)
    ad_id = await sell_ad(db, seller, amount=100_000)
    buyers = [await new_user(db) for _ in range(3)]
    results = await asyncio.gather(
        *(
            attempt(db, p2p_orders.create_order, actor=Actor(user_id=b), request=OrderRequest(ad_id, 30_000, "sber"))
            for b in buyers
        )
    )
    assert sorted(results) == ["SELLER_INSUFFICIENT_BALANCE"] * 2 + ["ok"]
    assert (await balances(db, seller)).cash == 20_000
    await assert_books_clean(db)


async def test_confirm_received_races_cancel(db: Database) -> None:
    for _ in range(3):
        seller, buyer = await new_user(db, balance=10_000), await new_user(db)
        order_id = await order(db, buyer, await sell_ad(db, seller, amount=10_000), 10_000)
        await attempt(db, p2p_flow.confirm_paid, actor=Actor(user_id=buyer), order_id=order_id)
        results = await asyncio.gather(
            attempt(db, p2p_flow.confirm_received, actor=Actor(user_id=seller), order_id=order_id),
            attempt(db, p2p_flow.cancel, actor=Actor(user_id=buyer), order_id=order_id),
        )
        assert sorted(results) == ["ORDER_NOT_OPEN", "ok"], results
        kinds = await movements(db, order_id)
        assert kinds[0] == "p2p_escrow" and len(kinds) == 2 and kinds[1] in ("p2p_release", "p2p_refund")
        total = (await balances(db, seller)).cash + (await balances(db, buyer)).cash
        assert total == 10_000 and (await balances(db, seller)).p2p_frozen == 0
    await assert_books_clean(db)


async def test_double_confirm_settles_once(db: Database) -> None:
    seller, buyer = await new_user(db, balance=10_000), await new_user(db)
    order_id = await order(db, buyer, await sell_ad(db, seller, amount=10_000), 5_000)
    results = await asyncio.gather(
        *(attempt(db, p2p_flow.confirm_received, actor=Actor(user_id=seller), order_id=order_id) for _ in range(4))
    )
    assert sorted(results) == ["ORDER_NOT_OPEN"] * 3 + ["ok"]
    assert await movements(db, order_id) == ["p2p_escrow", "p2p_release"]
    assert (await balances(db, buyer)).cash == 5_000 and (await balances(db, seller)).cash == 5_000
    await assert_books_clean(db)


async def test_dispute_resolved_twice_settles_once(db: Database) -> None:
    operator = await new_user(db, is_operator=True)
    for to in ("buyer", "seller"):
        seller, buyer = await new_user(db, balance=10_000), await new_user(db)
        order_id = await order(db, buyer, await sell_ad(db, seller, amount=10_000), 7_000)
        await attempt(db, p2p_flow.call_operator, actor=Actor(user_id=buyer), order_id=order_id)
        results = await asyncio.gather(
            *(
                attempt(
                    db,
                    p2p_backoffice.resolve,
                    actor=Actor(user_id=operator, is_operator=True),
                    order_id=order_id,
                    to=side,
                )
                for side in (to, to, "buyer" if to == "seller" else "seller")
            )
        )
        assert sorted(results) == ["ORDER_NOT_OPEN"] * 2 + ["ok"]
        kinds = await movements(db, order_id)
        assert len(kinds) == 2
        buyer_cash = (await balances(db, buyer)).cash
        assert buyer_cash in (0, 7_000) and buyer_cash + (await balances(db, seller)).cash == 10_000
    await assert_books_clean(db)


async def test_two_sweeps_expire_an_order_once(db: Database) -> None:
    seller, buyer = await new_user(db, balance=10_000), await new_user(db)
    order_id = await order(db, buyer, await sell_ad(db, seller, amount=10_000), 10_000)
    async with db.transaction() as session:
        row = await session.get(P2POrder, order_id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    counts = await asyncio.gather(p2p_expiry.sweep(db), p2p_expiry.sweep(db), p2p_expiry.sweep(db))
    assert sorted(counts) == [0, 0, 1]
    assert await movements(db, order_id) == ["p2p_escrow", "p2p_refund"]
    async with db.session() as session:
        row = await session.get(P2POrder, order_id)
        assert row is not None and (row.status, row.cancel_reason) == ("cancelled", "expired")
        ad = await session.get(P2PAd, row.ad_id)
        assert ad is not None and ad.remaining_amount == 10_000
    assert (await balances(db, seller)).cash == 10_000
    await assert_books_clean(db)


async def test_sweep_leaves_paid_and_unexpired_orders(db: Database) -> None:
    seller = await new_user(db, balance=30_000)
    ad_id = await sell_ad(db, seller, amount=30_000)
    paid_buyer, waiting_buyer = await new_user(db), await new_user(db)
    paid = await order(db, paid_buyer, ad_id, 10_000)
    waiting = await order(db, waiting_buyer, ad_id, 10_000)
    await attempt(db, p2p_flow.confirm_paid, actor=Actor(user_id=paid_buyer), order_id=paid)
    assert await p2p_expiry.sweep(db) == 0
    async with db.session() as session:
        assert await p2p_expiry.due(session, utcnow() + timedelta(minutes=16)) == [waiting]
    await assert_books_clean(db)


async def test_p2p_card_and_crypto_money_out_race_one_daily_limit(db: Database) -> None:
    """A P2P sell, a card withdraw and a crypto withdrawal of one user racing: the one daily limit
    (``money_out.check_gates`` under the user's cash lock) lets exactly one through."""
    from predictql.services import card_orders, withdrawals
    from predictql.settings import Settings
    from tests.money.helpers import CARD, EVM

    limits = Settings(environment="test", jwt_secret="x" * 40, withdraw_daily_limit_kopecks=100_000)
    owner, user = await new_user(db), await new_user(db, balance=300_000)
    async with db.transaction() as session:
        ad = await p2p_ads.create_ad(
            session,
            Actor(user_id=owner),
            AdFields(
                type="buy",
                fiat_currency="RUB",
                min_amount=1_000,
                max_amount=100_000,
                payment_methods=["sber"],
                payment_details={"sber": "card"},
            ),
        )
    actor = Actor(user_id=user)
    results = await asyncio.gather(
        attempt(
            db,
            p2p_orders.create_order,
            actor=actor,
            settings=limits,
            request=OrderRequest(ad.id or 0, 60_000, "sber", {"card_number": "2200"}),
        ),
        attempt(
            db,
            card_orders.create,
            actor=actor,
            settings=limits,
            type="withdraw",
            amount=60_000,
            details={"card_number": CARD},
        ),
        attempt(
            db,
            withdrawals.request,
            actor=actor,
            settings=limits,
            token="USDT",
            network="bsc",
            amount=60_000,
            address=EVM,
        ),
    )
    assert sorted(results) == ["WITHDRAWAL_LIMIT_EXCEEDED"] * 2 + ["ok"], results
    money = await balances(db, user)
    assert money.cash == 240_000 and money.p2p_frozen + money.payout_frozen == 60_000
    await assert_books_clean(db)
