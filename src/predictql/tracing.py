"""OpenTelemetry tracing, optional (README "Tracing").

On only when ``PREDICTQL_TRACING=true``, the ``tracing`` extra is installed
(``pip install 'predictql[tracing]'``) and ``OTEL_SDK_DISABLED`` is not ``true``. Off, nothing here
imports OpenTelemetry and the app, the schema and the bus are built without a hook: the embedded
default pays nothing. On without the extra, start-up fails (``ConfigError``) rather than run untraced.

On, the spans are:

- one per HTTP request (``opentelemetry-instrumentation-asgi``, outermost, named ``METHOD /route/template``
  once routed; a ``traceparent`` header from the caller makes it part of the caller's trace). WebSockets
  get no connection-long span: each GraphQL operation over a socket is a trace of its own. ``/metrics``,
  ``/api/v1/health`` and ``/api/v1/ready`` are not traced (``OTEL_PYTHON_ASGI_EXCLUDED_URLS`` replaces
  that list);
- one per GraphQL operation, with parsing and validation below it, and one per resolver that is not a
  plain attribute (Strawberry's ``OpenTelemetryExtension``), without the document text and the argument
  values: they can hold passwords and tokens;
- one per SQL statement (``opentelemetry-instrumentation-sqlalchemy``'s ``EngineTracer`` on the app's engine);
- one per bus publish (``bus publish``, kind PRODUCER, the channel in ``messaging.destination.name``).

Export: the process's global tracer provider when one is set already (``opentelemetry-instrument``, or
a test's in-memory exporter); else one made here once per process, its resource from
``OTEL_SERVICE_NAME``/``OTEL_RESOURCE_ATTRIBUTES`` (service name ``predictql`` by default), its sampler
from ``OTEL_TRACES_SAMPLER``/``_ARG``, and the exporters named in ``OTEL_TRACES_EXPORTER``: ``otlp``
(the default: OTLP over HTTP/protobuf to ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_ENDPOINT``, with ``OTEL_EXPORTER_OTLP_HEADERS``..., through a batch processor tuned
by ``OTEL_BSP_*``), ``console``, ``none``.

Logs: while a span is active every log line carries its ``trace_id`` and ``span_id``
(``logs.trace_ids``), and a request that brought no ``X-Request-Id`` gets its trace id as its request
id, so the id a client sees in ``X-Request-Id`` finds the trace.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from predictql import logs
from predictql.settings import ConfigError, Settings

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine
    from strawberry.extensions import SchemaExtension

UNTRACED_URLS = "/metrics$,/api/v1/health$,/api/v1/ready$"  # regexes, searched in the request path
SQL_SCOPE = "opentelemetry.instrumentation.sqlalchemy"
SERVICE_NAME = "predictql"  # unless OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) says
_provider_lock = threading.Lock()
_own_provider: TracerProvider | None = None


def enabled(settings: Settings) -> bool:
    """Tracing is asked for (``PREDICTQL_TRACING``) and not vetoed by the standard ``OTEL_SDK_DISABLED``."""
    return settings.tracing and os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"


def setup(settings: Settings) -> Tracing | None:
    """The tracing hooks for one app, or None when tracing is off."""
    if not enabled(settings):
        return None
    try:  # every module of the extra that serving needs (the OTLP exporter: when it is chosen)
        import opentelemetry.instrumentation.asgi
        import opentelemetry.instrumentation.sqlalchemy.engine
        import opentelemetry.sdk.trace  # noqa: F401
        from opentelemetry import trace
    except ImportError as exc:  # the extra is not installed
        raise ConfigError("PREDICTQL_TRACING=true needs the tracing extra: pip install 'predictql[tracing]'") from exc
    provider = _provider()
    logs.trace_ids = current_ids
    return Tracing(provider, trace.get_tracer("predictql", tracer_provider=provider))


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the active span, in W3C hex; None outside any span."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def _provider() -> TracerProvider:
    """The global SDK provider if one is set; else one made from the ``OTEL_*`` variables, set global."""
    global _own_provider
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

    with _provider_lock:
        current = trace.get_tracer_provider()
        if isinstance(current, SdkTracerProvider):
            return current
        if _own_provider is None:
            _own_provider = _make_provider()
            trace.set_tracer_provider(_own_provider)
        return _own_provider


def _make_provider() -> TracerProvider:
    from opentelemetry.sdk.resources import SERVICE_NAME as SERVICE_NAME_KEY
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    resource = Resource.create()  # OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
    if str(resource.attributes.get(SERVICE_NAME_KEY, "unknown_service")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME_KEY: SERVICE_NAME}))
    provider = SdkTracerProvider(resource=resource)  # the sampler: OTEL_TRACES_SAMPLER
    names = [name.strip().lower() for name in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    for name in filter(None, names):
        if name == "none":
            continue
        if name == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
        else:
            raise ConfigError(f"OTEL_TRACES_EXPORTER={name!r}: predictql exports with otlp, console or none")
    return provider


def _otlp_exporter() -> Any:
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    )
    if protocol.strip() != "http/protobuf":
        raise ConfigError(f"OTLP protocol {protocol!r}: the tracing extra exports OTLP over HTTP (http/protobuf) only")
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ConfigError("the OTLP exporter needs the tracing extra: pip install 'predictql[tracing]'") from exc

    return OTLPSpanExporter()  # endpoint, headers, timeout, compression: the OTEL_EXPORTER_OTLP_* variables


class Tracing:
    """What ``create_app`` wires when tracing is on: the HTTP middleware, the engine's statement spans,
    the GraphQL extension and the bus's publish spans."""

    def __init__(self, provider: TracerProvider, tracer: Tracer) -> None:
        self.provider = provider
        self.tracer = tracer

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """One span per HTTP request around ``app`` (the gateway, so its logs are inside the span);
        WebSockets and the lifespan pass straight through."""
        from opentelemetry import trace
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.util.http import parse_excluded_urls

        from predictql.metrics import route_of

        async def named(scope: Scope, receive: Receive, send: Send) -> None:
            span = trace.get_current_span()  # the request's (the middleware ends it with the response)

            async def naming(message: Message) -> None:
                if message["type"] == "http.response.start":  # routed by now: name it by its template
                    route = route_of(scope)
                    span.update_name(f"{scope.get('method', '')} {route}")
                    span.set_attribute("http.route", route)
                await send(message)

            await app(scope, receive, naming)

        excluded = parse_excluded_urls(os.environ.get("OTEL_PYTHON_ASGI_EXCLUDED_URLS", UNTRACED_URLS))
        traced = OpenTelemetryMiddleware(named, tracer_provider=self.provider, exclude_spans=["receive", "send"])

        async def entry(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
            elif excluded.url_disabled(scope["path"]):  # no span, and none for its SQL either
                with self.untraced():
                    await app(scope, receive, send)
            else:
                await traced(scope, receive, send)

        return entry

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A span per SQL statement run on ``engine``, a child of whatever span is current."""
        from opentelemetry import metrics, trace
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.instrumentation.sqlalchemy.version import __version__

        tracer = trace.get_tracer(SQL_SCOPE, __version__, tracer_provider=self.provider)
        usage = metrics.get_meter(SQL_SCOPE).create_up_down_counter("db.client.connections.usage")
        EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]

    def untraced(self) -> AbstractContextManager[None]:
        """Tasks created inside make no spans: the background loops (a sweep every second would be a
        trace every second), so every trace starts at a request or a GraphQL operation."""
        from opentelemetry.instrumentation.utils import suppress_instrumentation

        return suppress_instrumentation()

    def graphql_extension(self) -> type[SchemaExtension]:
        return graphql_extension(self.provider)

    @contextmanager
    def publishing(self, system: str, channel: str, size: int) -> Iterator[None]:
        """The span of one bus publish (``subscriptions.bus.Bus.publish``)."""
        from opentelemetry.instrumentation.utils import is_instrumentation_enabled
        from opentelemetry.trace import SpanKind

        if not is_instrumentation_enabled():  # published by a background loop (``untraced``)
            yield
            return
        attributes: dict[str, str | int] = {
            "messaging.system": system,
            "messaging.operation.type": "send",
            "messaging.destination.name": channel,
            "messaging.message.body.size": size,
        }
        with self.tracer.start_as_current_span("bus publish", kind=SpanKind.PRODUCER, attributes=attributes):
            yield


def graphql_extension(provider: TracerProvider) -> type[SchemaExtension]:
    """Strawberry's OpenTelemetry extension, minus what may be secret: the operation span carries the
    operation's name and type, not the document (it can hold a password literal), and resolver spans
    carry their field path, not their arguments."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind
    from strawberry.extensions import LifecycleStep
    from strawberry.extensions.tracing import OpenTelemetryExtension

    def no_arguments(_args: dict[str, Any], _info: Any) -> dict[str, Any]:
        return {}

    class GraphQLSpans(OpenTelemetryExtension):
        def __init__(self, *, execution_context: Any = None) -> None:
            super().__init__(execution_context=execution_context, arg_filter=no_arguments, tracer_provider=provider)

        def on_operation(self) -> Iterator[None]:  # type: ignore[override]
            context = self.execution_context
            span = self._tracer.start_span("GraphQL operation", kind=SpanKind.INTERNAL)
            self._span_holder[LifecycleStep.OPERATION] = span
            span.set_attribute("component", "graphql")
            # Current for the whole operation, not only inside resolvers: what a subscription's stream
            # reads later (snapshots, replays) is below it too. A subscription's span lasts as long as it.
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                yield
            finally:  # a subscription ends by its stream being closed: GeneratorExit comes in here
                otel_context.detach(token)
                name = context.operation_name
                kind = _operation_type(context)
                span.update_name(f"GraphQL {kind} {name}" if name else f"GraphQL {kind}")
                if name:
                    span.set_attribute("graphql.operation.name", name)
                span.set_attribute("graphql.operation.type", kind)
                span.end()

    return GraphQLSpans


def _operation_type(context: Any) -> str:
    try:
        return str(context.operation_type.value)
    except Exception:  # the document did not parse: no operation
        return "operation"
