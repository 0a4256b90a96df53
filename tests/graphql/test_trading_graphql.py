"""GraphQL twins of the LMSR, positions, trades-feed, referral and PnL routes: same numbers, same codes."""

from __future__ import annotations

from typing import Any

import httpx

from predictql.db import Database
from predictql.settings import Settings
from tests.api.test_lmsr_api import balances, live_market, ok, preview, set_market, trade, trader, trades_of
from tests.support import Kind, bearer, gid, gql, row_id

PREVIEW = """query($m: ID!, $side: LmsrSide!, $type: AmountType!, $amount: Long!) {
  lmsrPreview(marketId: $m, side: $side, amountType: $type, amount: $amount) { costOrPayoutCents sharesDelta fee } }"""
TRADE = """mutation($input: LmsrTradeInput!) {
  lmsrTrade(input: $input) { tradeId marketId costOrPayoutCents sharesDelta fee newPositionYes newPositionNo } }"""
CLOSE = "mutation($m: ID!) { closePosition(marketId: $m) { marketId proceeds trades { sharesDelta } } }"
POSITIONS = "{ myPositions { id tokenType sideRu amount avgPrice unrealizedPnl marketName eventName poolName } }"
COMPLETED = """query($after: String) { myCompletedPositions(first: 1, after: $after) {
  edges { cursor node { id tokenType pnl wonSide amount } } pageInfo { hasNextPage endCursor } } }"""


def data(body: dict[str, Any]) -> Any:
    assert "errors" not in body, body["errors"]
    return body["data"]


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


def trade_input(market_id: int, side: str, amount: int, amount_type: str = "spend", **extra: Any) -> dict[str, Any]:
    """REST's lower-case side and amount type, as the GraphQL enums (BUY_YES, SPEND)."""
    fields = {"side": side.upper(), "amountType": amount_type.upper(), "amount": amount, **extra}
    return {"input": {"marketId": gid(Kind.MARKET, market_id), **fields}}


async def test_preview_and_trade_match_rest(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    user, token = await trader(db, settings, balance=50_000, bonus=100)
    variables = {"m": gid(Kind.MARKET, mid), "side": "BUY_YES", "type": "SPEND", "amount": 1500}
    quoted = data(await gql(client, PREVIEW, variables))["lmsrPreview"]
    assert quoted == {
        "costOrPayoutCents": ok(await preview(client, mid, "buy_yes", 1500))["cost_or_payout_cents"],
        "sharesDelta": ok(await preview(client, mid, "buy_yes", 1500))["shares_delta"],
        "fee": quoted["fee"],
    }
    done = data(await gql(client, TRADE, trade_input(mid, "buy_yes", 1500, useBonus=True), token))["lmsrTrade"]
    (row,) = await trades_of(db, user)
    assert done == {
        "tradeId": gid(Kind.TRADE, row.id or 0), "marketId": gid(Kind.MARKET, mid),
        "costOrPayoutCents": quoted["costOrPayoutCents"],
        "sharesDelta": quoted["sharesDelta"], "fee": row.fee, "newPositionYes": quoted["sharesDelta"],
        "newPositionNo": 0,
    }
    assert (await balances(db, user)).bonus == 0  # useBonus spent the bonus first

    sold = data(await gql(client, TRADE, trade_input(mid, "sell_yes", 100, "shares"), token))["lmsrTrade"]
    assert sold["sharesDelta"] == -100 and sold["newPositionYes"] == quoted["sharesDelta"] - 100


async def test_errors_carry_the_rest_codes(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    _, token = await trader(db, settings, balance=500)
    assert code(await gql(client, TRADE, trade_input(mid, "buy_yes", 100))) == "UNAUTHORIZED"
    too_much = trade_input(mid, "buy_yes", 10_000, "shares")
    assert code(await gql(client, TRADE, too_much, token)) == "INSUFFICIENT_BALANCE"
    # a side outside the enum is refused before any resolver runs
    assert code(await gql(client, TRADE, trade_input(mid, "yes_please", 100), token)) == "BAD_USER_INPUT"
    assert code(await gql(client, TRADE, trade_input(mid, "buy_yes", 0), token)) == "INVALID_AMOUNT"
    assert code(await gql(client, TRADE, trade_input(mid + 999, "buy_yes", 100), token)) == "MARKET_NOT_FOUND"
    wrong_kind = {"input": {**trade_input(mid, "buy_yes", 100)["input"], "marketId": gid(Kind.EVENT, mid)}}
    assert code(await gql(client, TRADE, wrong_kind, token)) == "INVALID_ID"
    variables = {"m": gid(Kind.MARKET, mid), "side": "BUY_YES", "type": "SPEND", "amount": -1}
    assert code(await gql(client, PREVIEW, variables)) == "INVALID_AMOUNT"
    assert code(await gql(client, CLOSE, {"m": gid(Kind.MARKET, mid)}, token)) == "POSITION_NOT_FOUND"
    data(await gql(client, TRADE, trade_input(mid, "buy_no", 100), token))
    await set_market(db, mid, paused=True)
    assert code(await gql(client, TRADE, trade_input(mid, "buy_no", 100), token)) == "MARKET_PAUSED"
    assert code(await gql(client, CLOSE, {"m": gid(Kind.MARKET, mid)}, token)) == "MARKET_PAUSED"
    assert code(await gql(client, "{ myPositions { id } }")) == "UNAUTHORIZED"
    assert code(await gql(client, "{ myReferralInfo { referralCode } }")) == "UNAUTHORIZED"


async def test_positions_close_and_completed_pages(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    market = await live_market(db)
    mid = market.id or 0
    _, token = await trader(db, settings, balance=100_000)
    ok(await trade(client, token, mid, "buy_yes", 2000, "shares"))
    ok(await trade(client, token, mid, "buy_no", 1000, "shares"))
    listed = ok(await client.get("/api/v1/market/positions/my", headers=bearer(token)))
    rest = {p["id"]: p for p in listed}
    mine = data(await gql(client, POSITIONS, token=token))["myPositions"]
    assert [(p["tokenType"], p["sideRu"], p["amount"]) for p in mine] == [("YES", "ДА", 2000), ("NO", "НЕТ", 1000)]
    assert [p["unrealizedPnl"] for p in mine] == [rest[row_id(p["id"])]["unrealized_pnl"] for p in mine]

    closed = data(await gql(client, CLOSE, {"m": gid(Kind.MARKET, mid)}, token))["closePosition"]
    assert [t["sharesDelta"] for t in closed["trades"]] == [-2000, -1000] and closed["proceeds"] > 0
    assert data(await gql(client, POSITIONS, token=token))["myPositions"] == []

    first = data(await gql(client, COMPLETED, {"after": None}, token))["myCompletedPositions"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["endCursor"] == first["edges"][0]["cursor"]
    after = first["pageInfo"]["endCursor"]
    second = data(await gql(client, COMPLETED, {"after": after}, token))["myCompletedPositions"]
    assert second["pageInfo"]["hasNextPage"] is False and second["pageInfo"]["endCursor"] is None
    nodes = [first["edges"][0]["node"], second["edges"][0]["node"]]
    assert {n["tokenType"] for n in nodes} == {"YES", "NO"} and all(n["wonSide"] is None for n in nodes)


async def test_feed_referrals_and_pnl_chart(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    parent, parent_token = await trader(db, settings, nickname="parent")
    child, child_token = await trader(db, settings, balance=100_000, referrer_id=parent, nickname="kid")
    ok(await trade(client, child_token, mid, "buy_yes", 5000))
    ok(await client.post(f"/api/v1/market/positions/{mid}/close", headers=bearer(child_token)))

    feed = data(await gql(client, "{ latestTrades { amount name token event market avatar } }"))["latestTrades"]
    rest_feed = ok(await client.get("/api/v1/market/trades/latest"))
    assert feed == rest_feed and [t["name"] for t in feed] == ["kid", "kid"]

    query = """{ myReferralInfo { referralCode referrer { name } totalEarnings totalReferrals totalVolume
      levels { level count totalVolume earnings fee } } }"""
    info = data(await gql(client, query, token=parent_token))["myReferralInfo"]
    rest_info = ok(await client.get("/api/v1/users/me/referral/info", headers=bearer(parent_token)))
    assert info["totalEarnings"] == rest_info["total_earnings"] > 0 and info["referrer"] is None
    assert info["levels"][0] == {
        "level": 1, "count": 1, "totalVolume": rest_info["total_volume"], "earnings": info["totalEarnings"], "fee": 0.15
    }
    children = data(await gql(client, "{ myReferralChildren { id username level totalBets } }", token=parent_token))
    kid = {"id": gid(Kind.USER, child), "username": "kid", "level": 1, "totalBets": 1}
    assert children["myReferralChildren"] == [kid]

    chart = data(await gql(client, "{ myPnlChart { timestamp pnl pnlKopecks } }", token=child_token))["myPnlChart"]
    rest_chart = ok(await client.get(f"/api/v1/users/{child}/pnl/chart"))["points"]
    assert [(p["timestamp"][:10], p["pnl"]) for p in chart] == [(p["timestamp"][:10], p["pnl"]) for p in rest_chart]
    assert chart[-1]["pnlKopecks"] < 0  # bought and sold straight back: the fees are lost
    public = data(await gql(client, "query($u: ID!) { pnlChart(userId: $u) { pnl } }", {"u": gid(Kind.USER, child)}))
    assert len(public["pnlChart"]) == len(chart)
