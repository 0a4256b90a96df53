"""The public contract is checked by machine: committed SDL, README settings table, layering."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from predictql.graphql_server.root import build_schema
from predictql.settings import Settings

SRC = Path(__file__).resolve().parents[1] / "src" / "predictql"


def test_schema_graphql_is_committed_and_current(repo_root: Path) -> None:
    committed = (repo_root / "schema.graphql").read_text()
    current = build_schema(Settings(environment="test", jwt_secret="x" * 40)).as_str() + "\n"
    assert committed == current, "schema drifted: run `predictql schema > schema.graphql` and review the diff"


def test_every_setting_is_in_the_readme_table(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    missing = [
        f"PREDICTQL_{name.upper()}" for name in Settings.model_fields if f"`PREDICTQL_{name.upper()}`" not in readme
    ]
    assert not missing, f"README configuration table lacks {missing}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def test_pricing_is_pure_standard_library() -> None:
    for path in _modules("pricing"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("predictql.pricing") or top == "__future__", (
                f"{path.name} imports {name}: pricing must be pure"
            )


# package -> packages of ours it must never import (ARCHITECTURE.md "Import direction")
FORBIDDEN = {
    "pricing": {
        "models",
        "services",
        "resolvers",
        "rest_compat",
        "schema",
        "graphql_server",
        "subscriptions",
        "db",
        "app",
    },
    "models": {"services", "resolvers", "rest_compat", "schema", "graphql_server", "app"},
    "services": {"resolvers", "rest_compat", "schema", "graphql_server", "app"},
    "subscriptions": {"resolvers", "rest_compat", "schema", "graphql_server", "app"},
    "schema": {"resolvers", "graphql_server", "rest_compat", "app"},
    "resolvers": {"graphql_server", "rest_compat", "app"},
    "rest_compat": {"resolvers", "schema", "graphql_server", "app"},
    "graphql_server": {"rest_compat", "app"},
}


def test_import_direction() -> None:
    for package, banned in FORBIDDEN.items():
        for path in _modules(package):
            for name in _imports(path):
                parts = name.split(".")
                if parts[0] == "predictql" and len(parts) > 1:
                    assert parts[1] not in banned, f"{package}/{path.name} imports {name}"


def test_ci_runs_the_readme_test_command(repo_root: Path) -> None:
    ci = (repo_root / ".ci" / "run").read_text()
    line = next(line for line in ci.splitlines() if line.startswith("README_TEST_COMMAND="))
    command = line.split("=", 1)[1].strip().strip('"')
    assert command in (repo_root / "README.md").read_text()
