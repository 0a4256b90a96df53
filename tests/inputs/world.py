"""A small market world for the fuzz tests, built through the real faces: an admin-creator with
money, an active event with an LMSR pool and an order-book pool, a trade, a resting order, a
notification and an API token. Its ids let fuzzed requests reach the services and the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from predictql.db import Database, utcnow
from predictql.jsonutil import rfc3339
from tests.api.test_users import fast_user
from tests.support import bearer, gql, row_id

CREATE_FULL = """mutation($input: CreateEventFullInput!) { createEventFull(input: $input) {
  event { id pools { id markets { id } } } } }"""


@dataclass(frozen=True)
class World:
    token: str
    user_id: int
    event_id: int
    pool_id: int
    market_id: int
    book_market_id: int
    order_id: int
    notification_id: int
    api_token_id: int

    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    def id_for(self, path: str, name: str) -> int:
        """The valid id a path parameter names, by the route's resource."""
        if name in ("pool_id",):
            return self.pool_id
        if name == "market_id":
            return self.market_id
        if name == "event_id" or path.startswith("/events/"):
            return self.event_id
        if path.startswith("/notifications/"):
            return self.notification_id
        if path.startswith("/market/orders/"):
            return self.order_id
        if path.startswith("/users/me/api-tokens/"):
            return self.api_token_id
        return self.user_id


def _ok(body: dict[str, Any]) -> Any:
    assert not body.get("errors"), body
    return body["data"]


async def build_world(client: httpx.AsyncClient, db: Database) -> World:
    user_id, token = await fast_user(db, balance=10**9, is_creator=True, is_admin=True)
    finish = rfc3339(utcnow() + timedelta(days=1))
    pools = [
        {"name": "Winner", "finishAt": finish, "marketNames": ["A", "B"], "marketPrices": [5000, 5000]},
        {"name": "Book", "finishAt": finish, "marketNames": ["Yes"], "marketPrices": [5000], "marketType": "ORDERBOOK"},
    ]
    created = _ok(await gql(client, CREATE_FULL, {"input": {"name": "Fuzz", "pools": pools}}, token))
    event = created["createEventFull"]["event"]
    await gql(
        client,
        "mutation($id: ID!) { setEventActive(input: {id: $id, isActive: true}) { event { id } } }",
        {"id": event["id"]},
        token,
    )
    market_id = row_id(event["pools"][0]["markets"][0]["id"])
    book_market_id = row_id(event["pools"][1]["markets"][0]["id"])
    headers = bearer(token)
    trade = {"market_id": market_id, "side": "buy_yes", "amount_type": "spend", "amount": 1000}
    assert (await client.post("/api/v1/lmsr/trade", json=trade, headers=headers)).status_code == 200
    order = {
        "market_id": book_market_id,
        "type": "buy",
        "kind": "limit",
        "token_type": "YES",
        "price": 4000,
        "amount": 1000,
    }
    placed = await client.post("/api/v1/market/orders", json=order, headers=headers)
    assert placed.status_code < 300, placed.text
    listed = (await client.get("/api/v1/notifications", headers=headers)).json()
    made = await client.post("/api/v1/users/me/api-tokens", json={"name": "fuzz"}, headers=headers)
    return World(
        token=token,
        user_id=user_id,
        event_id=row_id(event["id"]),
        pool_id=row_id(event["pools"][0]["id"]),
        market_id=market_id,
        book_market_id=book_market_id,
        order_id=int(placed.json()["id"]),
        notification_id=int(listed[0]["id"]) if listed else 1,
        api_token_id=int(made.json()["id"]),
    )
