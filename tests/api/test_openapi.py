"""The OpenAPI document is generated from the endpoint registry, committed, and served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml

import predictql.rest_compat.routes  # noqa: F401  (every REST module registers on import)
from predictql.db import Database
from predictql.rest_compat import openapi
from predictql.rest_compat.routing import REGISTRY
from tests.support import routes_yaml


def _generated() -> dict[str, Any]:
    return openapi.document(REGISTRY, yaml.safe_load(routes_yaml().read_text()))


def test_committed_openapi_json_matches_the_registry(repo_root: Path) -> None:
    committed = (repo_root / "openapi.json").read_text()
    assert committed == openapi.render(_generated()), (
        "openapi.json drifted: run `predictql openapi > openapi.json` and review the diff"
    )


def test_every_registered_route_is_documented_with_its_statuses(repo_root: Path) -> None:
    doc = _generated()
    assert doc["openapi"] == "3.1.0"
    for spec in REGISTRY:
        operation = doc["paths"][openapi.BASE + spec.path][spec.method.lower()]
        statuses = set(operation["responses"])
        assert {str(spec.status), "400", "404", "429"} <= statuses, (spec.method, spec.path)
        assert {str(status) for status in spec.overrides.values()} <= statuses
        if spec.auth != "none":
            assert "401" in statuses and operation["security"]
        if spec.body is not None:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]
    sign_up = doc["paths"]["/api/v1/auth/sign-up"]["post"]
    assert "EMAIL_EXISTS" in sign_up["responses"]["409"]["description"]  # codes from routes.yaml
    assert sign_up["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SignUp")
    avatar = doc["paths"]["/api/v1/users/me/avatar"]["post"]["requestBody"]["content"]
    assert set(avatar["multipart/form-data"]["schema"]["required"]) == {"avatar"}


async def test_served_at_api_v1_openapi_json(client: httpx.AsyncClient, db: Database, repo_root: Path) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == json.loads((repo_root / "openapi.json").read_text())


def test_the_cli_prints_it(repo_root: Path, capsys: Any) -> None:
    from predictql.cli import main

    assert main(["openapi"]) == 0
    assert capsys.readouterr().out == (repo_root / "openapi.json").read_text()


def test_every_handler_that_parses_a_body_model_registers_it() -> None:
    """The document's request bodies are only as complete as the registrations: a handler calling
    ``api.body(Model)`` must say ``body=Model`` on its ``@endpoint``."""
    import inspect
    import re

    for spec in REGISTRY:
        parsed = re.findall(r"api\.(?:optional_)?body\((\w+)", inspect.getsource(spec.handler))
        registered = [spec.body.__name__] if spec.body else []
        assert registered == parsed[:1], (spec.method, spec.path, parsed)
