"""GraphQL over HTTP on /graphql: media types, request errors, methods, and hostile bodies.

The graphql-http audit (tests/e2e/test_graphql_http_audit.py) checks the spec from outside; these
pin our own choices and the messages a client sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from predictql.app import exception_handlers
from predictql.db import Database
from predictql.gateway import Gateway
from predictql.ratelimit import RateLimiter
from tests.api.test_errors import graphql_code
from tests.conftest import JWT_SECRET, make_settings
from tests.support import lifespan_client

GQL_RESPONSE = "application/graphql-response+json"
JSON_TYPE = {"Content-Type": "application/json"}
REQUEST_ERRORS = (
    ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
    ({"query": "{ noSuchField }"}, "GRAPHQL_VALIDATION_FAILED"),
    ({"query": "query Q($id: ID!) { __typename }", "variables": {"id": None}}, None),  # coercion
)


def request_error(response: httpx.Response, status: int, media: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(media), response.headers
    body = response.json()
    assert "data" not in body and body["errors"][0]["message"], body  # no "data": null
    return dict(body["errors"][0])


async def test_graphql_response_json_is_honoured(client: httpx.AsyncClient) -> None:
    ok = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"Accept": GQL_RESPONSE})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith(GQL_RESPONSE)
    assert ok.json() == {"data": {"__typename": "Query"}}
    preferred = "application/json;q=0.5, application/graphql-response+json"
    assert (
        (await client.post("/graphql", json={"query": "{ __typename }"}, headers={"Accept": preferred}))
        .headers["content-type"]
        .startswith(GQL_RESPONSE)
    )
    for accept in ("application/json", "*/*", "text/plain", ""):
        plain = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"Accept": accept})
        assert plain.status_code == 200 and plain.headers["content-type"].startswith("application/json"), accept


async def test_request_errors_have_no_data_and_a_4xx_in_graphql_response_json(client: httpx.AsyncClient) -> None:
    for body, code in REQUEST_ERRORS:
        strict = await client.post("/graphql", json=body, headers={"Accept": GQL_RESPONSE})
        error = request_error(strict, 400, GQL_RESPONSE)
        assert code is None or error["extensions"] == {"code": code}, error
        # application/json keeps the spec's 200 for legacy clients, still without "data".
        legacy = await client.post("/graphql", json=body, headers={"Accept": "application/json"})
        assert request_error(legacy, 200, "application/json") == error


async def test_field_errors_keep_data_and_200(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": '{ user(id: "987654321") { id } }'}, headers={"Accept": GQL_RESPONSE}
    )
    assert response.status_code == 200
    body = response.json()
    # It executed: "data" stays (null here, as the field is non-null) and the error has a path.
    assert "data" in body and body["errors"][0]["path"] == ["user"]


async def test_get_mutation_is_405_with_allow(client: httpx.AsyncClient) -> None:
    mutation = 'mutation { forgotPassword(input: {email: "nobody@example.com"}) { userErrors { code } } }'
    response = await client.get("/graphql", params={"query": mutation})
    assert graphql_code(response, 405) == "METHOD_NOT_ALLOWED"
    assert response.headers["allow"] == "POST"
    assert (await client.post("/graphql", json={"query": mutation})).status_code == 200


async def test_other_methods_are_405_graphql_shaped(client: httpx.AsyncClient) -> None:
    for method in ("PATCH", "PUT", "DELETE"):
        response = await client.request(method, "/graphql", json={"query": "{ __typename }"})
        assert graphql_code(response, 405) == "METHOD_NOT_ALLOWED", method
        assert response.headers["allow"] == "GET, POST"


async def test_empty_operation_name_is_absent(client: httpx.AsyncClient) -> None:
    body = {"query": "query Only { __typename }", "operationName": ""}
    assert (await client.post("/graphql", json=body)).json() == {"data": {"__typename": "Query"}}
    got = await client.get("/graphql", params={"query": "{ __typename }", "operationName": ""})
    assert got.json() == {"data": {"__typename": "Query"}}
    unknown = await client.post("/graphql", json={**body, "operationName": "Other"}, headers={"Accept": GQL_RESPONSE})
    assert "Other" in str(request_error(unknown, 400, GQL_RESPONSE)["message"])


async def test_subscription_over_http_is_a_client_error_with_the_reason(client: httpx.AsyncClient) -> None:
    subscription = 'subscription { marketUpdated(marketId: "1") { kind } }'
    for response in (
        await client.post("/graphql", json={"query": subscription}),
        await client.get("/graphql", params={"query": subscription}),
    ):
        assert graphql_code(response, 400) == "OPERATION_NOT_SUPPORTED"
        assert "WebSocket" in response.json()["errors"][0]["message"]


async def test_unreadable_bodies_are_400_with_the_real_reason(client: httpx.AsyncClient) -> None:
    cases = [
        (b'{"query": "{ __typename \xff }"}', "not valid UTF-8"),
        (b"\xfe\xff{}", "not valid UTF-8"),
        (b'{"query": ', "not valid JSON"),
        (b"", "empty"),
        (b"[]", "batched requests are not supported"),
        (b'[{"query": "{ __typename }"}]', "batched requests are not supported"),
        (b'"{ __typename }"', "must be a JSON object"),
        (b"42", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),  # deeper than the JSON parser goes
        (b'{"query": 1}', "`query` must be a string"),
        (b'{"operationName": 1, "query": "{ __typename }"}', "`operationName`"),
        (b'{"variables": [], "query": "{ __typename }"}', "`variables` must be a JSON object"),
        (b'{"extensions": "x", "query": "{ __typename }"}', "`extensions` must be a JSON object"),
        (b'{"variables": {}}', "missing `query`"),
    ]
    for raw, reason in cases:
        response = await client.post("/graphql", content=raw, headers=JSON_TYPE)
        assert graphql_code(response, 400) == "BAD_REQUEST", raw[:40]
        assert reason in response.json()["errors"][0]["message"], (raw[:40], response.text)


async def test_deeply_nested_variables_and_extensions_are_refused(client: httpx.AsyncClient) -> None:
    deep: object = "x"
    for _ in range(60):  # 120 levels: under orjson's own limit, over ours
        deep = {"a": [deep]}
    for name in ("variables", "extensions"):
        body = orjson.dumps({"query": "{ __typename }", name: deep})
        response = await client.post("/graphql", content=body, headers=JSON_TYPE)
        assert graphql_code(response, 400) == "BAD_REQUEST", name
        assert f"`{name}` is nested deeper than" in response.json()["errors"][0]["message"]
        got = await client.get("/graphql", params={"query": "{ __typename }", name: orjson.dumps(deep).decode()})
        assert graphql_code(got, 400) == "BAD_REQUEST", name
    shallow = {"input": {"a": [{"b": [1, 2, {"c": "d"}]}]}}
    ok = await client.post("/graphql", json={"query": "{ __typename }", "variables": shallow, "extensions": shallow})
    assert ok.json() == {"data": {"__typename": "Query"}}


async def test_get_with_malformed_variables_is_400(client: httpx.AsyncClient) -> None:
    for query in ("query=%7B__typename%7D&variables=%7B", "query=%7B__typename%7D&extensions=%FF%FE"):
        response = await client.get(f"/graphql?{query}")
        assert graphql_code(response, 400) == "BAD_REQUEST", query


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    body = orjson.dumps({"query": "{ __typename }"})
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"):
        headers = {"Content-Type": content_type} if content_type else {}
        response = await client.post("/graphql", content=body, headers=headers)
        assert graphql_code(response, 415) == "UNSUPPORTED_MEDIA_TYPE", content_type
    for content_type in ("application/json; charset=utf-8", "Application/JSON;charset=UTF-8"):
        response = await client.post("/graphql", content=body, headers={"Content-Type": content_type})
        assert response.json() == {"data": {"__typename": "Query"}}, content_type


async def test_graphiql_only_for_browsers(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert graphql_code(await client.get("/graphql", headers={"Accept": "*/*"}), 400) == "BAD_REQUEST"


# --- the anonymous response cache sees only validated requests ------------------------------------


@pytest.fixture
async def cached(database_url: str, data_dir: Path, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, data_dir, graphql_cache_ttl_ms=60_000)
    # The start-up stream-log prune commits once and so invalidates the cache: wait for it (see
    # test_response_cache.py), or under load it lands between two identical queries.
    async with lifespan_client(settings, until=lambda state: state["db"].version > 0) as http:
        yield http


async def _hit(ask: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """Asks until the answer comes from the cache (any commit in the process, the stream-log pruner's
    included, empties it, so one retry may be needed to see an entry that was just stored)."""
    for _ in range(5):
        response = await ask()
        if response.headers.get("x-cache") == "hit":
            return response
    raise AssertionError(f"never a cache hit: {response.headers}")


async def test_cache_is_consulted_only_after_validation(cached: httpx.AsyncClient) -> None:
    body = orjson.dumps({"query": "{ __typename }"})
    as_json = await _hit(lambda: cached.post("/graphql", content=body, headers=JSON_TYPE))
    assert as_json.json() == {"data": {"__typename": "Query"}}
    # The same bytes, as requests that must be refused: never the cached 200.
    text = await cached.post("/graphql", content=body, headers={"Content-Type": "text/plain"})
    assert graphql_code(text, 415) == "UNSUPPORTED_MEDIA_TYPE"
    assert graphql_code(await cached.put("/graphql", content=body, headers=JSON_TYPE), 405) == "METHOD_NOT_ALLOWED"
    # A hit answers in the media type asked for (the key includes it).
    strict = await _hit(lambda: cached.post("/graphql", content=body, headers={**JSON_TYPE, "Accept": GQL_RESPONSE}))
    assert strict.headers["content-type"].startswith(GQL_RESPONSE)
    # GET and POST of one operation share the key; the GET is validated like any other.
    await _hit(lambda: cached.get("/graphql", params={"query": "{ __typename }"}))
    assert "x-cache" not in (await cached.get("/graphql?query=%7B__typename%7D&variables=%5B%5D")).headers


# --- 500 on /graphql is GraphQL-shaped too -------------------------------------------------------


async def test_unexpected_exception_on_graphql_is_graphql_shaped() -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("secret detail")

    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("secret detail")

    routes = [Route("/graphql", boom, methods=["POST"]), Route("/api/v1/x", boom, methods=["POST"])]
    routed = Starlette(routes=routes, exception_handlers=exception_handlers())
    for app in (routed, bare):
        gateway = Gateway(app, limiter=RateLimiter(1000), secret_key=JWT_SECRET, max_body=1024)
        transport = httpx.ASGITransport(app=gateway, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post("/graphql", json={"query": "{ __typename }"})
            assert graphql_code(response, 500) == "INTERNAL_ERROR"
            assert response.headers["x-request-id"] in response.text and "secret" not in response.text
            other = await http.post("/api/v1/x", json={})
            assert other.status_code == 500 and set(other.json()) == {"error"}
