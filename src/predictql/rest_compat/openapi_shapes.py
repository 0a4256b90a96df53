"""JSON Schemas for the OpenAPI document from the contract's tables and examples.

The contract's type strings are prose in places ("int64 kopecks", "array of {...}"), so only the
plain ones are mapped; the documented examples are real JSON and give each response its schema.
Inferred schemas are lenient where an example cannot know better: every property optional and
nullable, extra properties allowed (an example shows one value, not every case).
"""

from __future__ import annotations

import json
import re
from typing import Any

from predictql.rest_compat.routing import Endpoint

PLAIN = {
    "int64": {"type": "integer", "format": "int64"},
    "int": {"type": "integer"},
    "string": {"type": "string"},
    "bool": {"type": "boolean"},
    "float": {"type": "number"},
    "number": {"type": "number"},
    "timestamp": {"type": "string"},
}
_PATH_PARAM = re.compile(r"\{([^}]+)\}")


def plain_type(declared: object) -> dict[str, Any]:
    if isinstance(declared, dict):
        declared = declared.get("type")
    return dict(PLAIN.get(str(declared).split(" ")[0], {}))


def parameters(spec: Endpoint, entry: dict[str, Any]) -> list[dict[str, Any]]:
    params = entry.get("params") or {}
    declared_path = params.get("path") or {}
    found = []
    for name in _PATH_PARAM.findall(spec.path):
        schema = plain_type(declared_path.get(name, "int64"))
        if schema.get("type") == "integer":
            schema.update(minimum=1, maximum=2**63 - 1)  # ApiRequest.path_int: a positive int64
        found.append({"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}})
    for name, declared in (params.get("query") or {}).items():
        schema = plain_type(declared)
        found.append({"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"}})
    return found


def contract_body(entry: dict[str, Any]) -> dict[str, Any] | None:
    """For the routes that parse their body by hand: the contract's body table as a schema."""
    declared = (entry.get("params") or {}).get("body")
    if not isinstance(declared, dict):
        return None
    properties = {name: plain_type(value) for name, value in declared.items()}
    required = [name for name, value in declared.items() if isinstance(value, dict) and value.get("required") is True]
    return {"type": "object", "properties": properties, "required": required}


def example_schema(response: dict[str, Any]) -> dict[str, Any] | None:
    """``{"schema", "example"}`` from the documented example, or a bare shape when there is none."""
    example = _example(response.get("example"))
    if example is not None:
        return {"schema": infer(example, top=True), "example": example}
    shape = response.get("shape")
    if shape == "array":
        return {"schema": {"type": "array"}}
    if shape in ("object", "empty-object"):
        return {"schema": {"type": "object"}}
    return None


def _example(text: object) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None  # a few examples are prose or abbreviated ("...")


def infer(value: Any, *, top: bool = False) -> dict[str, Any]:
    if isinstance(value, dict):
        schema: dict[str, Any] = {"type": "object", "properties": {k: infer(v) for k, v in value.items()}}
    elif isinstance(value, list):
        schema = {"type": "array", "items": infer(value[0]) if value else {}}
    elif value is None:
        return {}
    else:
        schema = {"type": _scalar(value)}
    if not top:
        schema["type"] = [schema["type"], "null"]
    return schema


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"  # an example's 0 may be 0.25 in another answer
    return "string"
