"""``services.periodic.every``: the background passes of the app (expiry sweeps, loop events) run
one interval apart; a pass that raises is logged and the next one runs; a cancel ends them."""

from __future__ import annotations

import asyncio
import logging

import pytest

from predictql.services import periodic

LOG = "predictql.test_periodic"


async def test_a_failed_pass_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[float] = []

    async def run() -> None:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 1:
            raise RuntimeError("the database is away")
        if len(calls) == 3:
            raise asyncio.CancelledError  # the lifespan's cancel, arriving during a pass: not swallowed

    started = asyncio.get_running_loop().time()
    with caplog.at_level(logging.ERROR, logger=LOG), pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(periodic.every(0.01, run, logging.getLogger(LOG), "the pass"), 5)
    assert len(calls) == 3
    assert calls[0] - started >= 0.009  # the first pass after one interval
    assert calls[1] - calls[0] >= 0.009 and calls[2] - calls[1] >= 0.009
    failed = [record for record in caplog.records if record.name == LOG]
    assert [record.getMessage() for record in failed] == ["the pass failed"]
    assert failed[0].exc_info is not None and isinstance(failed[0].exc_info[1], RuntimeError)
