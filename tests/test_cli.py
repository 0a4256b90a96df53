"""The ``predictql`` CLI against the test database (sync tests: the CLI runs its own event loop)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from predictql.cli import main
from predictql.settings import Settings
from tests.support import unique_email


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> None:
    monkeypatch.setenv("PREDICTQL_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("PREDICTQL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PREDICTQL_JWT_SECRET", "cli-secret-" + "x" * 40)
    monkeypatch.setenv("PREDICTQL_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("PREDICTQL_PASSWORD_HASH_PROFILE", "test")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_user_create_and_credit(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    email = unique_email("cli")
    code, out, _ = _run(capsys, "user", "create", email, "--password", "secret-pass", "--creator", "--admin")
    assert code == 0
    created = json.loads(out)
    assert isinstance(created["id"], int) and created["is_creator"] and created["is_admin"]

    code, out, _ = _run(capsys, "user", "credit", email, "12345")
    assert code == 0 and json.loads(out)["balance"] == 12345
    code, out, _ = _run(capsys, "user", "credit", email.upper(), "55", "--bonus")
    assert code == 0 and json.loads(out)["bonus_balance"] == 55 and json.loads(out)["balance"] == 12345


def test_cli_errors_are_clear(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    email = unique_email("cli")
    assert _run(capsys, "user", "create", email, "--password", "short")[0] == 2
    assert _run(capsys, "user", "create", email, "--password", "long-enough")[0] == 0
    code, _, err = _run(capsys, "user", "create", email, "--password", "long-enough")
    assert code == 2 and "already registered" in err
    code, _, err = _run(capsys, "user", "credit", "nobody@example.com", "10")
    assert code == 2 and "no user" in err
    assert _run(capsys, "user", "credit", email, "0")[0] == 2


def test_migrate_and_schema(cli_env: None, capsys: pytest.CaptureFixture[str], repo_root: Path) -> None:
    code, out, _ = _run(capsys, "migrate")
    assert code == 0 and json.loads(out) == {"migrated": True}
    code, out, _ = _run(capsys, "schema")
    assert code == 0 and out == (repo_root / "schema.graphql").read_text()


def test_production_refuses_to_start_without_a_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PREDICTQL_JWT_SECRET", raising=False)
    monkeypatch.setenv("PREDICTQL_ENVIRONMENT", "production")
    monkeypatch.setenv("PREDICTQL_DATA_DIR", str(tmp_path))
    code, _, err = _run(capsys, "serve", "--port", "0")
    assert code == 2 and "JWT_SECRET is required" in err


def test_sqlite_refuses_several_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PREDICTQL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PREDICTQL_DATABASE_URL", raising=False)
    code, _, err = _run(capsys, "serve", "--workers", "2")
    assert code == 2 and "PostgreSQL" in err
