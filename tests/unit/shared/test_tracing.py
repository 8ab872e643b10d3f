"""The trace context rides in the envelope: kept when valid, dropped (never refused) when broken."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider

from shared import tracing
from shared.contracts.envelope import Envelope
from shared.settings import ServiceSettings
from tests.helpers.factories import customer_upserted

ROOT = Path(__file__).resolve().parents[3]
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


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that keeps what it is sent."""

    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


_EXPORT_ONE_SPAN = """
from shared import tracing
from shared.contracts.envelope import Envelope
from shared.settings import ServiceSettings
provider = tracing.configure(ServiceSettings(environment="test", service_name="qbb-probe", otel_enabled=True))
with tracing.consume_span(Envelope.new("sync.succeeded", {}), queue="probe.queue"):
    pass
provider.shutdown()
"""


def test_enabled_tracing_exports_spans_by_otlp_http_to_the_standard_endpoint_variable() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}"}
        done = subprocess.run(
            [sys.executable, "-c", _EXPORT_ONE_SPAN],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    ((path, body),) = _Collector.received
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    (span,) = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert path == "/v1/traces"
    assert attributes["service.name"] == "qbb-probe"
    assert span.name == "probe.queue process"
