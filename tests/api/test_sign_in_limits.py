"""Password guessing is bounded per account and per IP, with a short back-off (sign_in_limits)."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from limits.aio.storage import MemoryStorage

from predictql.db import Database
from predictql.errors import RateLimited
from predictql.services.sign_in_limits import MAX_LOCK, SignInGuard, lock_seconds
from tests.api.test_ratelimit import ClientFor, running
from tests.conftest import make_settings
from tests.support import create_user, unique_email

API = "/api/v1"
PASSWORD = "password123"
SIGN_IN = "mutation($e: String!, $p: String!) { signIn(input: {email: $e, password: $p}) { user { id } } }"


@pytest.fixture
async def guarded(database_url: str, data_dir: Path, db: Database) -> AsyncIterator[ClientFor]:
    """The app with the shipped account budget (5) and a small IP budget (8)."""
    settings = make_settings(database_url, data_dir, sign_in_free_failures_per_ip=8)
    async with running(settings, f"test-{secrets.token_hex(6)}") as client_for:
        yield client_for


async def sign_in(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post(f"{API}/auth/sign-in", json={"email": email, "password": password})


def assert_locked(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= MAX_LOCK
    return retry_after


def test_back_off_doubles_from_one_second_and_is_capped() -> None:
    assert [lock_seconds(n, 5) for n in range(1, 12)] == [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32]
    assert lock_seconds(10_000, 5) == MAX_LOCK == 300  # a victim is never kept out for long


async def test_account_is_locked_after_five_failures_from_any_ip(guarded: ClientFor, db: Database) -> None:
    email = unique_email("victim")
    await create_user(db, email=email, password=PASSWORD)
    # Five guesses from five addresses are free; the sixth failure starts the back-off.
    for n in range(6):
        response = await sign_in(guarded(f"10.9.0.{n}"), email, "wrong-guess")
        assert response.status_code == 401, response.text
    # While locked, even the right password from a fresh address is refused unverified ...
    assert_locked(await sign_in(guarded("10.9.1.1"), email.upper(), PASSWORD))
    # ... and other accounts are untouched.
    other = unique_email("bystander")
    await create_user(db, email=other, password=PASSWORD)
    assert (await sign_in(guarded("10.9.1.1"), other, PASSWORD)).status_code == 200


async def test_refused_attempts_do_not_extend_the_lock() -> None:
    storage = MemoryStorage()
    guard = SignInGuard(storage, "10.8.0.1", "t", free_per_account=2, free_per_ip=100)
    for _ in range(3):
        await guard.check("a@example.com")
        await guard.failed("a@example.com")
    with pytest.raises(RateLimited) as locked:
        await guard.check("A@example.com ")  # the same account, however it is spelled
    assert locked.value.retry_after == 1
    for _ in range(20):  # hammering a locked account is refused before counting
        with pytest.raises(RateLimited):
            await guard.check("a@example.com")
    account = guard._subjects("a@example.com")[0][0]
    assert await storage.get(f"t/signin/fail/{account}") == 3
    await storage.clear(f"t/signin/lock/{account}")  # the 1-second lock has run out
    await guard.check("a@example.com")  # the owner may try again
    await guard.failed("a@example.com")  # a fourth failure doubles the lock
    assert 1 < await storage.get_expiry(f"t/signin/lock/{account}") - time.time() <= 2


async def test_unknown_addresses_are_limited_alike(guarded: ClientFor, db: Database) -> None:
    """Being limited must not reveal whether an address is registered."""
    nobody = unique_email("nobody")
    for n in range(6):
        assert (await sign_in(guarded(f"10.7.0.{n}"), nobody, "wrong-guess")).status_code == 401
    assert_locked(await sign_in(guarded("10.7.1.1"), nobody, "wrong-guess"))


async def test_one_ip_guessing_many_accounts_is_locked(guarded: ClientFor, db: Database) -> None:
    attacker = guarded("10.6.0.1")
    for _ in range(9):  # 8 free failures on as many accounts, the ninth starts the back-off
        assert (await sign_in(attacker, unique_email("target"), "wrong-guess")).status_code == 401
    assert_locked(await sign_in(attacker, unique_email("target"), "wrong-guess"))
    # Someone else signs in as usual.
    email = unique_email("fine")
    await create_user(db, email=email, password=PASSWORD)
    assert (await sign_in(guarded("10.6.0.2"), email, PASSWORD)).status_code == 200


async def test_graphql_sign_in_shares_the_budget_and_says_when(guarded: ClientFor, db: Database) -> None:
    email = unique_email("gql")
    await create_user(db, email=email, password=PASSWORD)
    for n in range(6):
        assert (await sign_in(guarded(f"10.5.0.{n}"), email, "wrong-guess")).status_code == 401
    body = {"query": SIGN_IN, "variables": {"e": email, "p": PASSWORD}}
    response = await guarded("10.5.1.1").post("/graphql", json=body)
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= error["extensions"]["retryAfter"] <= MAX_LOCK
