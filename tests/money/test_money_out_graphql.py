"""The GraphQL twins of the card and withdrawals groups, end to end over HTTP, and the back office:
operators list, settle and audit; everyone else is FORBIDDEN (a top-level error)."""

from __future__ import annotations

from typing import Any

import httpx

from predictql.db import Database
from predictql.schema.ids import Kind
from tests.api.test_users import fast_user
from tests.money.helpers import CARD, EVM, TRON, assert_ledger_clean, cash
from tests.support import USER_ERRORS, failure_code, gid, gql, ok_payload

ORDER = "cardOrder { id type amount status paymentDetails { cardNumber bankName holderName } user { id } }"
CREATE = f"mutation($i: CreateCardOrderInput!) {{ createCardOrder(input: $i) {{ {ORDER} {USER_ERRORS} }} }}"
CONFIRM = f"mutation($id: ID!) {{ confirmCardOrderPaid(input: {{id: $id}}) {{ {ORDER} {USER_ERRORS} }} }}"
CANCEL = f"mutation($id: ID!) {{ cancelCardOrder(input: {{id: $id}}) {{ {ORDER} {USER_ERRORS} }} }}"
COMPLETE = f"mutation($id: ID!) {{ completeCardOrder(input: {{id: $id}}) {{ {ORDER} {USER_ERRORS} }} }}"
REJECT = f'mutation($id: ID!) {{ rejectCardOrder(input: {{id: $id, note: "no money"}}) {{ {ORDER} {USER_ERRORS} }} }}'
SAY = f"""mutation($o: ID!, $m: String!) {{ sendCardOrderMessage(input: {{orderId: $o, message: $m}})
  {{ message {{ id orderId sender senderId message order {{ status }} }} {USER_ERRORS} }} }}"""
CHAT = "query($o: ID!) { cardOrderMessages(orderId: $o, first: 10) { nodes { sender message } totalCount } }"
WITHDRAWAL = "withdrawal { id token network address amount fee amountSent status txHash }"
REQUEST = f"mutation($i: RequestWithdrawalInput!) {{ requestWithdrawal(input: $i) {{ {WITHDRAWAL} {USER_ERRORS} }} }}"
APPROVE = f"""mutation($id: ID!, $tx: String!) {{ approveWithdrawal(input: {{id: $id, txHash: $tx}})
  {{ {WITHDRAWAL} {USER_ERRORS} }} }}"""
REJECT_OUT = f"mutation($id: ID!) {{ rejectWithdrawal(input: {{id: $id}}) {{ {WITHDRAWAL} {USER_ERRORS} }} }}"
CANCEL_OUT = f"mutation {{ cancelWithdrawal {{ {WITHDRAWAL} {USER_ERRORS} }} }}"


async def call(client: httpx.AsyncClient, query: str, token: str, **variables: Any) -> dict[str, Any]:
    return await gql(client, query, variables, token)


async def test_card_deposit_end_to_end(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db)
    _, operator = await fast_user(db, is_operator=True)
    limits = await call(client, "{ cardLimits { bankName cardNumber holderName minAmount maxAmount } }", token)
    assert limits["data"]["cardLimits"]["minAmount"] == 10000
    created = ok_payload(await call(client, CREATE, token, i={"type": "DEPOSIT", "amount": 25000}))["cardOrder"]
    assert created == {
        **created,
        "type": "DEPOSIT",
        "amount": 25000,
        "status": "PENDING",
        "paymentDetails": None,
        "user": {"id": gid(Kind.USER, user_id)},
    }
    assert created["id"].startswith("card_")
    assert failure_code(await call(client, CREATE, token, i={"type": "DEPOSIT", "amount": 25000})) == (
        "ACTIVE_DEPOSIT_ORDER_EXISTS"
    )
    paid = ok_payload(await call(client, CONFIRM, token, id=created["id"]))["cardOrder"]
    assert paid["status"] == "PAID_BY_USER"
    assert failure_code(await call(client, COMPLETE, token, id=created["id"])) == "FORBIDDEN"
    queue = "{ backOfficeCardOrders(filter: {type: DEPOSIT}) { nodes { id status } } }"
    assert failure_code(await call(client, queue, token)) == "FORBIDDEN"
    listed = (await call(client, queue, operator))["data"]["backOfficeCardOrders"]["nodes"]
    assert {"id": created["id"], "status": "PAID_BY_USER"} in listed

    ok_payload(await call(client, SAY, token, o=created["id"], m="sent from Sber"))
    answer = ok_payload(await call(client, SAY, operator, o=created["id"], m="received"))["message"]
    assert answer["sender"] == "OPERATOR" and answer["orderId"] == created["id"]
    assert answer["order"] == {"status": "PAID_BY_USER"}
    chat = (await call(client, CHAT, token, o=created["id"]))["data"]["cardOrderMessages"]
    assert chat["totalCount"] == 2 and [m["sender"] for m in chat["nodes"]] == ["OPERATOR", "USER"]

    done = ok_payload(await call(client, COMPLETE, operator, id=created["id"]))["cardOrder"]
    assert done["status"] == "COMPLETED"
    assert failure_code(await call(client, COMPLETE, operator, id=created["id"])) == "INVALID_ORDER_STATUS"
    assert await cash(db, user_id) == 25000
    audit = '{ auditLog(filter: {subjectType: "card_order"}) { nodes { action before after actor { id } } } }'
    assert failure_code(await call(client, audit, token)) == "FORBIDDEN"
    entries = (await call(client, audit, operator))["data"]["auditLog"]["nodes"]
    assert [(e["action"], e["before"], e["after"]) for e in entries] == [
        ("card_order.complete", {"status": "paid_by_user"}, {"status": "completed"}),
        ("card_order.message", None, entries[1]["after"]),
    ]
    mine = """{ myCardOrders(first: 5) { nodes { id status } }
      notifications(first: 1) { nodes { subject { ... on CardOrder { id } } } } }"""
    body = (await call(client, mine, token))["data"]
    assert body["myCardOrders"]["nodes"] == [{"id": created["id"], "status": "COMPLETED"}]
    assert body["notifications"]["nodes"][0]["subject"] == {"id": created["id"]}
    await assert_ledger_clean(db)


async def test_card_withdraw_rejected_and_strangers_see_nothing(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db, balance=100000)
    _, stranger = await fast_user(db)
    _, operator = await fast_user(db, is_admin=True)
    given = {"type": "WITHDRAW", "amount": 30000, "paymentDetails": {"cardNumber": CARD, "bankName": "Alfa"}}
    order = ok_payload(await call(client, CREATE, token, i=given))["cardOrder"]
    assert order["paymentDetails"] == {"cardNumber": "4111111111111111", "bankName": "Alfa", "holderName": None}
    assert await cash(db, user_id) == 70000
    assert failure_code(await call(client, CANCEL, stranger, id=order["id"])) == "ORDER_NOT_FOUND"
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await call(client, node, stranger, id=order["id"]))["data"]["node"] is None
    assert (await call(client, node, operator, id=order["id"]))["data"]["node"] == {"id": order["id"]}
    assert failure_code(await call(client, CHAT, stranger, o=order["id"])) == "ORDER_NOT_FOUND"
    no_card = {"type": "WITHDRAW", "amount": 30000}
    assert failure_code(await call(client, CREATE, token, i=no_card)) == "INVALID_REQUEST"
    rejected = ok_payload(await call(client, REJECT, operator, id=order["id"]))["cardOrder"]
    assert rejected["status"] == "REJECTED"
    assert failure_code(await call(client, CANCEL, token, id=order["id"])) == "INVALID_ORDER_STATUS"
    assert await cash(db, user_id) == 100000
    await assert_ledger_clean(db)


async def test_withdrawal_end_to_end(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db, balance=100000)
    _, operator = await fast_user(db, is_operator=True)
    networks = (await call(client, "{ withdrawalNetworks { network tokens minAmount feePercent } }", token))["data"]
    assert networks["withdrawalNetworks"][0] == {
        "network": "TRON",
        "tokens": ["USDT"],
        "minAmount": 200,
        "feePercent": "1 USDT",
    }
    bad = {"token": "USDT", "network": "TRON", "amount": 1000, "address": EVM}
    body = await call(client, REQUEST, token, i=bad)
    assert failure_code(body) == "INVALID_ADDRESS"
    assert body["data"]["requestWithdrawal"]["userErrors"][0]["field"] == ["input", "address"]
    made = ok_payload(await call(client, REQUEST, token, i={**bad, "address": TRON}))["withdrawal"]
    assert made == {**made, "amount": 1000, "fee": 100, "amountSent": 900, "status": "PENDING", "txHash": None}
    again = await call(client, REQUEST, token, i={**bad, "address": TRON})
    assert failure_code(again) == "PENDING_WITHDRAWAL_EXISTS"
    pending = (await call(client, "{ pendingWithdrawal { id } }", token))["data"]["pendingWithdrawal"]
    assert pending == {"id": made["id"]}
    assert failure_code(await call(client, APPROVE, token, id=made["id"], tx="0xabc")) == "FORBIDDEN"
    queue = "{ backOfficeWithdrawals(filter: {network: TRON}) { nodes { id user { id } } } }"
    listed = (await call(client, queue, operator))["data"]["backOfficeWithdrawals"]["nodes"]
    assert listed == [{"id": made["id"], "user": {"id": gid(Kind.USER, user_id)}}]
    sent = ok_payload(await call(client, APPROVE, operator, id=made["id"], tx="a1" * 32))["withdrawal"]
    assert (sent["status"], sent["txHash"]) == ("COMPLETED", "a1" * 32)
    assert failure_code(await call(client, REJECT_OUT, operator, id=made["id"])) == "WITHDRAWAL_NOT_PENDING"
    assert failure_code(await call(client, CANCEL_OUT, token)) == "WITHDRAWAL_NOT_FOUND"

    second = ok_payload(
        await call(client, REQUEST, token, i={**bad, "network": "ETHEREUM", "token": "USDC", "address": EVM})
    )["withdrawal"]
    assert (second["fee"], second["amountSent"]) == (3, 997)
    cancelled = ok_payload(await call(client, CANCEL_OUT, token))["withdrawal"]
    assert cancelled["status"] == "CANCELLED"
    history = (await call(client, "{ myWithdrawals { nodes { status } } }", token))["data"]["myWithdrawals"]
    assert [n["status"] for n in history["nodes"]] == ["CANCELLED", "COMPLETED"]
    assert await cash(db, user_id) == 99000
    await assert_ledger_clean(db)


async def test_operator_note_is_bounded_and_own_money_is_not_settled(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, balance=100000)
    _, operator = await fast_user(db, is_operator=True)
    made = ok_payload(
        await call(client, REQUEST, token, i={"token": "USDT", "network": "BSC", "amount": 1000, "address": EVM})
    )["withdrawal"]
    long_note = f"""mutation($id: ID!, $n: String) {{ rejectWithdrawal(input: {{id: $id, note: $n}})
      {{ {USER_ERRORS} }} }}"""
    body = await call(client, long_note, operator, id=made["id"], n="x" * 501)
    assert body["data"]["rejectWithdrawal"]["userErrors"][0] == {
        "field": ["input", "note"],
        "message": "note is longer than 500 characters",
        "code": "INVALID_REQUEST",
    }
    ok_payload(await call(client, long_note, operator, id=made["id"], n="x" * 500))

    _, own_operator = await fast_user(db, is_operator=True, balance=100000)
    own = ok_payload(await call(client, CREATE, own_operator, i={"type": "DEPOSIT", "amount": 10000}))["cardOrder"]
    assert failure_code(await call(client, COMPLETE, own_operator, id=own["id"])) == "FORBIDDEN"
    await assert_ledger_clean(db)
