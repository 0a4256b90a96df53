"""Tracing (issue 15 point 2): with ``PREDICTQL_TRACING`` on, a REST request and a GraphQL mutation over
HTTP each make one trace, request -> (GraphQL operation -> resolver ->) SQL statements and bus publishes,
recorded by the SDK's in-memory exporter; the log lines of the request carry its trace id, which is also
its request id. Off (the default), no span is made and the bus has no tracer."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from predictql import logs, tracing
from predictql.db import Database
from predictql.settings import ConfigError, Settings
from tests.api.test_lmsr_api import TRADE as REST_TRADE
from tests.api.test_lmsr_api import live_market, trader
from tests.conftest import make_settings
from tests.graphql.test_trading_graphql import TRADE as GQL_TRADE
from tests.graphql.test_trading_graphql import trade_input
from tests.subscriptions.conftest import live_app
from tests.subscriptions.test_graphql_subscriptions import MARKET
from tests.subscriptions.test_graphql_subscriptions import data as subscription_data
from tests.subscriptions.wsclient import GraphQLSocket
from tests.support import Kind, bearer, gid, lifespan_client

SQL_SCOPE = tracing.SQL_SCOPE
_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider (set once per process, as in production) records into memory."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    assert isinstance(trace.get_tracer_provider(), TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    yield _EXPORTER
    logs.trace_ids = logs._untraced  # later tests' apps are untraced: their log lines carry no trace id


@pytest.fixture
def traced_settings(database_url: str, data_dir: Path) -> Settings:
    return make_settings(database_url, data_dir, tracing=True, log_json=True, log_level="INFO")


@pytest.fixture
async def traced_client(
    traced_settings: Settings, db: Database, exporter: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    async with lifespan_client(traced_settings) as http:
        exporter.clear()
        yield http


@pytest.fixture
def app_logs(traced_client: httpx.AsyncClient) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The app's JSON log lines so far (create_app set the handlers: one more keeps the lines)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger("predictql")
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return trace.format_trace_id(span.context.trace_id)


def one_trace(spans: list[ReadableSpan], trace_id: str) -> list[ReadableSpan]:
    return [span for span in spans if hex_trace(span) == trace_id]


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    found = [other for other in spans if other.context is not None and other.context.span_id == span.parent.span_id]
    return found[0] if found else None


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    """Names from ``span``'s parent up to the root."""
    names = []
    current = parent_of(span, spans)
    while current is not None:
        names.append(current.name)
        current = parent_of(current, spans)
    return names


def sql_spans(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [span for span in spans if span.instrumentation_scope and span.instrumentation_scope.name == SQL_SCOPE]


async def test_a_rest_request_is_one_trace_down_to_sql_and_the_bus_and_its_logs_carry_the_trace_id(
    traced_client: httpx.AsyncClient,
    db: Database,
    traced_settings: Settings,
    exporter: InMemorySpanExporter,
    app_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    market = await live_market(db)
    _, token = await trader(db, traced_settings, balance=100_000)
    body = {"market_id": market.id, "side": "buy_yes", "amount_type": "spend", "amount": 5000}
    response = await traced_client.post(REST_TRADE, json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]

    spans = one_trace(list(exporter.get_finished_spans()), request_id)  # the request id IS the trace id
    (root,) = [span for span in spans if span.parent is None]
    assert root.kind == SpanKind.SERVER and root.name == f"POST {REST_TRADE}"
    assert root.attributes is not None and root.attributes["http.route"] == REST_TRADE
    statements = sql_spans(spans)
    assert len(statements) >= 3
    for statement in statements:
        assert ancestors(statement, spans)[-1] == root.name
    assert any(str((s.attributes or {}).get("db.statement", "")).startswith("UPDATE") for s in statements)
    published = [span for span in spans if span.name == "bus publish"]
    assert published, [span.name for span in spans]
    for span in published:
        assert span.kind == SpanKind.PRODUCER and ancestors(span, spans)[-1] == root.name
        assert span.attributes is not None and str(span.attributes["messaging.destination.name"])

    (line,) = [line for line in app_logs() if line["logger"] == "predictql.access" and line["path"] == REST_TRADE]
    assert line["request_id"] == request_id == line["trace_id"]
    assert root.context is not None and line["span_id"] == trace.format_span_id(root.context.span_id)


async def test_a_graphql_mutation_is_request_operation_resolver_sql(
    traced_client: httpx.AsyncClient,
    db: Database,
    traced_settings: Settings,
    exporter: InMemorySpanExporter,
    app_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    market = await live_market(db)
    _, token = await trader(db, traced_settings, balance=100_000)
    payload = {"query": GQL_TRADE, "variables": trade_input(market.id or 0, "buy_yes", 1500), "operationName": None}
    given = "client-given-id-1"
    response = await traced_client.post("/graphql", json=payload, headers={**bearer(token), "X-Request-Id": given})
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    assert response.headers["x-request-id"] == given  # a client's own id is kept...

    (root,) = [span for span in exporter.get_finished_spans() if span.parent is None and span.name == "POST /graphql"]
    spans = one_trace(list(exporter.get_finished_spans()), hex_trace(root))
    (operation,) = [span for span in spans if span.name.startswith("GraphQL mutation")]
    assert parent_of(operation, spans) is root
    assert operation.attributes is not None and operation.attributes["graphql.operation.type"] == "mutation"
    (resolver,) = [span for span in spans if span.name == "GraphQL Resolving: lmsrTrade"]
    assert parent_of(resolver, spans) is operation
    statements = sql_spans(spans)
    assert statements
    for statement in statements:  # some before the operation (who is calling), the rest below it
        assert ancestors(statement, spans)[-1] == root.name
    below_resolver = [s for s in statements if resolver.name in ancestors(s, spans)]
    assert any(str((s.attributes or {}).get("db.statement", "")).startswith("UPDATE") for s in below_resolver)
    assert any(resolver.name in ancestors(s, spans) for s in spans if s.name == "bus publish")
    # Nothing that may be secret: no document text, no argument values.
    for span in spans:
        keys = set(span.attributes or {})
        assert "query" not in keys and not any(key.startswith("graphql.param") for key in keys), (span.name, keys)

    (line,) = [line for line in app_logs() if line["logger"] == "predictql.access" and line["path"] == "/graphql"]
    assert line["request_id"] == given and line["trace_id"] == hex_trace(root)  # ...and the trace id logged beside it


async def test_a_callers_traceparent_continues_its_trace(
    traced_client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    header = f"00-{caller_trace}-00f067aa0ba902b7-01"
    response = await traced_client.post("/graphql", json={"query": "{ __typename }"}, headers={"traceparent": header})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == caller_trace
    (root,) = [span for span in exporter.get_finished_spans() if span.name == "POST /graphql"]
    assert hex_trace(root) == caller_trace and root.parent is not None and root.parent.is_remote


async def test_health_and_metrics_are_not_traced(
    traced_client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    assert (await traced_client.get("/api/v1/health")).status_code == 200
    assert not [span for span in exporter.get_finished_spans() if span.parent is None]


async def test_untraced_by_default(settings: Settings, db: Database, exporter: InMemorySpanExporter) -> None:
    assert settings.tracing is False and tracing.setup(settings) is None
    logs.trace_ids = logs._untraced
    async with lifespan_client(settings) as http:
        exporter.clear()
        response = await http.post("/graphql", json={"query": "{ __typename }"})
        assert response.status_code == 200
        assert len(response.headers["x-request-id"]) == 32
    assert list(exporter.get_finished_spans()) == []


def test_otel_sdk_disabled_wins(traced_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.setup(traced_settings) is None


def test_tracing_without_the_extra_fails_at_start(traced_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import opentelemetry -> ImportError
    with pytest.raises(ConfigError, match=r"predictql\[tracing\]"):
        tracing.setup(traced_settings)


def test_the_exporters_come_from_the_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    monkeypatch.setenv("OTEL_SERVICE_NAME", "predictql-eu")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.invalid:4318")
    provider = tracing._make_provider()
    assert provider.resource.attributes["service.name"] == "predictql-eu"
    exporters = [p.span_exporter for p in provider._active_span_processor._span_processors]  # type: ignore[attr-defined]
    (otlp,) = exporters
    assert isinstance(otlp, OTLPSpanExporter) and otlp._endpoint == "http://collector.invalid:4318/v1/traces"
    provider.shutdown()

    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    quiet = tracing._make_provider()
    assert quiet.resource.attributes["service.name"] == "predictql"
    assert quiet._active_span_processor._span_processors == ()  # type: ignore[attr-defined]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ConfigError, match="zipkin"):
        tracing._make_provider()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ConfigError, match="grpc"):
        tracing._make_provider()


async def test_a_subscription_over_a_websocket_works_traced_and_is_its_own_trace(
    settings: Settings, db: Database, exporter: InMemorySpanExporter
) -> None:
    market = await live_market(db)
    _, token = await trader(db, settings, balance=100_000)
    async with live_app(settings, tracing=True) as live:
        exporter.clear()
        async with GraphQLSocket(live.app) as ws:
            op = await ws.subscribe(MARKET, {"m": gid(Kind.MARKET, market.id or 0)})
            assert subscription_data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
            body = {"market_id": market.id, "side": "buy_yes", "amount_type": "spend", "amount": 5000}
            response = await live.http.post(REST_TRADE, json=body, headers=bearer(token))
            assert response.status_code == 200, response.text
            assert subscription_data(await ws.next(op), "marketUpdated")["kind"] == "LIVE"
            await ws.complete(op)
            await ws.nothing()
    spans = list(exporter.get_finished_spans())
    # The subscription's own span (from its start until its stream is handed to a fan-out sink, see
    # graphql_server/sinks.py) and the shared execution of the live message for every subscriber are
    # each their own trace; no connection-long span above them; every span is in one of the traces
    # (nothing orphaned).
    operation, *shared = [span for span in spans if span.name.startswith("GraphQL subscription")]
    (trade,) = [span for span in spans if span.name == f"POST {REST_TRADE}"]
    roots = [span.name for span in spans if span.parent is None]
    assert sorted(roots) == sorted([trade.name, operation.name, *(span.name for span in shared)])
    assert len({hex_trace(span) for span in [trade, operation, *shared]}) == 2 + len(shared)
    subscription = one_trace(spans, hex_trace(operation))
    assert "GraphQL Resolving: marketUpdated" in {span.name for span in subscription}
    assert sql_spans(subscription)  # the snapshot read, below the operation


def test_plain_log_lines_name_the_trace_when_the_request_id_is_not_it(monkeypatch: pytest.MonkeyPatch) -> None:
    record = logging.LogRecord("predictql.x", logging.INFO, __file__, 1, "hello", None, None)
    formatter = logs.PlainFormatter("%(message)s")
    monkeypatch.setattr(logs, "trace_ids", lambda: ("ab" * 16, "cd" * 8))
    token = logs.request_id.set("ab" * 16)
    try:
        assert formatter.format(record) == f"hello [{'ab' * 16}]"
        logs.request_id.set("client-id")
        assert formatter.format(record) == f"hello [client-id trace={'ab' * 16}]"
    finally:
        logs.request_id.reset(token)
