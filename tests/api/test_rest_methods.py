"""REST methods and paths: 405 with the path's whole ``Allow``, literal paths first, trailing slashes."""

from __future__ import annotations

import re
from collections import defaultdict

import httpx

from predictql.rest_compat.routing import REGISTRY
from tests.api.test_errors import envelope_code

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _paths() -> dict[str, set[str]]:
    methods: dict[str, set[str]] = defaultdict(set)
    for spec in REGISTRY:
        methods[spec.path].add(spec.method)
    return methods


def _concrete(path: str) -> str:
    return "/api/v1" + re.sub(r"\{[^}]+\}", "1", path)


async def test_every_path_answers_405_with_all_its_methods(client: httpx.AsyncClient) -> None:
    for path, registered in _paths().items():
        allow = registered | ({"HEAD"} if "GET" in registered else set())
        for method in set(METHODS) - registered:
            response = await client.request(method, _concrete(path))
            assert envelope_code(response, 405) == "METHOD_NOT_ALLOWED", (method, path)
            assert set(response.headers["allow"].split(", ")) == allow, (method, path, response.headers["allow"])
        for method in registered:  # the path's own methods reach their handlers
            assert (await client.request(method, _concrete(path))).status_code != 405, (method, path)


async def test_a_literal_segment_wins_over_a_parameter_for_every_method(client: httpx.AsyncClient) -> None:
    cases = {
        ("GET", "/api/v1/users/me"): "PUT",  # not GET /users/{id} with id "me" (was 400 invalid_id)
        ("PUT", "/api/v1/events/feed"): "GET, HEAD",
        ("GET", "/api/v1/events/create-full"): "POST",
        ("DELETE", "/api/v1/market/orders/my"): "GET, HEAD",
        ("DELETE", "/api/v1/notifications/unread"): "GET, HEAD",
        ("GET", "/api/v1/users/me/avatar"): "POST",
    }
    for (method, path), allow in cases.items():
        response = await client.request(method, path)
        assert envelope_code(response, 405) == "METHOD_NOT_ALLOWED", (method, path)
        assert response.headers["allow"] == allow, (method, path)
    assert envelope_code(await client.get("/api/v1/users/me2"), 400) == "invalid_id"  # still a parameter


async def test_trailing_slash_redirects_with_a_json_body(client: httpx.AsyncClient) -> None:
    for method, path, location in (
        ("GET", "/api/v1/health/", "/api/v1/health"),
        ("POST", "/api/v1/auth/sign-in/", "/api/v1/auth/sign-in"),
        ("GET", "/api/v1/users/7/?x=1", "/api/v1/users/7?x=1"),
        ("POST", "/graphql/", "/graphql"),
    ):
        response = await client.request(method, path)
        assert envelope_code(response, 307) == "TRAILING_SLASH", path
        assert response.headers["location"] == location
    # Any character in the path (a header is Latin-1; a lone surrogate comes from invalid UTF-8):
    # the Location is percent-encoded, and following it reaches the route.
    for raw, location in (
        ("/api/v1/events/asset-timeframes/BTC%C4%80/?q=%C4%80", "/api/v1/events/asset-timeframes/BTC%C4%80?q=%C4%80"),
        ("/api/v1/events/asset-timeframes/%ED%A0%80/", "/api/v1/events/asset-timeframes/" + "%EF%BF%BD" * 3),  # U+FFFD
    ):
        response = await client.get(raw)
        assert envelope_code(response, 307) == "TRAILING_SLASH", raw
        assert response.headers["location"] == location
        assert envelope_code(await client.get(location), 400) == "INVALID_REQUEST"  # not a symbol
    followed = await client.get("/api/v1/health/", follow_redirects=True)
    assert followed.status_code == 200 and followed.json()["status"] == "ok"
    for path in ("/api/v1/nope/", "/api/v1/", "/nope/"):
        assert envelope_code(await client.get(path), 404) == "NOT_FOUND", path
