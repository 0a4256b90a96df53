"""Structured logs: one JSON object per line, carrying the request id of the request being served."""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Callable
from typing import Any

from predictql.jsonutil import dumps

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def _untraced() -> tuple[str, str] | None:
    return None


# (trace id, span id) of the active span, or None; ``predictql.tracing`` replaces it when tracing is on.
trace_ids: Callable[[], tuple[str, str] | None] = _untraced


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        ids = trace_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        for key in ("method", "path", "status", "duration_ms", "client"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return dumps(entry).decode()


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = request_id.get()
        text = super().format(record)
        ids = trace_ids()
        if ids is not None and ids[0] != rid:  # traced, under a client's own X-Request-Id (or none)
            rid = f"{rid} trace={ids[0]}" if rid else f"trace={ids[0]}"
        return f"{text} [{rid}]" if rid else text


def configure(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    plain = PlainFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(JsonFormatter() if as_json else plain)
    root = logging.getLogger("predictql")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
