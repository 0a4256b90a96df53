"""P2P live streams: ``myP2POrders`` for both participants, ``p2pOrderMessages`` for them and
operators (a stranger is refused), the balance stream's ``p2pFrozen``, and the app's own sweeper
cancelling an unpaid order on time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.models import Notification, P2POrder, StreamEvent
from predictql.services import ledger, p2p_backoffice
from predictql.subscriptions import topics
from predictql.subscriptions.payloads import BackOfficeItem
from tests.api.test_users import fast_user
from tests.p2p.helpers import AD_BODY
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import data
from tests.subscriptions.test_orderbook_streams import auth
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, gid

# fromSeq 0: the log replays what committed before the subscription went live (no "subscribed" ack).
MY_P2P = """subscription { myP2POrders(fromSeq: 0) { kind seq data { id status cancelReason frozenBalance
  buyer { id } seller { id } } } }"""
MESSAGES = """subscription($o: ID!) { p2pOrderMessages(orderId: $o, fromSeq: 0) { kind seq data { id message senderType
  senderId orderId } } }"""
BALANCE = "subscription { myBalance { kind seq data { cash p2pFrozen } } }"


async def test_orders_and_chat_are_pushed_and_the_sweeper_cancels_on_time(
    live_with: Callable[..., AbstractAsyncContextManager[Live]], db: Database
) -> None:
    seller, s_token = await fast_user(db, balance=100_000)
    buyer, b_token = await fast_user(db)
    _, o_token = await fast_user(db, is_operator=True)
    _, x_token = await fast_user(db)
    async with (
        live_with(p2p_expiry_sweep_seconds=0.05) as app,
        GraphQLSocket(app.app, params=auth(b_token)) as b_ws,
        GraphQLSocket(app.app, params=auth(s_token)) as s_ws,
        GraphQLSocket(app.app, params=auth(o_token)) as o_ws,
        GraphQLSocket(app.app, params=auth(x_token)) as x_ws,
    ):
        b_orders, s_orders = await b_ws.subscribe(MY_P2P), await s_ws.subscribe(MY_P2P)
        s_balance = await s_ws.subscribe(BALANCE)
        assert data(await s_ws.next(s_balance), "myBalance")["kind"] == "SNAPSHOT"
        await b_ws.nothing(0.1)
        ad = (await app.http.post("/api/v1/p2p/ads", json=AD_BODY, headers=auth(s_token))).json()["id"]
        body = {"ad_id": ad, "usdt_amount": 40_000, "payment_method": "sber"}
        order_id = (await app.http.post("/api/v1/p2p/orders", json=body, headers=auth(b_token))).json()["id"]
        oid = gid(Kind.P2P_ORDER, order_id)
        for ws, op in ((b_ws, b_orders), (s_ws, s_orders)):
            made = data(await ws.next(op), "myP2POrders")
            assert (made["id"], made["status"], made["frozenBalance"]) == (oid, "PENDING", 40_000)
            assert (made["buyer"]["id"], made["seller"]["id"]) == (gid(Kind.USER, buyer), gid(Kind.USER, seller))
        frozen = data(await s_ws.next(s_balance), "myBalance")
        assert (int(frozen["cash"]), int(frozen["p2pFrozen"])) == (60_000, 40_000)

        chats = {ws: await ws.subscribe(MESSAGES, {"o": oid}) for ws in (b_ws, o_ws)}
        refused = await x_ws.next(await x_ws.subscribe(MESSAGES, {"o": oid}))
        assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
        await b_ws.nothing(0.1)
        said = await app.http.post(
            f"/api/v1/p2p/orders/{order_id}/messages", json={"message": "card?"}, headers=auth(s_token)
        )
        assert said.status_code == 200, said.text
        for ws, op in chats.items():
            message = data(await ws.next(op), "p2pOrderMessages")
            assert (message["message"], message["senderType"], message["senderId"]) == (
                "card?",
                "USER",
                gid(Kind.USER, seller),
            )
        answer = await app.http.post(
            f"/api/v1/p2p/orders/{order_id}/messages", json={"message": "support here"}, headers=auth(o_token)
        )
        assert answer.status_code == 200, answer.text
        assert data(await b_ws.next(chats[b_ws]), "p2pOrderMessages")["senderType"] == "OPERATOR"

        async with app.db.transaction() as session:  # the payment window ends now
            row = await session.get(P2POrder, order_id)
            assert row is not None
            row.expires_at = utcnow()
        for ws, op, user in ((b_ws, b_orders, buyer), (s_ws, s_orders, seller)):
            gone = await _expired(app, ws, op, order_id, user)
            assert (gone["status"], gone["cancelReason"], gone["frozenBalance"]) == ("CANCELLED", "EXPIRED", 0)
        back = data(await s_ws.next(s_balance), "myBalance")
        assert (int(back["cash"]), int(back["p2pFrozen"])) == (100_000, 0)
    async with db.session() as session:
        assert (await ledger.balances(session, seller)).cash == 100_000


async def _expired(app: Live, ws: GraphQLSocket, op: str, order_id: int, user_id: int) -> Any:
    """``op``'s next ``myP2POrders`` item (the sweeper's CANCELLED). None within 5 s (seen once in CI
    on PostgreSQL + Redis, not reproduced since, under load either): say what the database and the
    sweeper show, to tell a sweep that did not happen from a message that never reached the socket."""
    try:
        return data(await ws.next(op, within=5), "myP2POrders")
    except TimeoutError:
        async with app.db.session() as session:
            order = await session.get(P2POrder, order_id)
            logged = list(
                await session.scalars(
                    select(col(StreamEvent.seq)).where(
                        col(StreamEvent.channel) == topics.user_p2p_orders_channel(user_id)
                    )
                )
            )
        sweeper = [task for task in asyncio.all_tasks() if task.get_name() == "p2p expiry sweep"]
        state = (order.status, order.expires_at, utcnow()) if order is not None else None
        raise AssertionError(
            f"no myP2POrders frame within 5 s: order (status, expires_at, now) {state}, "
            f"seqs logged {logged}, sweeper tasks {sweeper}, bus {app.bus.stats()}"
        ) from None


async def test_every_change_notifies_its_people_and_the_back_office_queue(live: Live, db: Database) -> None:
    seller, s_token = await fast_user(db, balance=100_000)
    buyer, b_token = await fast_user(db)
    _, o_token = await fast_user(db, is_operator=True)
    http = live.http
    ad = (await http.post("/api/v1/p2p/ads", json=AD_BODY, headers=auth(s_token))).json()["id"]
    body = {"ad_id": ad, "usdt_amount": 20_000, "payment_method": "sber"}
    order_id = (await http.post("/api/v1/p2p/orders", json=body, headers=auth(b_token))).json()["id"]
    base = f"/api/v1/p2p/orders/{order_id}"
    for path, token in (("/confirm-paid", b_token), ("/call-operator", s_token)):
        assert (await http.post(base + path, headers=auth(token))).status_code == 200
    answer = await http.post(base + "/messages", json={"message": "looking"}, headers=auth(o_token))
    assert answer.status_code == 200
    ops = Actor(user_id=(await fast_user(db, is_operator=True))[0], is_operator=True)
    async with live.db.transaction() as session:
        await p2p_backoffice.resolve(session, ops, order_id=order_id, to="seller")
    async with db.session() as session:
        told = [
            (n.user_id, n.type)
            for n in await session.scalars(
                select(Notification).where(col(Notification.related_type) == "p2p_order").order_by(col(Notification.id))
            )
        ]
        queue = [
            BackOfficeItem.from_json(e.payload)
            for e in await session.scalars(
                select(StreamEvent)
                .where(col(StreamEvent.channel).endswith("backoffice"))
                .order_by(col(StreamEvent.seq))
            )
        ]
    assert told == [
        (seller, "p2p_order_created"),
        (seller, "p2p_order_paid"),
        (buyer, "p2p_dispute_opened"),
        (seller, "p2p_message"),
        (buyer, "p2p_message"),  # an operator wrote: both are told
        (seller, "p2p_dispute_resolved"),
        (buyer, "p2p_dispute_resolved"),
    ]
    assert [(q.kind, q.id, q.state, q.open) for q in queue] == [
        ("p2p_ad", ad, "approved", False),  # published (post-moderation)
        ("p2p_dispute", order_id, "dispute", True),
        ("p2p_dispute", order_id, "dispute", True),  # opened, answered
        ("p2p_dispute", order_id, "cancelled", False),
    ]
