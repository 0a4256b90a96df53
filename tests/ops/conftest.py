from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

# Children of "predictql": logs.configure (run by every app) replaces the handlers of "predictql"
# itself and stops propagation there, so caplog is attached to these directly.
WATCHED = ("predictql.access", "predictql.errors", "predictql.mail", "predictql.app")


@pytest.fixture
def predictql_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    loggers = [logging.getLogger(name) for name in WATCHED]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(caplog.handler)
        logger.setLevel(logging.INFO)
    try:
        yield caplog
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(caplog.handler)
            logger.setLevel(level)
