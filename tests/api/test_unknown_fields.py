"""Unknown REST body fields answer 400 naming them; every documented request field is still taken.

The documented half walks ``routes.yaml``: for every route we serve with a documented JSON body
(its ``params.body`` and any alternative body shape the guides show), a body made of exactly the
documented names (nested ones included, values null) must fail for its values, never as unknown.
"""

from __future__ import annotations

from typing import Any

import httpx

from predictql.db import Database
from predictql.rest_compat.routing import REGISTRY
from tests.api.test_authz import _contract, _shape, plausible_path
from tests.api.test_events import API, make_event, pool_body
from tests.api.test_users import fast_user
from tests.support import bearer, routes_yaml


def _documented(spec: Any, schemas: dict[str, Any]) -> Any:
    """A JSON value with every documented field name of ``spec`` (null leaves)."""
    if not isinstance(spec, dict):
        named = schemas.get(str(spec))
        return _documented(named, schemas) if isinstance(named, dict) else None
    kind = spec.get("type")
    if "fields" in spec:
        return _object(spec["fields"], schemas)
    if kind == "array" and isinstance(spec.get("items"), dict):
        return [_object(spec["items"], schemas)]
    if isinstance(kind, str) and kind in schemas:
        return _object(schemas[kind], schemas)
    if "type" in spec:
        return None
    return _object(spec, schemas)


def _object(fields: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {name: _documented(value, schemas) for name, value in fields.items()}


def _bodies(entry: dict[str, Any], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    params = entry.get("params") or {}
    shapes = [params.get("body")] + [value for key, value in entry.items() if key.startswith("alt_body")]
    return [
        _object({k: v for k, v in shape.items() if k != "inferred"}, schemas)
        for shape in shapes
        if isinstance(shape, dict) and any(k != "inferred" for k in shape)
    ]


async def test_documented_body_fields_are_accepted(client: httpx.AsyncClient, db: Database) -> None:
    import yaml

    schemas = yaml.safe_load(routes_yaml().read_text())["schemas"]
    documented = {(e["method"], _shape(e["path"])): e for e in _contract()}
    _, token = await fast_user(db, is_creator=True, is_admin=True)
    checked = 0
    for spec in REGISTRY:
        entry = documented.get((spec.method, _shape(spec.path)))
        for body in _bodies(entry, schemas) if entry else ():
            response = await client.request(spec.method, plausible_path(spec), json=body, headers=bearer(token))
            message = response.json().get("error", {}).get("message", "") if response.status_code >= 400 else ""
            assert "unknown field" not in message, (spec.method, spec.path, body, message)
            checked += 1
    assert checked >= 18


async def test_unknown_fields_are_named(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    event = await make_event(client, token)
    market_id = event["pools"][0]["markets"][0]["id"]
    cases = [
        ("POST", f"/events/{event['id']}/pools", {**pool_body(), "colour": "red"}, "invalid_body", "colour"),
        (
            "POST",
            f"/events/{event['id']}/pools",
            pool_body(metadata={"market_names": ["Yes"], "market_probabilities": [0.5], "marketType": "orderbook"}),
            "invalid_body",
            "metadata.marketType",
        ),
        (
            "POST",
            f"/events/{event['id']}/close",
            {"won_side": "YES", "winner": 1, "x": 2},
            "INVALID_REQUEST",
            "unknown fields: winner, x",
        ),
        (
            "POST",
            "/lmsr/trade",
            {"market_id": market_id, "side": "buy_yes", "amount_type": "spend", "amount": 100, "slippage": 5},
            "INVALID_REQUEST",
            "slippage",
        ),
        (
            "POST",
            "/market/orders",
            {
                "market_id": market_id,
                "type": "buy",
                "kind": "limit",
                "token_type": "YES",
                "price": 5000,
                "amount": 100,
                "post_only": True,
            },
            "INVALID_REQUEST",
            "post_only",
        ),
        ("PUT", "/users/me", {"theme": "dark", "colour": "red"}, "invalid_body", "colour"),
    ]
    for method, path, body, code, named in cases:
        response = await client.request(method, API + path, json=body, headers=bearer(token))
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == code and named in response.json()["error"]["message"], response.text
    assert (await client.get(f"{API}/events/{event['id']}")).json()["pools"] == event["pools"]  # nothing written


async def test_rest_creates_an_order_book_pool(client: httpx.AsyncClient, db: Database) -> None:
    """The README's promise: ``metadata.market_type`` picks the mechanism over REST too."""
    _, token = await fast_user(db, is_creator=True)
    event = await make_event(client, token)
    book = pool_body(("A", "B"), (0.4, 0.6))
    book["metadata"]["market_type"] = "orderbook"
    created = await client.post(f"{API}/events/{event['id']}/pools", json=book, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert [m["market_type"] for m in created.json()["markets"]] == ["orderbook", "orderbook"]
    guide = {
        "name": "Guide",
        "finish_at": book["finish_at"],
        "market_names": ["Yes"],
        "market_probabilities": [0.5],
        "market_type": "orderbook",
    }  # the managing-pools guide's top-level metadata keys
    created = await client.post(f"{API}/events/{event['id']}/pools", json=guide, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert created.json()["markets"][0]["market_type"] == "orderbook"
    wrong = {**book, "metadata": {**book["metadata"], "market_type": "parimutuel"}}
    refused = await client.post(f"{API}/events/{event['id']}/pools", json=wrong, headers=bearer(token))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_body"
