"""Comments over GraphQL: Event.comments with authors, their positions and replies in a fixed number
of statements; the mutations' payloads and userErrors; who may do what; node(id)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import col

from predictql.auth import Actor
from predictql.db import Database, utcnow
from predictql.models import Comment
from predictql.services import comments, lmsr_trading
from predictql.services.lmsr_trading import TradeRequest
from predictql.settings import Settings
from tests.api.test_lmsr_api import trader
from tests.comments.test_comments_api import event_with_market, make_admin
from tests.graphql.test_round_trips import app_client, count_statements  # noqa: F401  (fixture)
from tests.support import USER_ERRORS, Kind, failure_code, gid, gql, ok_payload, row_id

LIMITS = comments.Limits(2000, 900, 1000)

PAGE = """query($e: ID!, $n: Int!, $order: CommentOrder) { event(id: $e) { comments(first: $n, orderBy: $order) {
  totalCount pageInfo { hasNextPage endCursor }
  nodes { id text status authorName author { id nickname } parent { id }
    authorPositions { token amount avgPrice market { id name } }
    replies(first: 3) { totalCount nodes { id text authorName author { id } parent { id } } } } } } }"""
CREATE = f"""mutation($i: CreateCommentInput!) {{ createComment(input: $i) {{
  comment {{ id text status parent {{ id }} author {{ id }} event {{ id }} }} {USER_ERRORS} }} }}"""
EDIT = f"""mutation($i: EditCommentInput!) {{ editComment(input: $i) {{
  comment {{ id text editedAt }} {USER_ERRORS} }} }}"""
DELETE = f"""mutation($i: DeleteCommentInput!) {{ deleteComment(input: $i) {{
  deletedCommentId comment {{ id status text }} {USER_ERRORS} }} }}"""
HIDE = f"""mutation($i: SetCommentHiddenInput!) {{ setCommentHidden(input: $i) {{
  comment {{ id status text }} {USER_ERRORS} }} }}"""


async def seed(db: Database, settings: Settings, event_id: int, market_id: int, n: int) -> None:
    """``n`` commenters who each hold YES, each with a comment and a reply to the previous one."""
    previous = None
    for i in range(n):
        user, _ = await trader(db, settings, balance=50_000, nickname=f"c{i}-{event_id}")
        async with db.transaction() as session:
            actor = Actor(user_id=user)
            await lmsr_trading.trade(session, actor, TradeRequest(market_id, "buy_yes", "spend", 1_000), fee_bps=200)
            top = await comments.create(
                session, actor, event_id=event_id, body=f"comment {i}", parent_id=None, limits=LIMITS
            )
            if previous is not None:
                await comments.create(
                    session, actor, event_id=event_id, body=f"reply {i}", parent_id=previous, limits=LIMITS
                )
        previous = top.id


async def test_a_page_of_50_comments_costs_what_a_page_of_1_costs(
    app_client: tuple[httpx.AsyncClient, Database],  # noqa: F811
    db: Database,
    settings: Settings,
) -> None:
    http, app_db = app_client
    event_id, market_id = await event_with_market(db)
    await seed(db, settings, event_id, market_id, 50)
    variables = {"e": gid(Kind.EVENT, event_id)}
    with count_statements(app_db) as one:
        small = await gql(http, PAGE, {**variables, "n": 1})
    with count_statements(app_db) as fifty:
        body = await gql(http, PAGE, {**variables, "n": 50})
    assert "errors" not in body and "errors" not in small, body
    page = body["data"]["event"]["comments"]
    assert page["totalCount"] == 50 and len(page["nodes"]) == 50 and not page["pageInfo"]["hasNextPage"]
    newest = page["nodes"][0]
    name = f"c49-{event_id}"
    assert (newest["text"], newest["authorName"], newest["author"]["nickname"]) == ("comment 49", name, name)
    (held,) = newest["authorPositions"]
    assert (held["token"], held["market"]["id"]) == ("YES", gid(Kind.MARKET, market_id)) and held["amount"] > 0
    assert page["nodes"][1]["replies"]["totalCount"] == 1
    assert page["nodes"][1]["replies"]["nodes"][0]["text"] == "reply 49"
    assert page["nodes"][1]["replies"]["nodes"][0]["parent"]["id"] == page["nodes"][1]["id"]
    assert len(fifty) == len(one), (len(one), len(fifty), fifty)

    oldest = await gql(http, PAGE, {**variables, "n": 2, "order": "OLDEST"})
    assert [c["text"] for c in oldest["data"]["event"]["comments"]["nodes"]] == ["comment 0", "comment 1"]


async def test_mutations_and_who_may_do_what(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    event_id, _ = await event_with_market(db)
    alice, alice_token = await trader(db, settings)
    _, bob_token = await trader(db, settings)
    admin, admin_token = await trader(db, settings)
    await make_admin(db, admin)
    evt = gid(Kind.EVENT, event_id)

    top = ok_payload(await gql(client, CREATE, {"i": {"eventId": evt, "text": "first!"}}, alice_token))["comment"]
    assert top == {
        **top,
        "text": "first!",
        "status": "VISIBLE",
        "parent": None,
        "author": {"id": gid(Kind.USER, alice)},
        "event": {"id": evt},
    }
    answer = {"eventId": evt, "text": "hi", "parentId": top["id"]}
    reply = ok_payload(await gql(client, CREATE, {"i": answer}, bob_token))
    assert reply["comment"]["parent"] == {"id": top["id"]}

    nested = {"eventId": evt, "text": "x", "parentId": reply["comment"]["id"]}
    deeper = await gql(client, CREATE, {"i": nested}, alice_token)
    assert failure_code(deeper) == "INVALID_REQUEST"
    assert deeper["data"]["createComment"]["userErrors"][0]["field"] == ["input", "parentId"]
    wrong_kind = await gql(client, CREATE, {"i": {"eventId": evt, "text": "x", "parentId": evt}}, alice_token)
    assert failure_code(wrong_kind) == "INVALID_ID"
    empty = await gql(client, CREATE, {"i": {"eventId": evt, "text": " "}}, alice_token)
    assert failure_code(empty) == "INVALID_REQUEST"
    assert empty["data"]["createComment"]["userErrors"][0]["field"] == ["input", "text"]
    assert failure_code(await gql(client, CREATE, {"i": {"eventId": evt, "text": "anon"}})) == "UNAUTHORIZED"

    edited = ok_payload(await gql(client, EDIT, {"i": {"id": top["id"], "text": "first, edited"}}, alice_token))
    assert edited["comment"]["text"] == "first, edited" and edited["comment"]["editedAt"]
    assert failure_code(await gql(client, EDIT, {"i": {"id": top["id"], "text": "mine"}}, bob_token)) == "FORBIDDEN"
    assert failure_code(await gql(client, DELETE, {"i": {"id": top["id"]}}, bob_token)) == "FORBIDDEN"
    async with db.transaction() as session:
        past = utcnow() - timedelta(hours=1)
        await session.execute(update(Comment).where(col(Comment.id) == row_id(top["id"])).values(created_at=past))
    late = await gql(client, EDIT, {"i": {"id": top["id"], "text": "too late"}}, alice_token)
    assert failure_code(late) == "EDIT_WINDOW_CLOSED"

    hide = {"id": reply["comment"]["id"], "hidden": True}
    assert failure_code(await gql(client, HIDE, {"i": hide}, alice_token)) == "FORBIDDEN"
    hidden = ok_payload(await gql(client, HIDE, {"i": hide}, admin_token))
    assert hidden["comment"] == {"id": reply["comment"]["id"], "status": "HIDDEN", "text": None}

    deleted = ok_payload(await gql(client, DELETE, {"i": {"id": top["id"]}}, alice_token))
    assert deleted["deletedCommentId"] == top["id"] and deleted["comment"]["status"] == "DELETED"
    again = await gql(client, DELETE, {"i": {"id": top["id"]}}, alice_token)
    assert failure_code(again) == "NOT_FOUND"

    node: Any = await gql(
        client,
        """query($id: ID!) { node(id: $id) { ... on Comment { id status text
      replies { nodes { id status text } } } } }""",
        {"id": top["id"]},
    )
    assert node["data"]["node"] == {
        "id": top["id"],
        "status": "DELETED",
        "text": None,
        "replies": {"nodes": [{"id": reply["comment"]["id"], "status": "HIDDEN", "text": None}]},
    }


FEED = """query($n: Int!, $order: CommentOrder!) { events(first: $n) { edges { node { id
  comments(first: 2, orderBy: $order) { totalCount nodes { text authorName } } } } } }"""


async def test_comments_of_many_events_cost_what_one_events_cost(
    app_client: tuple[httpx.AsyncClient, Database],  # noqa: F811
    db: Database,
    settings: Settings,
) -> None:
    http, app_db = app_client
    for _ in range(5):
        event_id, market_id = await event_with_market(db)
        await seed(db, settings, event_id, market_id, 3)
    for order in ("NEWEST", "OLDEST"):
        with count_statements(app_db) as one:
            small = await gql(http, FEED, {"n": 1, "order": order})
        with count_statements(app_db) as five:
            body = await gql(http, FEED, {"n": 5, "order": order})
        assert "errors" not in small and "errors" not in body, body
        events = [edge["node"] for edge in body["data"]["events"]["edges"]]
        assert len(events) == 5 and all(e["comments"]["totalCount"] == 3 for e in events)
        expected = ["comment 2", "comment 1"] if order == "NEWEST" else ["comment 0", "comment 1"]
        assert all([c["text"] for c in e["comments"]["nodes"]] == expected for e in events), events
        assert len(five) == len(one), (order, len(one), len(five))


async def test_oldest_first_pages_both_ways(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    event_id, market_id = await event_with_market(db)
    await seed(db, settings, event_id, market_id, 5)
    query = """query($e: ID!, $first: Int, $after: String, $last: Int, $before: String) { event(id: $e) {
      comments(orderBy: OLDEST, first: $first, after: $after, last: $last, before: $before) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { text } } } }"""
    evt = gid(Kind.EVENT, event_id)

    async def page(**variables: Any) -> Any:
        body = await gql(client, query, {"e": evt, **variables})
        assert "errors" not in body, body
        return body["data"]["event"]["comments"]

    first = await page(first=2)
    assert [c["text"] for c in first["nodes"]] == ["comment 0", "comment 1"] and first["pageInfo"]["hasNextPage"]
    second = await page(first=2, after=first["pageInfo"]["endCursor"])
    assert [c["text"] for c in second["nodes"]] == ["comment 2", "comment 3"]
    assert second["pageInfo"]["hasPreviousPage"] and second["pageInfo"]["hasNextPage"]
    back = await page(last=2, before=second["pageInfo"]["startCursor"])
    assert [c["text"] for c in back["nodes"]] == ["comment 0", "comment 1"] and not back["pageInfo"]["hasPreviousPage"]
    tail = await page(last=1)
    assert [c["text"] for c in tail["nodes"]] == ["comment 4"]
