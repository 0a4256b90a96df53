"""myTrades (both directions), portfolioHistory and leaderboard through GraphQL, on the real stores."""

from __future__ import annotations

from typing import Any

import httpx

from predictql.db import Database
from predictql.schema.ids import Kind, encode
from predictql.settings import Settings
from tests.api.test_lmsr_api import live_market, ok, trade, trader, trades_of
from tests.history.ids import gid
from tests.support import gql

PAGE = """query($first: Int, $after: String, $last: Int, $before: String, $m: ID) {
  myTrades(first: $first, after: $after, last: $last, before: $before, marketId: $m) {
    totalCount nodes { id side tokenType amount market { name } }
    edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


def data(body: dict[str, Any]) -> Any:
    assert "errors" not in body, body["errors"]
    return body["data"]


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def test_my_trades_page_both_ways(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    other = await live_market(db)
    user, token = await trader(db, settings, balance=100_000)
    for amount in (100, 200, 300, 400, 500):
        ok(await trade(client, token, market.id or 0, "buy_yes", amount))
    ok(await trade(client, token, other.id or 0, "buy_no", 50))
    _, stranger = await trader(db, settings, balance=10_000)
    ok(await trade(client, stranger, market.id or 0, "buy_yes", 70))
    ids = [encode(Kind.TRADE, row.id or 0) for row in await trades_of(db, user)][::-1]  # newest first

    first = data(await gql(client, PAGE, {"first": 2}, token))["myTrades"]
    assert [n["id"] for n in first["nodes"]] == ids[:2] and first["totalCount"] == 6
    assert first["pageInfo"]["hasNextPage"] and not first["pageInfo"]["hasPreviousPage"]
    assert first["nodes"][0]["tokenType"] == "NO" and first["nodes"][1]["market"]["name"] == "Outcome 0"
    second = data(await gql(client, PAGE, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token))["myTrades"]
    assert [n["id"] for n in second["nodes"]] == ids[2:4] and second["pageInfo"]["hasPreviousPage"]
    rest = data(await gql(client, PAGE, {"first": 10, "after": second["pageInfo"]["endCursor"]}, token))["myTrades"]
    assert [n["id"] for n in rest["nodes"]] == ids[4:] and not rest["pageInfo"]["hasNextPage"]

    back = data(await gql(client, PAGE, {"last": 2, "before": second["pageInfo"]["startCursor"]}, token))["myTrades"]
    assert [n["id"] for n in back["nodes"]] == ids[:2]
    assert back["pageInfo"]["hasNextPage"] and not back["pageInfo"]["hasPreviousPage"]
    lone = data(await gql(client, PAGE, {"before": rest["pageInfo"]["startCursor"]}, token))["myTrades"]
    assert [n["id"] for n in lone["nodes"]] == ids[:4]  # a lone `before` pages to the newer trades
    newest = data(await gql(client, PAGE, {"last": 3}, token))["myTrades"]
    assert [n["id"] for n in newest["nodes"]] == ids[3:] and newest["pageInfo"]["hasPreviousPage"]

    only = data(await gql(client, PAGE, {"m": encode(Kind.MARKET, other.id or 0)}, token))["myTrades"]
    assert [n["id"] for n in only["nodes"]] == ids[:1] and only["totalCount"] == 1


async def test_my_trades_bounds(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    _, token = await trader(db, settings, balance=100)
    assert code(await gql(client, PAGE, {"first": 101}, token)) == "INVALID_PAGINATION"
    assert code(await gql(client, PAGE, {"first": 1, "last": 1}, token)) == "INVALID_PAGINATION"
    assert code(await gql(client, PAGE, {"after": "junk"}, token)) == "INVALID_REQUEST"
    assert code(await gql(client, PAGE, {"m": "evt_1"}, token)) == "INVALID_ID"
    assert code(await gql(client, PAGE, {})) == "UNAUTHORIZED"
    empty = data(await gql(client, PAGE, {}, token))["myTrades"]
    assert empty == {
        "totalCount": 0,
        "nodes": [],
        "edges": [],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None},
    }


PORTFOLIO = "query($p: Period!) { portfolioHistory(period: $p) { timestamp cash positions value } }"


async def test_portfolio_history_values_cash_and_positions(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    market = await live_market(db)
    _, token = await trader(db, settings, balance=100_000)
    before = data(await gql(client, PORTFOLIO, {"p": "DAY"}, token))["portfolioHistory"]
    assert len(before) in (24, 25) and before[-1] == {**before[-1], "cash": 100_000, "positions": 0, "value": 100_000}
    bought = ok(await trade(client, token, market.id or 0, "buy_yes", 10_000))
    points = data(await gql(client, PORTFOLIO, {"p": "DAY"}, token))["portfolioHistory"]
    now = points[-1]
    assert now["cash"] == 100_000 - bought["cost_or_payout_cents"]
    price = (await client.get(f"/api/v1/markets/{market.id}")).json()
    units = bought["shares_delta"]
    assert now["positions"] == units * round(price["yes_probability"] * 10_000) // 10_000
    assert now["value"] == now["cash"] + now["positions"]
    assert points[0]["value"] == 0  # a day ago the user did not exist yet
    week = data(await gql(client, PORTFOLIO, {"p": "WEEK"}, token))["portfolioHistory"]
    assert 28 <= len(week) <= 29 and week[-1]["value"] == now["value"]
    assert code(await gql(client, PORTFOLIO, {"p": "DAY"})) == "UNAUTHORIZED"


BOARD = """query($by: LeaderboardOrder!, $period: Period!, $first: Int!) {
  leaderboard(by: $by, period: $period, first: $first) { rank userId user { id nickname } name value count } }"""


async def test_leaderboard_by_volume_and_pnl(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    big, big_token = await trader(db, settings, balance=100_000, nickname="whale")
    small, small_token = await trader(db, settings, balance=100_000, nickname="minnow")
    _, hidden_token = await trader(db, settings, balance=100_000, nickname="ghost", hidden=True)
    ok(await trade(client, big_token, market.id or 0, "buy_yes", 5_000))
    ok(await trade(client, small_token, market.id or 0, "buy_yes", 1_000))
    ok(await trade(client, hidden_token, market.id or 0, "buy_yes", 9_000))
    board = data(await gql(client, BOARD, {"by": "VOLUME", "period": "DAY", "first": 10}))["leaderboard"]
    assert [(e["rank"], e["name"], e["count"]) for e in board] == [(1, "whale", 1), (2, "minnow", 1)]
    assert board[0]["userId"] == encode(Kind.USER, big) and board[0]["value"] > board[1]["value"] > 0
    assert [e["user"] for e in board] == [  # a link to the user, not only their id
        {"id": encode(Kind.USER, big), "nickname": "whale"},
        {"id": encode(Kind.USER, small), "nickname": "minnow"},
    ]
    assert len(data(await gql(client, BOARD, {"by": "VOLUME", "period": "ALL", "first": 1}))["leaderboard"]) == 1

    # Selling everything closes the position: its realized PnL ranks the PNL board.
    held = (await trades_of(db, small))[0].shares
    ok(await trade(client, small_token, market.id or 0, "sell_yes", held, "shares"))
    pnl = data(await gql(client, BOARD, {"by": "PNL", "period": "WEEK", "first": 10}))["leaderboard"]
    assert [(e["name"], e["count"]) for e in pnl] == [("minnow", 1)] and pnl[0]["value"] < 0  # fees
    assert code(await gql(client, BOARD, {"by": "PNL", "period": "WEEK", "first": 0})) == "INVALID_PAGINATION"
    bad = await gql(client, BOARD, {"by": "LUCK", "period": "WEEK", "first": 1})
    assert code(bad) in {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}


STATS = "query($id: ID!) { user(id: $id) { totalPredictions biggestWin } }"


async def test_profile_statistics_match_rest(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    user, token = await trader(db, settings, balance=100_000)
    hidden, hidden_token = await trader(db, settings, balance=100_000, hidden=True)
    stats = data(await gql(client, STATS, {"id": gid(Kind.USER, user)}))["user"]
    assert stats == {"totalPredictions": 0, "biggestWin": 0}
    for token_ in (token, hidden_token):
        ok(await trade(client, token_, market.id or 0, "buy_yes", 1_000))
        ok(await trade(client, token_, market.id or 0, "buy_no", 1_000))
    rest = (await client.get(f"/api/v1/users/{user}")).json()
    stats = data(await gql(client, STATS, {"id": gid(Kind.USER, user)}))["user"]
    assert (
        stats == {"totalPredictions": rest["total_predictions"], "biggestWin": rest["biggest_win"]}
        and stats["totalPredictions"] == 2
    )
    assert data(await gql(client, STATS, {"id": gid(Kind.USER, hidden)}))["user"] == {
        "totalPredictions": None,
        "biggestWin": None,
    }
    mine = data(await gql(client, STATS, {"id": gid(Kind.USER, hidden)}, hidden_token))["user"]
    assert mine == {"totalPredictions": 2, "biggestWin": 0}
