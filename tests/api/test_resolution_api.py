"""Closing events, pools and markets over REST with both body shapes (rule 17), exactly once,
and cancelling with refunds (rule 19); the computed status follows (rule 18)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from predictql.db import Database
from predictql.services import ledger
from tests.api.test_events import API, error, make_event, pool_body, trade
from tests.api.test_users import fast_user
from tests.support import bearer

OK = {"status": "ok"}


async def cash(db: Database, user_id: int) -> int:
    async with db.session() as session:
        return (await ledger.balances(session, user_id)).cash


async def books_balance(db: Database) -> bool:
    async with db.session() as session:
        return (await ledger.trial_balance(session)).ok


async def post(http: httpx.AsyncClient, token: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return await http.post(API + path, json=body if body is not None else {}, headers=bearer(token))


async def event_view(http: httpx.AsyncClient, event_id: int) -> dict[str, Any]:
    response = await http.get(f"{API}/events/{event_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- close event ----------------------------------------------------------------------------------


async def test_close_event_won_side_pays_winners_once(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    yes_user, _ = await fast_user(db, balance=10_000)
    no_user, _ = await fast_user(db, balance=10_000)
    event = await make_event(client, token)
    market_id = event["pools"][0]["markets"][0]["id"]
    bought = await trade(db, yes_user, market_id, "buy_yes", 2000)
    lost = await trade(db, no_user, market_id, "buy_no", 2000)
    response = await post(client, token, f"/events/{event['id']}/close", {"won_side": "YES"})
    assert response.status_code == 200 and response.json() == OK
    assert await cash(db, yes_user) == 10_000 - bought.cost_or_payout + bought.shares
    assert await cash(db, no_user) == 10_000 - lost.cost_or_payout
    view = await event_view(client, event["id"])
    assert view["status"] == "paid" and view["closed_at"] is not None
    (market,) = view["pools"][0]["markets"]
    assert (view["pools"][0]["won_side"], market["resolved"], market["winning_outcome"]) == (0, True, "YES")
    again = await post(client, token, f"/events/{event['id']}/close", {"won_side": "NO"})
    assert error(again, 409) == "CONFLICT"
    assert await cash(db, yes_user) == 10_000 - bought.cost_or_payout + bought.shares
    assert await books_balance(db)


async def test_close_event_per_pool_and_outcome(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event = await make_event(client, token, pool_body(), pool_body(("A", "B", "C"), (0.2, 0.3, 0.5)))
    yes_pool, abc_pool = event["pools"]
    body = {"pools": [{"pool_id": yes_pool["id"], "won_side": "NO"}, {"pool_id": abc_pool["id"], "outcome": 2}]}
    assert (await post(client, token, f"/events/{event['id']}/close", body)).json() == OK
    view = await event_view(client, event["id"])
    assert [p["won_side"] for p in view["pools"]] == [1, 2]
    assert [m["winning_outcome"] for m in view["pools"][1]["markets"]] == ["NO", "NO", "YES"]
    single = await make_event(client, token, pool_body(("A", "B"), (0.5, 0.5)))
    assert (await post(client, token, f"/events/{single['id']}/close", {"outcome": 1})).json() == OK
    assert (await event_view(client, single["id"]))["pools"][0]["won_side"] == 1


async def test_close_event_bad_bodies(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event = await make_event(client, token, pool_body(), pool_body(("A", "B"), (0.5, 0.5)))
    first, second = (p["id"] for p in event["pools"])
    path = f"/events/{event['id']}/close"
    bodies = [
        {},
        {"won_side": "MAYBE"},
        {"won_side": "YES"},  # YES/NO does not say which of two pools
        {"won_side": "YES", "outcome": 0},
        {"outcome": -1},
        {"outcome": "0"},
        {"won_side": "YES", "pools": [{"pool_id": first, "won_side": "YES"}]},
        {"pools": [{"pool_id": first, "won_side": "YES"}]},  # the other open pool is missing
        {"pools": [{"pool_id": first, "won_side": "YES"}, {"pool_id": second}]},
        {"pools": [{"pool_id": first, "won_side": "YES"}, {"pool_id": second, "outcome": 5}]},
    ]
    for body in bodies:
        assert error(await post(client, token, path, body), 400) == "INVALID_REQUEST", body
    assert (await event_view(client, event["id"]))["status"] == "started"
    assert error(await post(client, token, "/events/999999/close", {"won_side": "YES"}), 404) == "NOT_FOUND"


# --- close pool and market ------------------------------------------------------------------------


async def test_close_pool_all_shapes(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    pools = pool_body(), pool_body(("A", "B"), (0.5, 0.5)), pool_body(("X", "Y"), (0.5, 0.5))
    event = await make_event(client, token, *pools)
    yes_pool, ab_pool, xy_pool = event["pools"]
    base = f"/events/{event['id']}/pools"
    assert (await post(client, token, f"{base}/{yes_pool['id']}/close", {"won_side": "NO"})).json() == OK
    sides = zip(ab_pool["markets"], ("NO", "YES"), strict=True)
    markets = [{"market_id": m["id"], "won_side": side} for m, side in sides]
    assert (await post(client, token, f"{base}/{ab_pool['id']}/close", {"markets": markets})).json() == OK
    assert (await event_view(client, event["id"]))["status"] == "started"  # one pool is still open
    assert (await post(client, token, f"{base}/{xy_pool['id']}/close", {"outcome": 0})).json() == OK
    view = await event_view(client, event["id"])
    assert [p["won_side"] for p in view["pools"]] == [1, 1, 0] and view["status"] == "paid"
    assert view["closed_at"] is not None
    again = await post(client, token, f"{base}/{xy_pool['id']}/close", {"outcome": 1})
    assert error(again, 409) == "CONFLICT"
    assert error(await post(client, token, f"/events/{event['id']}/close", {"won_side": "YES"}), 409) == "CONFLICT"
    assert error(await post(client, token, f"{base}/999999/close", {"won_side": "YES"}), 404) == "NOT_FOUND"


async def test_won_side_on_two_outcome_pools_is_the_outcome(client: httpx.AsyncClient, db: Database) -> None:
    """routes.yaml: a pool's won_side 0 = first outcome (YES), 1 = second (NO); three or more outcomes
    need ``outcome`` or ``markets[]`` because YES/NO names none of them."""
    _, token = await fast_user(db, is_creator=True)
    ab, xy = pool_body(("A", "B"), (0.5, 0.5)), pool_body(("X", "Y"), (0.4, 0.6))
    event = await make_event(client, token, ab, xy, pool_body(("P", "Q", "R"), (0.2, 0.3, 0.5)))
    ab_pool, xy_pool, pqr_pool = event["pools"]
    base = f"/events/{event['id']}/pools"
    assert (await post(client, token, f"{base}/{ab_pool['id']}/close", {"won_side": "NO"})).json() == OK
    ambiguous = await post(client, token, f"{base}/{pqr_pool['id']}/close", {"won_side": "YES"})
    assert error(ambiguous, 400) == "INVALID_REQUEST" and "outcome" in ambiguous.json()["error"]["message"]
    per_pool = [{"pool_id": xy_pool["id"], "won_side": "YES"}, {"pool_id": pqr_pool["id"], "outcome": 1}]
    assert (await post(client, token, f"/events/{event['id']}/close", {"pools": per_pool})).json() == OK
    view = await event_view(client, event["id"])
    assert [p["won_side"] for p in view["pools"]] == [1, 0, 1]
    assert [[m["winning_outcome"] for m in p["markets"]] for p in view["pools"]] == [
        ["NO", "YES"],
        ["YES", "NO"],
        ["NO", "YES", "NO"],
    ]
    single = await make_event(client, token, pool_body(("Home", "Away"), (0.5, 0.5)))
    assert (await post(client, token, f"/events/{single['id']}/close", {"won_side": "YES"})).json() == OK
    assert (await event_view(client, single["id"]))["pools"][0]["won_side"] == 0


async def test_close_market_both_shapes(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event = await make_event(client, token, pool_body(("A", "B", "C"), (0.2, 0.3, 0.5)))
    pool = event["pools"][0]
    a, b, c = (m["id"] for m in pool["markets"])
    base = f"/events/{event['id']}/pools/{pool['id']}/markets"
    assert (await post(client, token, f"{base}/{a}/close", {"won_side": "NO"})).json() == OK
    assert (await post(client, token, f"{base}/{b}/close", {"outcome": 1})).json() == OK  # 1 = NO
    assert error(await post(client, token, f"{base}/{a}/close", {"won_side": "YES"}), 409) == "CONFLICT"
    for body in ({}, {"outcome": 2}, {"won_side": "no way"}):
        assert error(await post(client, token, f"{base}/{c}/close", body), 400) == "INVALID_REQUEST", body
    assert error(await post(client, token, f"{base}/999999/close", {"won_side": "YES"}), 404) == "NOT_FOUND"
    view = await event_view(client, event["id"])
    assert [m["resolved"] for m in view["pools"][0]["markets"]] == [True, True, False] and view["status"] == "started"
    # the outcome index keeps its meaning for the pool although two markets are already closed
    assert (await post(client, token, f"/events/{event['id']}/close", {"outcome": 2})).json() == OK
    view = await event_view(client, event["id"])
    assert view["pools"][0]["won_side"] == 2 and view["status"] == "paid"
    assert [m["winning_outcome"] for m in view["pools"][0]["markets"]] == ["NO", "NO", "YES"]


async def test_concurrent_closes_succeed_exactly_once(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    winner, _ = await fast_user(db, balance=10_000)
    event = await make_event(client, token, pool_body(("A", "B"), (0.5, 0.5)))
    pool = event["pools"][0]
    bought = await trade(db, winner, pool["markets"][0]["id"], "buy_yes", 3000)
    paths = [f"/events/{event['id']}/close", f"/events/{event['id']}/pools/{pool['id']}/close"] * 3
    responses = await asyncio.gather(*(post(client, token, path, {"outcome": 0}) for path in paths))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 5, [r.text for r in responses]
    assert await cash(db, winner) == 10_000 - bought.cost_or_payout + bought.shares
    assert await books_balance(db)


# --- cancel ---------------------------------------------------------------------------------------


async def test_cancel_refunds_purchase_cost(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    alice, _ = await fast_user(db, balance=20_000)
    bob, _ = await fast_user(db, balance=20_000)
    event = await make_event(client, token, pool_body(("A", "B"), (0.4, 0.6)))
    a, b = (m["id"] for m in event["pools"][0]["markets"])
    fees_alice = (await trade(db, alice, a, "buy_yes", 4000)).fee + (await trade(db, alice, b, "buy_no", 1500)).fee
    fee_bob = (await trade(db, bob, b, "buy_yes", 2500)).fee
    response = await post(client, token, f"/events/{event['id']}/cancel")
    assert response.status_code == 200 and response.json() == OK
    assert await cash(db, alice) == 20_000 - fees_alice  # the price part back, the fee kept
    assert await cash(db, bob) == 20_000 - fee_bob
    view = await event_view(client, event["id"])
    assert view["status"] == "cancelled" and view["closed_at"] is not None
    assert error(await post(client, token, f"/events/{event['id']}/cancel"), 409) == "CONFLICT"
    assert error(await post(client, token, f"/events/{event['id']}/close", {"won_side": "YES"}), 409) == "CONFLICT"
    pool_id = event["pools"][0]["id"]
    pool_close = await post(client, token, f"/events/{event['id']}/pools/{pool_id}/close", {"outcome": 0})
    assert error(pool_close, 409) == "CONFLICT"
    assert await books_balance(db)


async def test_cancel_after_close_is_409_and_admin_may_act(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    _, admin = await fast_user(db, is_admin=True)
    event = await make_event(client, token)
    assert (await post(client, admin, f"/events/{event['id']}/close", {"won_side": "YES"})).json() == OK
    assert error(await post(client, token, f"/events/{event['id']}/cancel"), 409) == "CONFLICT"
    other = await make_event(client, token, active=False)
    assert (await post(client, admin, f"/events/{other['id']}/cancel")).json() == OK
    _, stranger = await fast_user(db, is_creator=True)
    third = await make_event(client, token, active=False)
    assert error(await post(client, stranger, f"/events/{third['id']}/cancel"), 404) == "NOT_FOUND"  # hidden
