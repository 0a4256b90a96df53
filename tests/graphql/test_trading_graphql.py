"""GraphQL twins of the LMSR, positions, trades-feed, referral and PnL routes: same numbers, same codes."""

from __future__ import annotations

from typing import Any

import httpx

from predictql import auth
from predictql.db import Database
from predictql.models import Market as MarketRow
from predictql.settings import Settings
from tests.api.test_lmsr_api import balances, live_market, ok, preview, set_market, trade, trader, trades_of
from tests.support import Kind, bearer, failure_code, gid, gql, ok_payload, row_id

PREVIEW = """query($m: ID!, $side: LmsrSide!, $type: AmountType!, $amount: Long!) {
  lmsrPreview(marketId: $m, side: $side, amountType: $type, amount: $amount) { costOrPayoutCents sharesDelta fee } }"""
TRADE = """mutation($input: LmsrTradeInput!) { lmsrTrade(input: $input) {
  trade { id source side tokenType shares price amount fee market { id } trader { id } }
  costOrPayoutCents sharesDelta
  market { id yesPrice noPrice qYes volume } position { id tokenType amount avgPrice }
  balances { cash bonus frozen total } userErrors { field message code } } }"""
CLOSE = """mutation($m: ID!) { closePosition(input: {marketId: $m}) {
  trades { id side tokenType shares } proceeds market { id } positions { id } balances { cash }
  userErrors { field message code } } }"""
POSITIONS = """{ myPositions(status: OPEN) { nodes { id status tokenType sideRu amount avgPrice unrealizedPnl
  market { name pool { name } event { name } } } } }"""
COMPLETED = """query($after: String) { myCompletedPositions(first: 1, after: $after) {
  edges { cursor node { id status tokenType realizedPnl wonSide amount } } pageInfo { hasNextPage endCursor } } }"""


def data(body: dict[str, Any]) -> Any:
    assert "errors" not in body, body["errors"]
    return body["data"]


def code(body: dict[str, Any]) -> str:
    return failure_code(body)


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
    payload = ok_payload(await gql(client, TRADE, trade_input(mid, "buy_yes", 1500, useBonus=True), token))
    done = payload["trade"]
    (row,) = await trades_of(db, user)
    # The one Trade type; what the trade cost sits beside it in the payload.
    assert done == {
        "id": gid(Kind.TRADE, row.id or 0),
        "source": "LMSR",
        "side": "BUY",
        "tokenType": "YES",
        "shares": quoted["sharesDelta"],
        "price": row.price,
        "amount": row.amount,
        "fee": row.fee,
        "market": {"id": gid(Kind.MARKET, mid)},
        "trader": {"id": gid(Kind.USER, user)},
    }
    assert payload["costOrPayoutCents"] == quoted["costOrPayoutCents"]
    assert payload["sharesDelta"] == quoted["sharesDelta"]
    assert row.amount + row.fee == quoted["costOrPayoutCents"]
    money = await balances(db, user)
    assert money.bonus == 0  # useBonus spent the bonus first
    # The payload carries what a normalised cache needs: the market's new prices, the position, the money.
    async with db.session() as session:
        row_now = await session.get(MarketRow, mid)
    assert row_now is not None
    assert payload["market"]["id"] == gid(Kind.MARKET, mid) and payload["market"]["yesPrice"] > 5000
    assert (payload["market"]["qYes"], payload["market"]["volume"]) == (row_now.q_yes, row_now.volume)
    assert payload["position"]["tokenType"] == "YES" and payload["position"]["amount"] == quoted["sharesDelta"]
    assert payload["balances"] == {"cash": money.cash, "bonus": 0, "frozen": 0, "total": money.cash}

    sold = ok_payload(await gql(client, TRADE, trade_input(mid, "sell_yes", 100, "shares"), token))
    assert sold["sharesDelta"] == -100 and (sold["trade"]["side"], sold["trade"]["shares"]) == ("SELL", 100)
    assert sold["position"]["amount"] == quoted["sharesDelta"] - 100
    assert sold["market"]["qYes"] == payload["market"]["qYes"] - 100


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
    assert code(await gql(client, "{ myPositions { nodes { id } } }")) == "UNAUTHORIZED"
    assert code(await gql(client, "{ myReferralInfo { referralCode } }")) == "UNAUTHORIZED"


async def test_positions_close_and_completed_pages(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    _, token = await trader(db, settings, balance=100_000)
    ok(await trade(client, token, mid, "buy_yes", 2000, "shares"))
    ok(await trade(client, token, mid, "buy_no", 1000, "shares"))
    listed = ok(await client.get("/api/v1/market/positions/my", headers=bearer(token)))
    rest = {p["id"]: p for p in listed}
    mine = data(await gql(client, POSITIONS, token=token))["myPositions"]["nodes"]  # newest first
    assert [(p["tokenType"], p["sideRu"], p["amount"]) for p in mine] == [("NO", "НЕТ", 1000), ("YES", "ДА", 2000)]
    assert [p["unrealizedPnl"] for p in mine] == [rest[row_id(p["id"])]["unrealized_pnl"] for p in mine]
    for p in mine:
        names = p["market"]["name"], p["market"]["pool"]["name"], p["market"]["event"]["name"]
        assert names == (
            rest[row_id(p["id"])]["market_name"],
            rest[row_id(p["id"])]["pool_name"],
            rest[row_id(p["id"])]["event_name"],
        )
        assert p["status"] == "OPEN"

    closed_payload = ok_payload(await gql(client, CLOSE, {"m": gid(Kind.MARKET, mid)}, token))
    closed = closed_payload
    sales = [(t["side"], t["tokenType"], t["shares"]) for t in closed["trades"]]
    assert sales == [("SELL", "YES", 2000), ("SELL", "NO", 1000)]
    assert closed["proceeds"] > 0
    assert closed_payload["positions"] == [] and closed_payload["market"] == {"id": gid(Kind.MARKET, mid)}
    assert data(await gql(client, POSITIONS, token=token))["myPositions"]["nodes"] == []

    first = data(await gql(client, COMPLETED, {"after": None}, token))["myCompletedPositions"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["endCursor"] == first["edges"][0]["cursor"]
    after = first["pageInfo"]["endCursor"]
    second = data(await gql(client, COMPLETED, {"after": after}, token))["myCompletedPositions"]
    assert second["pageInfo"]["hasNextPage"] is False
    assert second["pageInfo"]["endCursor"] == second["edges"][0]["cursor"]
    nodes = [first["edges"][0]["node"], second["edges"][0]["node"]]
    assert {n["tokenType"] for n in nodes} == {"YES", "NO"} and all(n["wonSide"] is None for n in nodes)
    assert {n["status"] for n in nodes} == {"CLOSED"}
    closed_all = data(
        await gql(client, "{ me { positions(status: CLOSED) { totalCount nodes { id } } } }", token=token)
    )["me"]["positions"]
    assert closed_all["totalCount"] == 2 and {n["id"] for n in closed_all["nodes"]} == {n["id"] for n in nodes}


async def test_feed_referrals_and_pnl_chart(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    market = await live_market(db)
    mid = market.id or 0
    parent, parent_token = await trader(db, settings, nickname="parent")
    child, child_token = await trader(db, settings, balance=100_000, referrer_id=parent, nickname="kid")
    ok(await trade(client, child_token, mid, "buy_yes", 5000))
    ok(await client.post(f"/api/v1/market/positions/{mid}/close", headers=bearer(child_token)))

    query = "{ latestTrades { amount tokenType trader { nickname avatarUrl } market { name event { name } } } }"
    feed = data(await gql(client, query))["latestTrades"]
    rest_feed = ok(await client.get("/api/v1/market/trades/latest"))
    as_rest = [
        {
            "amount": t["amount"],
            "name": t["trader"]["nickname"],
            "token": t["tokenType"],
            "event": t["market"]["event"]["name"],
            "market": t["market"]["name"],
            "avatar": t["trader"]["avatarUrl"],
        }
        for t in feed
    ]
    assert as_rest == rest_feed and [t["name"] for t in as_rest] == ["kid", "kid"]

    query = """{ myReferralInfo { referralCode referrer { name } totalEarnings totalReferrals totalVolume
      levels { level count totalVolume earnings fee } } }"""
    info = data(await gql(client, query, token=parent_token))["myReferralInfo"]
    rest_info = ok(await client.get("/api/v1/users/me/referral/info", headers=bearer(parent_token)))
    assert info["totalEarnings"] == rest_info["total_earnings"] > 0 and info["referrer"] is None
    assert info["levels"][0] == {
        "level": 1,
        "count": 1,
        "totalVolume": rest_info["total_volume"],
        "earnings": info["totalEarnings"],
        "fee": 0.15,
    }
    query = "{ myReferralChildren { totalCount nodes { user { id nickname } level totalBets } } }"
    children = data(await gql(client, query, token=parent_token))["myReferralChildren"]
    assert children == {
        "totalCount": 1,
        "nodes": [{"user": {"id": gid(Kind.USER, child), "nickname": "kid"}, "level": 1, "totalBets": 1}],
    }

    chart = data(await gql(client, "{ myPnlChart { timestamp pnl pnlKopecks } }", token=child_token))["myPnlChart"]
    rest_chart = ok(await client.get(f"/api/v1/users/{child}/pnl/chart"))["points"]
    assert [(p["timestamp"][:10], p["pnl"]) for p in chart] == [(p["timestamp"][:10], p["pnl"]) for p in rest_chart]
    assert chart[-1]["pnlKopecks"] < 0  # bought and sold straight back: the fees are lost
    public = data(await gql(client, "query($u: ID!) { pnlChart(userId: $u) { pnl } }", {"u": gid(Kind.USER, child)}))
    assert len(public["pnlChart"]) == len(chart)


async def test_a_failed_trade_is_user_errors_and_writes_nothing(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    market = await live_market(db)
    mid = market.id or 0
    user, token = await trader(db, settings, balance=500)
    before = await balances(db, user)
    body = await gql(client, TRADE, trade_input(mid, "buy_yes", 10_000, "shares"), token)
    assert "errors" not in body  # an expected failure is data, not a top-level error
    assert body["data"]["lmsrTrade"] == {
        "trade": None,
        "costOrPayoutCents": None,
        "sharesDelta": None,
        "market": None,
        "position": None,
        "balances": None,
        "userErrors": [
            {
                "field": ["input", "amount"],
                "message": "insufficient balance for this trade",
                "code": "INSUFFICIENT_BALANCE",
            }
        ],
    }
    assert await balances(db, user) == before and await trades_of(db, user) == []
    bad_variables = {"input": {"marketId": "x1", "side": "BUY_YES", "amountType": "SPEND", "amount": 100}}
    bad_id = (await gql(client, TRADE, bad_variables, token))["data"]["lmsrTrade"]
    assert bad_id["userErrors"][0]["field"] == ["input", "marketId"] and bad_id["userErrors"][0]["code"] == "INVALID_ID"
    # a side outside the enum is refused while the variables are coerced, before any resolver runs
    assert code(await gql(client, TRADE, trade_input(mid, "sideways", 100), token)) == "BAD_USER_INPUT"
    # Authentication stays a top-level error: the client cannot fix it by changing the input.
    anonymous = await gql(client, TRADE, trade_input(mid, "buy_yes", 100))
    assert anonymous["data"] is None and anonymous["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"


async def test_an_expired_access_token_is_token_expired_not_unauthorized(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    market = await live_market(db)
    mid = market.id or 0
    user, token = await trader(db, settings, balance=500)
    claims = auth.decode_token(settings.secret_key, token, "access")
    stale = auth.encode_token(
        settings.secret_key, "access", user_id=user, session_id=claims.session_id, ttl=-5, jti="stale"
    )
    expired = await gql(client, TRADE, trade_input(mid, "buy_yes", 100), stale)
    assert expired["data"] is None and expired["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"
    forged = await gql(client, TRADE, trade_input(mid, "buy_yes", 100), stale[:-4] + "AAAA")
    assert forged["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"
    # REST keeps its documented 401 UNAUTHORIZED for the same token.
    rest = await client.get("/api/v1/auth/me", headers=bearer(stale))
    assert rest.status_code == 401 and rest.json()["error"]["code"] == "UNAUTHORIZED"
