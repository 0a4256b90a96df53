"""The operator role (back office) and the audit log its actions write."""

from __future__ import annotations

import httpx
import pytest

from predictql.auth import Actor
from predictql.db import Database
from predictql.errors import Forbidden
from predictql.models import User
from predictql.services import audit
from predictql.services.cursors import PageArgs
from tests.api.test_users import fast_user, new_user
from tests.support import bearer, gql


async def test_only_admins_grant_the_operator_role(client: httpx.AsyncClient, db: Database) -> None:
    _, viewer = await fast_user(db, is_stats_viewer=True)
    _, admin = await fast_user(db, is_admin=True)
    target = await new_user(db)
    body = {"user_id": target, "role": "operator"}
    refused = await client.post("/api/v1/stats/role", json=body, headers=bearer(viewer))
    assert refused.status_code == 403
    granted = await client.post("/api/v1/stats/role", json=body, headers=bearer(admin))
    assert granted.status_code == 200, granted.text
    async with db.session() as session:
        user = await session.get(User, target)
        assert user is not None and user.is_operator is True


async def test_operator_sees_own_role_in_graphql(client: httpx.AsyncClient, db: Database) -> None:
    _, operator = await fast_user(db, is_operator=True)
    _, plain = await fast_user(db)
    query = "{ me { isOperator } }"
    assert (await gql(client, query, token=operator))["data"]["me"]["isOperator"] is True
    assert (await gql(client, query, token=plain))["data"]["me"]["isOperator"] is False


async def test_require_operator() -> None:
    assert Actor(user_id=1, is_operator=True).require_operator() == 1
    assert Actor(user_id=2, is_admin=True).require_operator() == 2
    with pytest.raises(Forbidden):
        Actor(user_id=3).require_operator()
    with pytest.raises(Forbidden):
        Actor(user_id=4, is_operator=True, can_write=False).require_operator()


async def test_audit_log_records_and_filters(db: Database) -> None:
    operator_id = await new_user(db, is_operator=True)
    operator = Actor(user_id=operator_id, is_operator=True)
    async with db.transaction() as session:
        await audit.record(
            session,
            operator,
            "card_order.complete",
            "card_order",
            7,
            before={"status": "paid_by_user"},
            after={"status": "completed"},
        )
        await audit.record(session, None, "p2p_order.expire", "p2p_order", 9, after={"status": "cancelled"})
    async with db.session() as session:
        page = await audit.entries(session, operator, PageArgs(first=10), subject_type="card_order")
        assert [(e.action, e.actor_id, e.before, e.after) for e in page.items] == [
            ("card_order.complete", operator_id, {"status": "paid_by_user"}, {"status": "completed"})
        ]
        everything = await audit.entries(session, operator, PageArgs(first=10))
        assert [e.action for e in everything.items] == ["p2p_order.expire", "card_order.complete"]
        with pytest.raises(Forbidden):
            await audit.entries(session, Actor(user_id=operator_id + 1), PageArgs(first=10))
