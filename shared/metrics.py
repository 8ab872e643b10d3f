"""Prometheus metrics every service exposes at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_CONSUMED = Counter(
    "qbb_events_consumed_total", "Messages taken from a queue, by outcome", ["queue", "type", "outcome"]
)
EVENTS_PUBLISHED = Counter("qbb_events_published_total", "Events published by the outbox relay", ["type"])
OUTBOX_QUARANTINED = Counter(
    "qbb_outbox_quarantined_total", "Outbox rows set aside because they cannot be published", ["kind"]
)
EVENTS_RETRIED = Counter("qbb_events_retried_total", "Messages scheduled for a delayed retry", ["queue"])
EVENTS_DEAD_LETTERED = Counter(
    "qbb_events_dead_lettered_total", "Messages moved to a dead-letter queue", ["queue", "kind"]
)
HANDLER_SECONDS = Histogram(
    "qbb_handler_seconds",
    "Time a handler took, including its transaction",
    ["queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
