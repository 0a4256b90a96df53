"""``services.periodic.every``: the background passes of the app (expiry sweeps, loop events) run
one interval apart; a pass that raises is logged and the next one runs; cancelling ends them."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from predictql.services import periodic


async def test_a_failed_pass_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[float] = []
    third = asyncio.Event()

    async def run() -> None:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 3:
            third.set()
        if len(calls) == 1:
            raise RuntimeError("the database is away")

    started = asyncio.get_running_loop().time()
    with caplog.at_level(logging.ERROR, logger="predictql.test_periodic"):
        task = asyncio.create_task(periodic.every(0.01, run, logging.getLogger("predictql.test_periodic"), "the pass"))
        await asyncio.wait_for(third.wait(), 5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    count = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == count  # cancelled: no more passes
    assert calls[0] - started >= 0.009  # the first pass after one interval
    assert calls[1] - calls[0] >= 0.009
    failed = [record for record in caplog.records if record.name == "predictql.test_periodic"]
    assert [record.getMessage() for record in failed] == ["the pass failed"]
    assert failed[0].exc_info is not None and isinstance(failed[0].exc_info[1], RuntimeError)
