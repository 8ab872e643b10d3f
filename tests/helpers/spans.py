"""The OpenTelemetry SDK's in-memory exporter, installed once per test process (a library's test seam)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_EXPORTER = InMemorySpanExporter()


def recorded_spans() -> InMemorySpanExporter:
    """The process's span recorder; the global tracer provider is set once and cannot be replaced."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if not getattr(provider, "_qbb_recording", False):
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        provider._qbb_recording = True  # type: ignore[attr-defined]
    return _EXPORTER


async def wait_for_span(
    exporter: InMemorySpanExporter, match: Callable[[ReadableSpan], bool], *, timeout: float
) -> ReadableSpan:
    """The first finished span ``match`` accepts, waiting up to ``timeout`` seconds for it."""
    async with asyncio.timeout(timeout):
        while True:
            found = [s for s in exporter.get_finished_spans() if match(s)]
            if found:
                return found[0]
            await asyncio.sleep(0.05)


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    """The span's trace id and span id as in a ``traceparent``."""
    assert span.context is not None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")
