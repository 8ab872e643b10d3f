"""The trace context rides in the envelope: kept when valid, dropped (never refused) when broken."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from shared import tracing
from shared.contracts.envelope import Envelope
from shared.settings import ServiceSettings
from tests.helpers.factories import customer_upserted

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_an_event_inherits_the_trace_context_of_its_cause() -> None:
    cause = customer_upserted().model_copy(update={"traceparent": TRACEPARENT, "tracestate": "qbb=1"})
    effect = Envelope.new("sync.succeeded", {}, cause=cause)
    assert (effect.traceparent, effect.tracestate) == (TRACEPARENT, "qbb=1")


def test_a_broken_trace_header_is_dropped_and_the_event_still_decodes() -> None:
    body = customer_upserted().model_dump(mode="json") | {"traceparent": 42, "tracestate": "x" * 600}
    envelope = Envelope.model_validate(body)
    assert (envelope.traceparent, envelope.tracestate) == (None, None)


def test_the_trace_context_survives_the_wire_format() -> None:
    envelope = customer_upserted().model_copy(update={"traceparent": TRACEPARENT})
    assert Envelope.model_validate_json(envelope.to_json_bytes()).traceparent == TRACEPARENT


def test_stamping_outside_any_span_leaves_the_event_as_it_is() -> None:
    envelope = customer_upserted().model_copy(update={"traceparent": TRACEPARENT})
    assert tracing.stamp(envelope) is envelope


def test_stamping_inside_a_span_makes_that_span_the_events_parent() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("handler") as span:
        stamped = tracing.stamp(customer_upserted())
    context = span.get_span_context()
    assert stamped.traceparent is not None
    assert stamped.traceparent.split("-")[1:3] == [
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
    ]


def test_tracing_is_off_unless_enabled() -> None:
    assert tracing.configure(ServiceSettings(environment="test")) is None
    assert ServiceSettings(environment="test", otel_enabled=True).otel_enabled
