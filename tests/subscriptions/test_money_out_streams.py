"""``myCardOrders``, ``myWithdrawals`` and ``backOfficeQueue`` over graphql-transport-ws: each state
change reaches its owner (and nobody else) and the operators' queue; resumable with fromSeq; the
queue refuses non-operators."""

from __future__ import annotations

from predictql.auth import Actor
from predictql.db import Database
from predictql.services import card_orders, ledger, withdrawals
from predictql.settings import Settings
from tests.api.test_users import fast_user
from tests.money.helpers import EVM
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import data
from tests.subscriptions.test_notification_subscription import _until_subscribed
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, gid

CARDS = "subscription($from: Long) { myCardOrders(fromSeq: $from) { kind seq data { id status amount } } }"
OUTS = "subscription($from: Long) { myWithdrawals(fromSeq: $from) { kind seq data { id status txHash } } }"
QUEUE = "subscription($from: Long) { backOfficeQueue(fromSeq: $from) { kind seq data { itemKind itemId state open } } }"


async def test_card_order_changes_reach_the_owner_and_the_queue(live: Live, db: Database, settings: Settings) -> None:
    alice, alice_token = await fast_user(db)
    _, bob_token = await fast_user(db)
    operator_id, operator_token = await fast_user(db, is_operator=True)
    async with (
        GraphQLSocket(live.app, params={"token": alice_token}) as alice_ws,
        GraphQLSocket(live.app, params={"token": bob_token}) as bob_ws,
        GraphQLSocket(live.app, params={"token": operator_token}) as operator_ws,
    ):
        mine = await alice_ws.subscribe(CARDS)
        await bob_ws.subscribe(CARDS)
        queue = await operator_ws.subscribe(QUEUE)
        await _until_subscribed(live.bus, 3)
        async with live.db.transaction() as session:
            order = await card_orders.create(session, Actor(user_id=alice), live.settings, type="deposit", amount=10000)
        order_id = gid(Kind.CARD_ORDER, order.id or 0)
        async with live.db.transaction() as session:
            await card_orders.confirm_paid(session, Actor(user_id=alice), order_id=order.id or 0)
        async with live.db.transaction() as session:
            await card_orders.complete(session, Actor(user_id=operator_id, is_operator=True), order_id=order.id or 0)
        seen = [data(await alice_ws.next(mine), "myCardOrders") for _ in range(3)]
        assert [(m["id"], m["status"], m["seq"]) for m in seen] == [
            (order_id, "PENDING", 1),
            (order_id, "PAID_BY_USER", 2),
            (order_id, "COMPLETED", 3),
        ]
        items = [data(await operator_ws.next(queue), "backOfficeQueue") for _ in range(3)]
        assert [(i["itemKind"], i["itemId"], i["state"], i["open"]) for i in items] == [
            ("CARD_ORDER", order_id, "pending", True),
            ("CARD_ORDER", order_id, "paid_by_user", True),
            ("CARD_ORDER", order_id, "completed", False),
        ]
        await bob_ws.nothing(0.2)  # alice's orders never reach bob

    async with GraphQLSocket(live.app, params={"token": alice_token}) as again:
        resumed = await again.subscribe(CARDS, {"from": 1})
        replayed = [data(await again.next(resumed), "myCardOrders") for _ in range(2)]
        assert [m["status"] for m in replayed] == ["PAID_BY_USER", "COMPLETED"]


async def test_withdrawal_stream_and_queue_refuses_plain_users(live: Live, db: Database, settings: Settings) -> None:
    alice, token = await fast_user(db, balance=100000)
    operator_id, _ = await fast_user(db, is_operator=True)
    async with GraphQLSocket(live.app, params={"token": token}) as ws:
        refused = await ws.subscribe(QUEUE)
        message = await ws.next(refused)
        assert message["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        outs = await ws.subscribe(OUTS)
        await _until_subscribed(live.bus, 1)
        async with live.db.transaction() as session:
            row = await withdrawals.request(
                session, Actor(user_id=alice), live.settings, token="USDT", network="bsc", amount=1000, address=EVM
            )
        async with live.db.transaction() as session:
            await withdrawals.approve(
                session,
                Actor(user_id=operator_id, is_operator=True),
                withdrawal_id=row.id or 0,
                tx_hash="0x" + "cd" * 32,
            )
        seen = [data(await ws.next(outs), "myWithdrawals") for _ in range(2)]
        assert [(m["status"], m["txHash"]) for m in seen] == [("PENDING", None), ("COMPLETED", "0x" + "cd" * 32)]


BALANCE = "subscription { myBalance { kind seq data { cash total payoutFrozen } } }"


async def test_balance_stream_shows_money_held_for_payouts(live: Live, db: Database, settings: Settings) -> None:
    """Money-out requested sits in ``payoutFrozen`` (out of cash and total) until it is sent or returned;
    every change of it goes on ``myBalance``."""
    from tests.money.helpers import CARD

    alice, token = await fast_user(db, balance=100000)
    operator = Actor(user_id=(await fast_user(db, is_operator=True))[0], is_operator=True)
    owner = Actor(user_id=alice)

    def money(update: dict[str, object]) -> tuple[int, int, int]:
        return int(str(update["cash"])), int(str(update["total"])), int(str(update["payoutFrozen"]))

    async with GraphQLSocket(live.app, params={"token": token}) as ws:
        balance = await ws.subscribe(BALANCE)
        assert money(data(await ws.next(balance), "myBalance")) == (100000, 100000, 0)
        async with live.db.transaction() as session:
            row = await withdrawals.request(
                session, owner, live.settings, token="USDT", network="bsc", amount=1000, address=EVM
            )
        assert money(data(await ws.next(balance), "myBalance")) == (99000, 99000, 1000)
        async with live.db.transaction() as session:
            await withdrawals.reject(session, operator, withdrawal_id=row.id or 0)
        assert money(data(await ws.next(balance), "myBalance")) == (100000, 100000, 0)
        async with live.db.transaction() as session:
            order = await card_orders.create(
                session, owner, live.settings, type="withdraw", amount=20000, details={"card_number": CARD}
            )
        assert money(data(await ws.next(balance), "myBalance")) == (80000, 80000, 20000)
        async with live.db.transaction() as session:
            await card_orders.complete(session, operator, order_id=order.id or 0)
        assert money(data(await ws.next(balance), "myBalance")) == (80000, 80000, 0)  # sent: the hold is gone

    async with live.db.transaction() as session:
        await card_orders.create(
            session, owner, live.settings, type="withdraw", amount=10000, details={"card_number": CARD}
        )
    async with live.db.session() as session:
        held = await ledger.balances(session, alice)
    assert (held.cash, held.total, held.payout_frozen) == (70000, 70000, 10000)


async def test_queue_names_p2p_work_by_global_id(live: Live, db: Database, settings: Settings) -> None:
    """Ads published and moderated, and disputes opened and resolved, reach ``backOfficeQueue`` with
    the same envelope as card orders and withdrawals: node ids (pad_..., pord_...)."""
    from predictql.services import p2p_ads, p2p_backoffice, p2p_flow, p2p_orders
    from predictql.services.p2p_ads import AdFields

    seller, _ = await fast_user(db, balance=100000)
    buyer, _ = await fast_user(db)
    operator_id, operator_token = await fast_user(db, is_operator=True)
    operator = Actor(user_id=operator_id, is_operator=True)
    async with GraphQLSocket(live.app, params={"token": operator_token}) as ws:
        queue = await ws.subscribe(QUEUE)
        await _until_subscribed(live.bus, 1)
        async with live.db.transaction() as session:
            ad = await p2p_ads.create_ad(
                session,
                Actor(user_id=seller),
                AdFields(
                    type="sell",
                    fiat_currency="RUB",
                    min_amount=100,
                    max_amount=10_000,
                    payment_methods=["sber"],
                    payment_details={"sber": "card"},
                ),
            )
            order = await p2p_orders.create_order(
                session, Actor(user_id=buyer), p2p_orders.OrderRequest(ad.id or 0, 4_000, "sber")
            )
        async with live.db.transaction() as session:
            await p2p_flow.call_operator(session, Actor(user_id=buyer), order_id=order.id or 0)
        async with live.db.transaction() as session:
            await p2p_backoffice.resolve(session, operator, order_id=order.id or 0, to="seller")
        async with live.db.transaction() as session:
            await p2p_backoffice.moderate(session, operator, ad_id=ad.id or 0, status="hidden")
        items = [data(await ws.next(queue), "backOfficeQueue") for _ in range(4)]
    ad_gid, order_gid = gid(Kind.P2P_AD, ad.id or 0), gid(Kind.P2P_ORDER, order.id or 0)
    assert [(i["itemKind"], i["itemId"], i["state"], i["open"]) for i in items] == [
        ("P2P_AD", ad_gid, "approved", False),
        ("P2P_DISPUTE", order_gid, "dispute", True),
        ("P2P_DISPUTE", order_gid, "cancelled", False),
        ("P2P_AD", ad_gid, "hidden", False),
    ]
