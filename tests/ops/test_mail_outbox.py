"""Mail goes to disk only when an outbox is configured: reset tokens and codes are secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from predictql.db import Database
from predictql.mail import Mailer
from predictql.settings import Settings
from tests.conftest import make_settings
from tests.support import create_user, lifespan_client, unique_email


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


async def test_no_outbox_by_default_writes_nothing(tmp_path: Path, predictql_log: pytest.LogCaptureFixture) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret="x" * 40, environment="production")
    assert settings.mail_outbox is None
    await Mailer(settings).send("a@example.com", "Reset", "Token: s3cret-token")
    assert _files(tmp_path) == []
    assert "a@example.com" in predictql_log.text and "s3cret-token" not in predictql_log.text


async def test_a_configured_outbox_gets_each_message(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="x" * 40, mail_outbox=tmp_path / "outbox")
    await Mailer(settings).send("a@example.com", "Hello", "body")
    (written,) = _files(tmp_path / "outbox")
    assert written.suffix == ".eml" and b"To: a@example.com" in written.read_bytes()


async def test_forgot_password_without_an_outbox_leaves_no_token_on_disk(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    email = unique_email("nomail")
    await create_user(db, email=email)
    settings = make_settings(database_url, tmp_path, mail_outbox=None)
    async with lifespan_client(settings) as http:
        response = await http.post("/api/v1/auth/forgot-password", json={"email": email})
        assert response.status_code == 200
    assert not any(path.suffix in (".eml", ".tmp") for path in _files(tmp_path))
