"""Traces across services: OpenTelemetry spans around each consumed message and each outbox publish.

The W3C trace context travels inside the CloudEvents envelope as the distributed-tracing
extension (``traceparent``, ``tracestate``), so it survives the outbox table and the broker: an
event staged while a message is handled carries the handler's span as its parent, and the next
consumer continues that trace. Spans are exported by OTLP/HTTP only when ``QBB_OTEL_ENABLED``
(endpoint from the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``); otherwise the OpenTelemetry API's
no-op tracer still passes the context through unchanged, so a platform's trace is never cut.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.contracts.envelope import Envelope
from shared.settings import ServiceSettings

T = TypeVar("T")
TRACER_NAME = "qbo-bridge"
EXCHANGE = "qbo-bridge.events"
_propagator = TraceContextTextMapPropagator()


def configure(settings: ServiceSettings) -> TracerProvider | None:
    """Install an OTLP-exporting tracer provider when tracing is enabled; returns it for shutdown."""
    if not settings.otel_enabled:
        return None
    # Imported here: the exporter (and protobuf) load only in processes that export.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def trace_context(envelope: Envelope) -> dict[str, str]:
    """The envelope's trace context as W3C headers (empty when it carries none)."""
    found = {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}
    return {k: v for k, v in found.items() if v}


def stamp(envelope: Envelope) -> Envelope:
    """``envelope`` carrying the current span's context; unchanged when there is no current span."""
    headers: dict[str, str] = {}
    _propagator.inject(headers)
    if "traceparent" not in headers:
        return envelope
    return envelope.model_copy(
        update={"traceparent": headers["traceparent"], "tracestate": headers.get("tracestate")}
    )


def current_context() -> dict[str, str]:
    """The current span's W3C trace context (``traceparent``, ``tracestate``), for work recorded now
    and done later (an export job); empty outside any span."""
    headers: dict[str, str] = {}
    _propagator.inject(headers)
    return headers


@contextmanager
def continuing(traceparent: str | None, tracestate: str | None = None) -> Iterator[None]:
    """Make a stored trace context current: spans started inside (the QBO write) are its children,
    and events staged inside carry it on. Without a ``traceparent``, nothing changes."""
    if not traceparent:
        yield
        return
    carrier = {"traceparent": traceparent, **({"tracestate": tracestate} if tracestate else {})}
    token = otel_context.attach(_propagator.extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def consume_span(envelope: Envelope, *, queue: str) -> Iterator[Span]:
    """A CONSUMER span for handling one message, continuing the trace its envelope carries."""
    parent = _propagator.extract(trace_context(envelope))
    with tracer().start_as_current_span(
        f"{queue} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=_attributes(envelope, destination=queue, operation="process"),
    ) as span:
        yield span


@contextmanager
def publish_span(envelope: Envelope) -> Iterator[Span]:
    """A PRODUCER span for relaying one outbox event, a child of the span that staged it."""
    parent = _propagator.extract(trace_context(envelope))
    with tracer().start_as_current_span(
        f"{envelope.type} publish",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes=_attributes(envelope, destination=EXCHANGE, operation="publish"),
    ) as span:
        yield span


@contextmanager
def resumed_span(envelope: Envelope, *, name: str) -> Iterator[Span]:
    """An INTERNAL span for an event taken up again later (one held until its company's lists are
    imported): it continues the event's own trace, not that of whatever released it, which is
    linked instead. Events staged inside carry the event's trace on."""
    parent = _propagator.extract(trace_context(envelope))
    releaser = trace.get_current_span().get_span_context()
    with tracer().start_as_current_span(
        name,
        context=parent,
        kind=SpanKind.INTERNAL,
        links=[trace.Link(releaser)] if releaser.is_valid else None,
        attributes=_event_attributes(envelope),
    ) as span:
        yield span


def mark_failed(reason: str) -> None:
    """Mark the current span as failed (a message dead-lettered, a write given up)."""
    trace.get_current_span().set_status(Status(StatusCode.ERROR, reason[:500]))


def tracer() -> trace.Tracer:
    """The product's tracer (the no-op one unless ``configure`` installed a provider)."""
    # Looked up at each use, so a provider installed after import (by ``configure``) applies.
    return trace.get_tracer(TRACER_NAME)


def _attributes(envelope: Envelope, *, destination: str, operation: str) -> dict[str, Any]:
    return {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": destination,
        "messaging.operation.type": operation,
        "messaging.message.id": envelope.id,
        "messaging.rabbitmq.destination.routing_key": envelope.type,
        **_event_attributes(envelope),
    }


def _event_attributes(envelope: Envelope) -> dict[str, Any]:
    found = {
        "cloudevents.event_id": envelope.id,
        "cloudevents.event_type": envelope.type,
        "cloudevents.event_source": envelope.source,
        "cloudevents.event_subject": envelope.subject,
        "qbb.tenant_id": envelope.tenantid,
        "qbb.realm_id": envelope.realmid,
        "qbb.correlation_id": envelope.correlation_id,
    }
    return {k: v for k, v in found.items() if v is not None}


async def consumed(envelope: Envelope, *, queue: str, work: Awaitable[T]) -> T:
    """Await ``work`` (handling one message) inside its consume span."""
    with consume_span(envelope, queue=queue):
        return await work


async def published(envelope: Envelope, work: Awaitable[T]) -> T:
    """Await ``work`` (publishing one outbox event) inside its publish span."""
    with publish_span(envelope):
        return await work
