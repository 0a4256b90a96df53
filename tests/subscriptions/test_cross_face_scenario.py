"""One scenario (LMSR trades, order-book fills, closing positions, closing a pool, cancelling the
event), driven once entirely through REST and once entirely through GraphQL, and watched through
the ``marketUpdated`` subscriptions. After every step the REST reads, the GraphQL reads and the
latest stream message must report the same numbers, and the two runs the same transcript: both
faces call the same services, so nothing may tell them apart.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from predictql.db import Database, utcnow
from predictql.jsonutil import rfc3339
from predictql.services import ledger_check
from tests.api.test_users import fast_user
from tests.subscriptions.conftest import Live
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, bearer, gid, gql, row_id

API = "/api/v1"
MARKET_UPDATED = """subscription($m: ID!) { marketUpdated(marketId: $m) { kind seq data {
  yesProbability yesPrice noPrice volume resolved } } }"""
MARKET = "query($id: ID!) { market(id: $id) { yesProbability yesPrice noPrice volume resolved winningOutcome } }"
ME = """query { me { balance bonusBalance }
  myPositions(status: OPEN, first: 100) { nodes { market { id } tokenType amount avgPrice unrealizedPnl } } }"""
POOLS = (("lmsr", 0.55), ("orderbook", 0.5))


class Face:
    """The scenario's writes through one face (``rest`` or ``graphql``); both reads are elsewhere."""

    def __init__(self, live: Live, kind: str) -> None:
        self.http, self.kind = live.http, kind

    async def rest(self, token: str, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, API + path, json=body, headers=bearer(token))
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def graphql(self, token: str, query: str, variables: dict[str, Any]) -> Any:
        body = await gql(self.http, query, variables, token)
        assert "errors" not in body, body["errors"]
        for payload in body["data"].values():
            assert payload["userErrors"] == [], payload
        return body["data"]

    async def create_event(self, token: str) -> tuple[int, list[int], list[int]]:
        """An active event with an LMSR pool and an order-book pool: (event, pool ids, market ids)."""
        finish, live = rfc3339(utcnow() + timedelta(days=2)), rfc3339(utcnow() - timedelta(minutes=5))
        if self.kind == "rest":
            pools = [
                {
                    "name": kind,
                    "finish_at": finish,
                    "live_at": live,
                    "metadata": {"market_names": ["Yes"], "market_probabilities": [p], "market_type": kind},
                }
                for kind, p in POOLS
            ]
            event = await self.rest(token, "POST", "/events/create-full", {"name": "Scenario", "pools": pools})
            await self.rest(token, "POST", f"/events/{event['id']}/active", {"is_active": True})
        else:
            pools = [
                {
                    "name": kind,
                    "finishAt": finish,
                    "liveAt": live,
                    "marketNames": ["Yes"],
                    "marketPrices": [round(p * 10000)],
                    "marketType": kind.upper(),
                }
                for kind, p in POOLS
            ]
            event = (
                await self.graphql(
                    token,
                    "mutation($i: CreateEventFullInput!) { createEventFull(input: $i) "
                    "{ event { id pools { id markets { id } } } userErrors { code } } }",
                    {"i": {"name": "Scenario", "pools": pools}},
                )
            )["createEventFull"]["event"]
            await self.graphql(
                token,
                "mutation($id: ID!) { setEventActive(input: {id: $id, isActive: true}) { userErrors { code } } }",
                {"id": event["id"]},
            )

        def number(value: int | str) -> int:  # REST: the integer; GraphQL: the row id inside the global id
            return value if isinstance(value, int) else row_id(value)

        pool_ids = [number(pool["id"]) for pool in event["pools"]]
        return number(event["id"]), pool_ids, [number(pool["markets"][0]["id"]) for pool in event["pools"]]

    async def lmsr(self, token: str, market_id: int, side: str, amount: int) -> None:
        fields = {"market_id": market_id, "side": side, "amount_type": "spend", "amount": amount}
        if self.kind == "rest":
            await self.rest(token, "POST", "/lmsr/trade", fields)
            return
        gql_fields = {
            "marketId": gid(Kind.MARKET, market_id),
            "side": side.upper(),
            "amountType": "SPEND",
            "amount": amount,
        }
        await self.graphql(
            token, "mutation($i: LmsrTradeInput!) { lmsrTrade(input: $i) { userErrors { code } } }", {"i": gql_fields}
        )

    async def order(self, token: str, market_id: int, token_type: str, budget: int, price: int) -> None:
        if self.kind == "rest":
            body = {
                "market_id": market_id,
                "type": "buy",
                "kind": "limit",
                "token_type": token_type,
                "amount": budget,
                "price": price,
            }
            await self.rest(token, "POST", "/market/orders", body)
            return
        fields = {
            "marketId": gid(Kind.MARKET, market_id),
            "side": "BUY",
            "tokenType": token_type,
            "amount": budget,
            "price": price,
        }
        await self.graphql(
            token, "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { code } } }", {"i": fields}
        )

    async def close_position(self, token: str, market_id: int) -> None:
        if self.kind == "rest":
            await self.rest(token, "POST", f"/market/positions/{market_id}/close")
            return
        close = "mutation($m: ID!) { closePosition(input: {marketId: $m}) { userErrors { code } } }"
        await self.graphql(token, close, {"m": gid(Kind.MARKET, market_id)})

    async def close_pool(self, token: str, event_id: int, pool_id: int, won_side: str) -> None:
        if self.kind == "rest":
            await self.rest(token, "POST", f"/events/{event_id}/pools/{pool_id}/close", {"won_side": won_side})
            return
        close = (
            f"mutation($e: ID!, $p: ID!) {{ closePool(input: {{eventId: $e, poolId: $p, wonSide: {won_side}}}) "
            "{ userErrors { code } } }"
        )
        await self.graphql(token, close, {"e": gid(Kind.EVENT, event_id), "p": gid(Kind.POOL, pool_id)})

    async def cancel(self, token: str, event_id: int) -> None:
        if self.kind == "rest":
            await self.rest(token, "POST", f"/events/{event_id}/cancel")
            return
        cancel = "mutation($id: ID!) { cancelEvent(input: {id: $id}) { userErrors { code } } }"
        await self.graphql(token, cancel, {"id": gid(Kind.EVENT, event_id)})


class Watch:
    """The latest ``marketUpdated`` message of each market, read up to the state the reads show."""

    def __init__(self, ws: GraphQLSocket) -> None:
        self.ws, self.ops, self.latest = ws, {}, {}

    async def follow(self, market_id: int) -> None:
        self.ops[market_id] = await self.ws.subscribe(MARKET_UPDATED, {"m": gid(Kind.MARKET, market_id)})
        self.latest[market_id] = await self._next(market_id)

    async def _next(self, market_id: int) -> dict[str, Any]:
        payload = await self.ws.next(self.ops[market_id])
        while payload["data"] and payload["data"]["marketUpdated"]["kind"] == "HEARTBEAT":  # a slow step
            payload = await self.ws.next(self.ops[market_id])
        assert "errors" not in payload, payload
        while payload["data"]["marketUpdated"]["kind"] == "HEARTBEAT":  # a slow (loaded) run sees the beat
            payload = await self.ws.next(self.ops[market_id])
        data: dict[str, Any] = payload["data"]["marketUpdated"]["data"]
        return {k: int(v) if k == "volume" else v for k, v in data.items()}

    async def reach(self, market_id: int, state: dict[str, Any]) -> None:
        """Read messages until one shows ``state``; a stream that never does times out the test."""
        while self.latest[market_id] != state:
            self.latest[market_id] = await self._next(market_id)


async def market_views(live: Live, market_id: int) -> dict[str, Any]:
    """The market as REST and GraphQL show it; they must agree."""
    rest = (await live.http.get(f"{API}/markets/{market_id}")).json()
    graph = (await gql(live.http, MARKET, {"id": gid(Kind.MARKET, market_id)}))["data"]["market"]
    assert rest["yes_probability"] == graph["yesProbability"], (rest, graph)
    assert (rest["volume"], rest["resolved"], rest["winning_outcome"]) == (
        int(graph["volume"]),
        graph["resolved"],
        graph["winningOutcome"],
    )
    assert graph["yesPrice"] + graph["noPrice"] == 10_000
    return {
        "yesProbability": graph["yesProbability"],
        "yesPrice": graph["yesPrice"],
        "noPrice": graph["noPrice"],
        "volume": int(graph["volume"]),
        "resolved": graph["resolved"],
    }


async def user_views(live: Live, token: str, names: dict[int, str]) -> dict[str, Any]:
    """A user's balances and open positions as REST and GraphQL show them; they must agree."""
    me = (await live.http.get(f"{API}/auth/me", headers=bearer(token))).json()["user"]
    rest_positions = (await live.http.get(f"{API}/market/positions/my", headers=bearer(token))).json()
    graph = (await gql(live.http, ME, token=token))["data"]
    assert (me["balance"], me["bonus_balance"]) == (int(graph["me"]["balance"]), int(graph["me"]["bonusBalance"]))
    rest = sorted(
        (names[p["market_id"]], p["token_type"], p["amount"], p["avg_price"], p["unrealized_pnl"])
        for p in rest_positions
    )
    ours = sorted(
        (names[row_id(p["market"]["id"])], p["tokenType"], int(p["amount"]), p["avgPrice"], int(p["unrealizedPnl"]))
        for p in graph["myPositions"]["nodes"]
    )
    assert rest == ours, (rest, ours)
    return {"balance": me["balance"], "positions": rest}


async def run(live: Live, db: Database, kind: str) -> list[Any]:
    """The scenario through one face; its transcript (numbers only, no ids)."""
    face = Face(live, kind)
    _, creator = await fast_user(db, is_creator=True)
    tokens = {name: (await fast_user(db, balance=100_000))[1] for name in ("alice", "bob", "carol")}
    event_id, (lmsr_pool, _), (amm, book) = await face.create_event(creator)
    names = {amm: "lmsr", book: "book"}
    transcript: list[Any] = []
    async with GraphQLSocket(live.app) as ws:
        watch = Watch(ws)
        for market_id in (amm, book):
            await watch.follow(market_id)

        async def step(label: str) -> None:
            markets = {}
            for market_id, name in names.items():
                markets[name] = await market_views(live, market_id)
                await watch.reach(market_id, markets[name])
            users = {name: await user_views(live, token, names) for name, token in tokens.items()}
            transcript.append((label, markets, users))

        await step("start")
        await face.lmsr(tokens["alice"], amm, "buy_yes", 5000)
        await step("alice buys YES from the market maker")
        await face.lmsr(tokens["bob"], amm, "buy_no", 3000)
        await step("bob buys NO from the market maker")
        await face.order(tokens["alice"], book, "YES", 6120, 6000)
        await step("alice bids for YES at 6000")
        await face.order(tokens["bob"], book, "NO", 4080, 4000)
        await step("bob's NO at 4000 mints 10_000 pairs with alice's bid")
        await face.order(tokens["carol"], book, "YES", 3315, 6500)
        await step("carol bids for YES at 6500")
        await face.close_position(tokens["alice"], book)
        await step("alice closes on the book: 5000 units into carol's bid, the rest stays")
        await face.close_position(tokens["bob"], amm)
        await step("bob closes with the market maker")
        await face.close_pool(creator, event_id, lmsr_pool, "YES")
        await step("the LMSR pool resolves YES")
        await face.cancel(creator, event_id)
        await step("the event is cancelled: the book's holders are refunded")
    async with db.session() as session:
        report = await ledger_check.check(session)
    assert report.ok, report.lines()
    return transcript


@pytest.mark.timeout(120)
async def test_rest_graphql_and_subscriptions_report_the_same_numbers(live: Live, db: Database) -> None:
    through_rest = await run(live, db, "rest")
    through_graphql = await run(live, db, "graphql")
    for rest_step, graphql_step in zip(through_rest, through_graphql, strict=True):
        assert rest_step == graphql_step
    _, markets, users = through_rest[-1]
    assert markets["lmsr"]["yesPrice"] == 10_000 and markets["book"]["yesPrice"] == 6500  # payoff; last fill
    assert all(not user["positions"] for user in users.values())
    fills = {step[0]: step[1]["book"] for step in through_rest}
    assert fills["bob's NO at 4000 mints 10_000 pairs with alice's bid"]["yesPrice"] == 6000
