"""Forgot-password answers in the same time whether the address has an account or not."""

from __future__ import annotations

import statistics
import time

import httpx

from predictql.db import Database
from tests.support import Mailbox, create_user, unique_email

ROUNDS = 25


async def _timed(client: httpx.AsyncClient, email: str) -> float:
    started = time.perf_counter()
    response = await client.post("/api/v1/auth/forgot-password", json={"email": email})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


async def test_existing_and_unknown_addresses_take_the_same_time(
    client: httpx.AsyncClient, db: Database, mailbox: Mailbox
) -> None:
    email = unique_email("timing")
    await create_user(db, email=email)
    await _timed(client, unique_email("warm-up"))
    existing: list[float] = []
    unknown: list[float] = []
    for n in range(ROUNDS):  # interleaved, so drift in machine load hits both paths alike
        existing.append(await _timed(client, email))
        # The lookup, insert and mail run after the answer: let them finish outside the timing.
        await mailbox.wait_for(email, n + 1)
        unknown.append(await _timed(client, unique_email("nobody")))
    fast, slow = sorted((statistics.median(existing), statistics.median(unknown)))
    # Same work before the answer on both paths: medians within noise (20 % + 1 ms).
    assert slow <= fast * 1.2 + 0.001, (statistics.median(existing), statistics.median(unknown))
    assert len(mailbox.messages(email)) == ROUNDS  # and the owner did get every link
