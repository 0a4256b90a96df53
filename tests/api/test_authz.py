"""Per-route authorization, walked over every registered REST endpoint (the auth level is data)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import yaml

import predictql.rest_compat.routes  # noqa: F401  (every REST module registers on import)
from predictql.db import Database
from predictql.rest_compat.routing import REGISTRY, Endpoint
from tests.api.test_users import fast_user
from tests.support import bearer, routes_yaml

OPEN = {"none", "optional"}
PROTECTED = {"required", "creator", "stats_viewer", "admin"}
STAFF = {"stats_viewer", "admin"}
BODY_METHODS = {"POST", "PUT", "PATCH"}


def plausible_path(spec: Endpoint) -> str:
    return "/api/v1" + re.sub(r"\{[^}]+\}", "1", spec.path)


async def call(http: httpx.AsyncClient, spec: Endpoint, headers: dict[str, str] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"json": {}} if spec.method in BODY_METHODS else {}
    return await http.request(spec.method, plausible_path(spec), headers=headers or {}, **body)


def expected_401(spec: Endpoint) -> str:
    return "unauthorized" if spec.lower_codes else "UNAUTHORIZED"


def error_code(response: httpx.Response) -> str | None:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        assert set(body["error"]) == {"code", "message"}, body
        return str(body["error"]["code"])
    return None


def specs(levels: set[str]) -> list[Endpoint]:
    return [spec for spec in REGISTRY if spec.auth in levels]


def test_registry_is_populated_and_levels_are_known() -> None:
    assert REGISTRY, "no REST endpoint registered"
    assert len(specs(PROTECTED)) > 5
    assert {spec.auth for spec in REGISTRY} <= OPEN | PROTECTED
    seen = [(spec.method, spec.path) for spec in REGISTRY]
    assert len(seen) == len(set(seen)), "an endpoint is registered twice"


async def test_protected_routes_refuse_anonymous_callers(client: httpx.AsyncClient) -> None:
    walked = 0
    for spec in specs(PROTECTED):
        for headers in ({}, bearer("not-a-token"), {"Cookie": "access_token=expired.or.forged"}):
            response = await call(client, spec, headers)
            where = (spec.method, spec.path, headers)
            assert response.status_code == 401, (where, response.text)
            assert error_code(response) == expected_401(spec), (where, response.text)
        walked += 1
    assert walked > 5


async def test_open_routes_never_ask_for_a_sign_in(client: httpx.AsyncClient) -> None:
    walked = 0
    for spec in specs(OPEN):
        response = await call(client, spec)
        assert response.status_code != 500, (spec.method, spec.path, response.text)
        assert error_code(response) not in ("UNAUTHORIZED", "unauthorized"), (spec.method, spec.path, response.text)
        walked += 1
    assert walked >= 3


async def test_staff_routes_refuse_plain_users(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db)
    staff = specs(STAFF)
    assert staff, "no stats_viewer/admin endpoint registered"
    for spec in staff:
        response = await call(client, spec, bearer(token))
        assert response.status_code == 403, (spec.method, spec.path, response.text)
        assert error_code(response) in ("FORBIDDEN", "forbidden")


async def test_read_only_api_token_cannot_write(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, balance=10)
    created = await client.post("/api/v1/users/me/api-tokens", json={"name": "bot"}, headers=bearer(token))
    assert created.status_code == 201, created.text
    read_only = created.json()["token"]
    reads = await client.get("/api/v1/users/me/transactions", headers=bearer(read_only))
    assert reads.status_code == 200 and len(reads.json()) == 1
    write = await client.put("/api/v1/users/me", json={"theme": "dark"}, headers=bearer(read_only))
    assert write.status_code == 403 and error_code(write) == "token_read_only"


# --- the contract: routes.yaml ------------------------------------------------------------------


def _contract() -> list[dict[str, Any]]:
    data = yaml.safe_load(routes_yaml().read_text())
    endpoints: list[dict[str, Any]] = data["endpoints"]
    return endpoints


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _level(entry: dict[str, Any]) -> str:
    auth = entry.get("auth")
    level = auth.get("level") if isinstance(auth, dict) else auth
    return str(level)


def test_auth_levels_match_routes_yaml() -> None:
    documented = {(entry["method"], _shape(entry["path"])): entry for entry in _contract()}
    compared = 0
    for spec in REGISTRY:
        entry = documented.get((spec.method, _shape(spec.path)))
        if entry is None:
            continue  # our own additions (API tokens, ...) are not in the contract
        level = _level(entry)
        assert level in OPEN | PROTECTED, (entry["id"], level)
        assert (spec.auth in PROTECTED) == (level in PROTECTED), (spec.method, spec.path, spec.auth, level)
        if level in STAFF:
            assert spec.auth in STAFF, (spec.method, spec.path, spec.auth, level)
        compared += 1
    assert compared > 5
