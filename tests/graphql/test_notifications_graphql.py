"""Notifications over GraphQL: the notifications connection, unreadNotificationCount and the three
mutations, with the REST codes in extensions."""

from __future__ import annotations

import httpx

from predictql.db import Database
from tests.api.test_notifications_api import seed
from tests.api.test_users import fast_user
from tests.graphql.test_trading_graphql import code, data, trade_input
from tests.markets.factories import create_market_setup
from tests.support import USER_ERRORS, Kind, gid, gql, ok_payload

NODE = "id userId type title message read readAt createdAt relatedId relatedType"
LIST = f"""query($first: Int!, $after: String) {{ notifications(first: $first, after: $after) {{
  edges {{ cursor node {{ {NODE} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
COUNT = "{ unreadNotificationCount }"
READ = f"""mutation($id: ID!) {{ markNotificationRead(input: {{id: $id}}) {{
  notification {{ {NODE} }} {USER_ERRORS} }} }}"""
READ_ALL = f"mutation {{ markAllNotificationsRead {{ markedCount {USER_ERRORS} }} }}"
DELETE = f"mutation($id: ID!) {{ deleteNotification(input: {{id: $id}}) {{ deletedNotificationId {USER_ERRORS} }} }}"
TRADE = "mutation($input: LmsrTradeInput!) { lmsrTrade(input: $input) { sharesDelta userErrors { code } } }"


async def test_a_trade_then_the_connection_pages_newest_first(client: httpx.AsyncClient, db: Database) -> None:
    _, _, (market,) = await create_market_setup(db, names=("Team A",))
    user, token = await fast_user(db, balance=100_000)
    ok_payload(await gql(client, TRADE, trade_input(market.id or 0, "buy_yes", 1000), token))
    ids = await seed(db, user, 2)
    first = data(await gql(client, LIST, {"first": 2}, token))["notifications"]
    assert [e["node"]["id"] for e in first["edges"]] == [gid(Kind.NOTIFICATION, ids[1]), gid(Kind.NOTIFICATION, ids[0])]
    assert first["pageInfo"]["hasNextPage"] is True and first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    rest = data(await gql(client, LIST, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token))["notifications"]
    (edge,) = rest["edges"]
    # Relay: endCursor names the last edge even on the last page.
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": rest["edges"][-1]["cursor"]}
    assert edge["node"] == {
        **edge["node"],
        "userId": gid(Kind.USER, user),
        "type": "TRADE_EXECUTED",
        "title": "Trade Executed",
        "read": False,
        "readAt": None,
        "relatedId": gid(Kind.MARKET, market.id or 0),
        "relatedType": "MARKET",
    }
    assert code(await gql(client, LIST, {"first": 0}, token)) == "INVALID_REQUEST"
    assert code(await gql(client, LIST, {"first": 2, "after": "nope"}, token)) == "INVALID_REQUEST"


async def test_mark_read_all_delete_and_count(client: httpx.AsyncClient, db: Database) -> None:
    user, token = await fast_user(db)
    other, other_token = await fast_user(db)
    ids = await seed(db, user, 3)
    (theirs,) = await seed(db, other, 1)
    assert data(await gql(client, COUNT, token=token)) == {"unreadNotificationCount": 3}
    read = ok_payload(await gql(client, READ, {"id": gid(Kind.NOTIFICATION, ids[0])}, token))["notification"]
    assert read["read"] is True and read["readAt"] is not None and read["id"] == gid(Kind.NOTIFICATION, ids[0])
    assert data(await gql(client, COUNT, token=token)) == {"unreadNotificationCount": 2}
    assert ok_payload(await gql(client, READ_ALL, token=token))["markedCount"] == 2
    assert ok_payload(await gql(client, READ_ALL, token=token))["markedCount"] == 0
    deleted = ok_payload(await gql(client, DELETE, {"id": gid(Kind.NOTIFICATION, ids[1])}, token))
    assert deleted["deletedNotificationId"] == f"ntf_{ids[1]}"
    remaining = data(await gql(client, LIST, {"first": 10}, token))["notifications"]["edges"]
    assert [e["node"]["id"] for e in remaining] == [gid(Kind.NOTIFICATION, ids[2]), gid(Kind.NOTIFICATION, ids[0])]

    for mutation in (READ, DELETE):
        assert code(await gql(client, mutation, {"id": gid(Kind.NOTIFICATION, theirs)}, token)) == "NOT_FOUND"
        bad = (await gql(client, mutation, {"id": "x"}, token))["data"]
        (payload,) = bad.values()
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["input", "id"], "INVALID_ID")]
    assert data(await gql(client, COUNT, token=other_token)) == {"unreadNotificationCount": 1}


async def test_anonymous_callers_are_refused(client: httpx.AsyncClient, db: Database) -> None:
    for query, variables in (
        (LIST, {"first": 5}),
        (COUNT, {}),
        (READ, {"id": "ntf_1"}),
        (READ_ALL, {}),
        (DELETE, {"id": "ntf_1"}),
    ):
        assert code(await gql(client, query, variables)) == "UNAUTHORIZED", query
