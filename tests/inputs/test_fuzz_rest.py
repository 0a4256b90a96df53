"""Every REST route in the registry, fuzzed with the input classes that crash servers: no answer
is a 5xx or INTERNAL_ERROR, no error is logged as unhandled, on whichever store the suite runs.

Path parameters, query parameters (the documented ones and the ones the handler reads) and body
fields (the documented ones and a valid base body's) each get either a valid value or a nasty one.
"""

from __future__ import annotations

import inspect
import json
import re
from functools import cache
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from hypothesis import strategies as st

from predictql.db import Database
from predictql.rest_compat import routes  # noqa: F401  (fills the registry)
from predictql.rest_compat.routing import REGISTRY, Endpoint
from tests.inputs.nasty import (
    NASTY_TEXT,
    check_logs,
    check_rest,
    drawn,
    nasty_ints,
    nasty_json,
    nasty_text,
    unexpected_errors,
)
from tests.inputs.world import World, build_world
from tests.support import routes_yaml

URL_TEXT = st.one_of(nasty_text, nasty_ints.map(str)).map(lambda text: text[:8000])  # httpx caps a URL at 64 kB
PARAM = re.compile(r"\{(\w+)\}")
READS = re.compile(r"""query_(?:int|params\.get)\(\s*["'](\w+)["']""")


@cache
def _documented() -> dict[tuple[str, str], dict[str, Any]]:
    """Read when a test first needs it, not at import: a missing contract fails those tests."""
    spec = yaml.safe_load(routes_yaml().read_text())
    return {(e["method"], PARAM.sub("{}", e["path"])): e.get("params") or {} for e in spec["endpoints"]}


def _names(spec: Endpoint, where: str) -> list[str]:
    documented = _documented().get((spec.method, PARAM.sub("{}", spec.path)), {})
    names = set((documented.get(where) or {}).keys())
    if where == "query":
        names |= set(READS.findall(inspect.getsource(spec.handler)))
    return sorted(names - {"inferred"})


def _base_bodies(world: World) -> dict[str, dict[str, Any]]:
    """A valid body per route that takes one, so a fuzzed field is the only thing wrong."""
    pool = {
        "name": "P",
        "finish_at": "2030-01-01T00:00:00Z",
        "metadata": {"market_names": ["A", "B"], "market_probabilities": [0.5, 0.5]},
    }
    event = {"name": "E", "name_ru": "E", "tags": ["t"], "versus_names": [], "versus_images": [], "has_draw": False}
    return {
        "POST /auth/sign-up": {"email": "fuzz@example.com", "password": "password123"},
        "POST /auth/sign-in": {"email": "fuzz@example.com", "password": "password123"},
        "POST /auth/verify-email": {"user_id": world.user_id, "verification_code": "123456"},
        "POST /auth/reset-password": {"token": "t", "new_password": "password123"},
        "POST /auth/forgot-password": {"email": "fuzz@example.com"},
        "POST /events/{id}/pools": pool,
        "PUT /events/{id}/pools/{pool_id}/probabilities": {"probabilities": [0.4, 0.6]},
        "POST /events/{id}/close": {"won_side": "YES"},
        "POST /events/{id}/pools/{pool_id}/close": {"outcome": 0},
        "POST /events/{id}/pools/{pool_id}/markets/{market_id}/close": {"won_side": "NO"},
        "POST /events": event,
        "POST /events/create-full": {**event, "pools": [pool], "loop_interval_minutes": 0, "main_pool_index": 0},
        "PUT /events/{id}": {"name": "E2", "tags": ["u"]},
        "POST /events/{id}/active": {"is_active": True},
        "POST /events/suggest": {"name": "S", "description": "d"},
        "POST /market/orders": {
            "market_id": world.book_market_id,
            "type": "buy",
            "kind": "limit",
            "token_type": "YES",
            "price": 3000,
            "amount": 100,
            "client_order_id": "c-1",
        },
        "POST /events/{id}/pools/{pool_id}/markets/{market_id}/pause": {"paused": False},
        "POST /lmsr/trade": {"market_id": world.market_id, "side": "buy_yes", "amount_type": "spend", "amount": 100},
        "PUT /users/me": {"name": "N", "nickname": "n", "language": "en", "theme": "dark"},
        "POST /stats/role": {"user_id": world.user_id, "role": "creator", "value": True},
        "POST /users/me/api-tokens": {"name": "t", "write": False},
    }


def _path_value(draw: st.DrawFn, world: World, spec: Endpoint, name: str) -> str:
    if draw(st.booleans()):
        return str(world.id_for(spec.path, name))
    raw = draw(URL_TEXT)
    return quote(raw.encode("utf-8", "surrogatepass"), safe="") or "0"


@st.composite
def requests(draw: st.DrawFn, spec: Endpoint, world: World) -> dict[str, Any]:
    path = PARAM.sub(lambda m: _path_value(draw, world, spec, m.group(1)), spec.path)
    query = {name: draw(URL_TEXT) for name in _names(spec, "query") if draw(st.booleans())}
    key = f"{spec.method} {spec.path}"
    body: Any = dict(_base_bodies(world).get(key, {}))
    fields = sorted(set(body) | set(_names(spec, "body"))) or ["id", "name"]
    for name in draw(st.lists(st.sampled_from(fields), max_size=3, unique=True)):
        body[name] = draw(nasty_json)
    if draw(st.integers(0, 9)) == 0:
        body = draw(nasty_json)
    return {"method": spec.method, "path": path, "query": query, "body": body}


def _send(client: httpx.AsyncClient, world: World, request: dict[str, Any]) -> Any:
    content = None
    headers = world.headers()
    if request["method"] in ("POST", "PUT", "DELETE"):
        content = json.dumps(request["body"]).encode()
        headers["content-type"] = "application/json"
    url = "/api/v1" + request["path"]
    if request["query"]:
        url += "?" + "&".join(
            f"{k}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in request["query"].items()
        )
    return client.request(request["method"], url, content=content, headers=headers)


FUZZED = [spec for spec in REGISTRY if spec.path not in ("/auth/google",)]  # a redirect to the provider


@pytest.mark.parametrize("spec", FUZZED, ids=[f"{s.method} {s.path}" for s in FUZZED])
async def test_no_input_crashes_a_rest_route(client: httpx.AsyncClient, db: Database, spec: Endpoint) -> None:
    world = await build_world(client, db)
    with unexpected_errors() as logged:
        for request in drawn(requests(spec, world)):
            response = await _send(client, world, request)
            check_rest(response, request)
            check_logs(logged, request)


def test_the_nasty_text_covers_every_class() -> None:
    """The fuzzers' text list names each class of the hardening issue at least once."""
    joined = "".join(NASTY_TEXT)
    for needle in ("\x00", "\ud800", "1_0", " 1 ", "١", "9223372036854775808", "NaN", "2026-01-01T00:00:00"):
        assert needle in joined
    assert any(len(text) >= 50_000 for text in NASTY_TEXT)
