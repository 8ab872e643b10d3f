"""A small OTLP/HTTP trace receiver for tests: services export their spans to it as a collector would.

The services' own OTLP exporter posts protobuf ``ExportTraceServiceRequest`` bodies to
``<endpoint>/v1/traces``; they are decoded with opentelemetry-proto (the exporter's own dependency)
and kept in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers.receiver import serving_app
from tests.helpers.sandbox import free_port

CONSUMER = ProtoSpan.SPAN_KIND_CONSUMER
PRODUCER = ProtoSpan.SPAN_KIND_PRODUCER
CLIENT = ProtoSpan.SPAN_KIND_CLIENT


@dataclass(frozen=True)
class Span:
    """One exported span, ids in hex as in a ``traceparent`` (``parent_id`` is ``""`` for a root)."""

    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]

    def attr(self, key: str) -> Any:
        return self.attributes.get(key)


@dataclass
class Collector:
    """What the receiver got; ``url`` is the value for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""

    url: str
    spans: list[Span] = field(default_factory=list)

    async def wait_for(self, match: Callable[[Span], bool], *, timeout: float) -> Span:
        """The first span ``match`` accepts, waiting up to ``timeout`` seconds for it to arrive."""
        async with asyncio.timeout(timeout):
            while True:
                if found := [s for s in self.spans if match(s)]:
                    return found[0]
                await asyncio.sleep(0.05)

    async def ancestry(self, span: Span, *, root: str, timeout: float) -> list[Span]:
        """``span`` and its ancestors, nearest first, up to the span whose parent is ``root``.

        A parent ends (and is exported) after its children, so this waits up to ``timeout`` for each
        link; a parent that never arrives, or a chain ending elsewhere than ``root``, fails the wait.
        """
        chain = [span]
        while (parent_id := chain[-1].parent_id) != root:
            assert parent_id, f"{chain[-1].name!r} ({chain[-1].service}) is a root, not under {root}"
            try:
                chain.append(await self.wait_for(lambda s: s.span_id == parent_id, timeout=timeout))
            except TimeoutError:
                raise AssertionError(f"the parent {parent_id} of {chain[-1].name!r} never arrived") from None
        return chain


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


def decode(body: bytes) -> list[Span]:
    """The spans of one ``ExportTraceServiceRequest``."""
    request = ExportTraceServiceRequest.FromString(body)
    spans: list[Span] = []
    for resource_spans in request.resource_spans:
        service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            spans += [
                Span(
                    service=service,
                    name=s.name,
                    kind=s.kind,
                    trace_id=s.trace_id.hex(),
                    span_id=s.span_id.hex(),
                    parent_id=s.parent_span_id.hex(),
                    attributes=_attributes(s.attributes),
                )
                for s in scope_spans.spans
            ]
    return spans


@contextlib.asynccontextmanager
async def collecting() -> AsyncIterator[Collector]:
    """An OTLP/HTTP (protobuf) trace receiver serving in this event loop while the block runs."""
    port = free_port()
    collector = Collector(url=f"http://127.0.0.1:{port}")

    async def traces(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        collector.spans += decode(body)
        answer = ExportTraceServiceResponse().SerializeToString()
        return Response(answer, media_type="application/x-protobuf")

    async with serving_app(Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])]), port):
        yield collector
