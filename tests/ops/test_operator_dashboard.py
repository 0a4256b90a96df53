"""``operatorDashboard`` (issue 15 point 6): the operator page's figures, for operators and admins only."""

from __future__ import annotations

import httpx

from predictql import metrics
from predictql.db import Database
from predictql.settings import Settings
from tests.api.test_users import fast_user
from tests.support import failure_code, gql

FIGURES = """{ operatorDashboard { websockets busDeliveries busLagMeanSeconds subscriptions { stream count }
  backOfficeQueues { name open } lastLedgerCheck { ok violations checkedAt } } }"""
CARD = "mutation($i: CreateCardOrderInput!) { createCardOrder(input: $i) { cardOrder { id } userErrors { code } } }"


async def test_only_operators_and_admins_see_the_figures(client: httpx.AsyncClient, db: Database) -> None:
    _, user = await fast_user(db)
    _, operator = await fast_user(db, is_operator=True)
    _, admin = await fast_user(db, is_admin=True)
    assert failure_code(await gql(client, FIGURES, {}, user)) == "FORBIDDEN"
    assert failure_code(await gql(client, FIGURES, {})) == "UNAUTHORIZED"
    for token in (operator, admin):
        assert (await gql(client, FIGURES, {}, token))["data"]["operatorDashboard"]["websockets"] >= 0


async def test_queues_ledger_check_and_bus_lag(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    _, token = await fast_user(db)
    _, operator = await fast_user(db, is_operator=True)
    before = (await gql(client, FIGURES, {}, operator))["data"]["operatorDashboard"]
    # Every queue whose table exists on this branch, each empty in a clean database.
    assert {q["name"]: q["open"] for q in before["backOfficeQueues"]} == {
        "card_orders": 0,
        "withdrawals": 0,
        "p2p_disputes": 0,
        "support_chats": 0,
    }
    created = await gql(client, CARD, {"i": {"type": "DEPOSIT", "amount": 25000}}, token)
    assert created["data"]["createCardOrder"]["userErrors"] == []

    metrics.record_ledger_check(settings, ok=False, violations=2)
    metrics.BUS_LAG.observe(0.25)  # one delivery, as subscriptions/ records them

    after = (await gql(client, FIGURES, {}, operator))["data"]["operatorDashboard"]
    assert {q["name"]: q["open"] for q in after["backOfficeQueues"]}["card_orders"] == 1
    assert after["lastLedgerCheck"]["ok"] is False and after["lastLedgerCheck"]["violations"] == 2
    assert after["busDeliveries"] == before["busDeliveries"] + 1
    assert after["busLagMeanSeconds"] is not None and after["busLagMeanSeconds"] > 0

    metrics.record_ledger_check(settings, ok=True, violations=0)
    clean = (await gql(client, FIGURES, {}, operator))["data"]["operatorDashboard"]["lastLedgerCheck"]
    assert clean["ok"] is True and clean["violations"] == 0
    assert clean["checkedAt"] >= after["lastLedgerCheck"]["checkedAt"]
