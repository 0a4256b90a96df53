"""Cheap Argon2 is for test runs only: production keeps the library's recommended parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type

from predictql import auth
from predictql.settings import ConfigError, Settings
from tests.conftest import JWT_SECRET


def _parameters(password_hash: str) -> str:
    return password_hash.split("$")[3]  # "m=...,t=...,p=..."


def test_the_default_profile_is_the_librarys_recommendation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREDICTQL_PASSWORD_HASH_PROFILE")
    assert Settings(jwt_secret=JWT_SECRET).password_hash_profile == "standard"
    recommended = PasswordHasher()
    assert recommended.type is Type.ID
    try:
        auth.use_password_profile("standard")
        stored = auth.hash_password("correct horse")
        expected = f"m={recommended.memory_cost},t={recommended.time_cost},p={recommended.parallelism}"
        assert _parameters(stored) == expected
        assert not auth.needs_rehash(stored)
    finally:
        auth.use_password_profile("test")


def test_a_cheap_hash_verifies_and_is_rehashed_under_the_standard_profile() -> None:
    cheap = auth.hash_password("correct horse")
    assert cheap.startswith("$argon2id$") and _parameters(cheap) == "m=8,t=1,p=1"
    try:
        auth.use_password_profile("standard")
        assert auth.verify_password(cheap, "correct horse")
        assert auth.needs_rehash(cheap)  # sign-in upgrades it (services.accounts.sign_in)
    finally:
        auth.use_password_profile("test")


def test_production_refuses_the_test_profile(tmp_path: Path) -> None:
    settings = Settings(
        environment="production", jwt_secret=JWT_SECRET, data_dir=tmp_path, password_hash_profile="test"
    )
    with pytest.raises(ConfigError, match="PASSWORD_HASH_PROFILE"):
        settings.check()
