"""What every QBO call leaves behind: a CLIENT span and metrics by endpoint, status and fault code.

Realms are span attributes, not metric labels: one deployment serves thousands of realms, and a
label per realm would multiply every series by that many.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

from shared import tracing
from shared.qbo.errors import QboFault

QBO_REQUESTS = Counter(
    "qbb_qbo_requests_total",
    "Calls to QuickBooks Online, by endpoint, method, HTTP status (or 'unreachable') and fault code",
    ["endpoint", "method", "status", "fault_code"],
)
QBO_SECONDS = Histogram(
    "qbb_qbo_request_seconds",
    "Time a QBO call took, the realm limiter's wait included",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
LIMITER_WAIT = Histogram(
    "qbb_qbo_limiter_wait_seconds",
    "Time a call waited for a slot of its realm's limiter (Intuit's per-realm limits)",
    ["batch"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


def endpoint_of(path: str) -> str:
    """The first segment of a QBO path, lowercased: the entity (``invoice``), ``query``, ``batch``..."""
    return path.split("/", 1)[0].split("?", 1)[0].lower()


@dataclass
class Call:
    """One QBO call in flight; ``finished`` records how it ended."""

    span: Span
    endpoint: str
    method: str
    started: float = field(default_factory=time.perf_counter)
    done: bool = False

    def finished(self, status: int, headers: Mapping[str, str], fault: QboFault | None) -> None:
        """Record the answer: status, fault code and Intuit's transaction id."""
        self.done = True
        code = fault.code if fault is not None else ""
        QBO_REQUESTS.labels(self.endpoint, self.method, str(status), code).inc()
        QBO_SECONDS.labels(self.endpoint).observe(time.perf_counter() - self.started)
        self.span.set_attribute("http.response.status_code", status)
        if tid := headers.get("intuit_tid"):
            self.span.set_attribute("qbo.intuit_tid", tid)
        if fault is not None:
            self.span.set_attribute("qbo.fault_code", code)
            self.span.set_status(Status(StatusCode.ERROR, f"QBO fault {code}"))


@contextmanager
def qbo_call(realm_id: str, method: str, path: str, *, operation: str | None = None) -> Iterator[Call]:
    """Span and metrics around one HTTP exchange with QBO (``finished`` is called with its answer)."""
    endpoint = endpoint_of(path)
    attributes = {"qbo.realm_id": realm_id, "qbo.endpoint": endpoint, "http.request.method": method}
    if operation:
        attributes["qbo.operation"] = operation
    with tracing.tracer().start_as_current_span(
        f"QBO {method} {endpoint}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        call = Call(span, endpoint, method)
        try:
            yield call
        finally:
            if not call.done:  # no answer: unreachable, timed out, or cancelled
                QBO_REQUESTS.labels(endpoint, method, "unreachable", "").inc()
                QBO_SECONDS.labels(endpoint).observe(time.perf_counter() - call.started)


def limiter_waited(seconds: float, *, batch: bool) -> None:
    """Record how long a call waited for its realm's limiter."""
    LIMITER_WAIT.labels("true" if batch else "false").observe(seconds)
