"""A scenario's figures from publish times, outcomes and the sandbox's records."""

from __future__ import annotations

from typing import Any

import pytest

from bench.pipeline_figures import Sent, bridge_figures
from bench.pipeline_stats import log_time

T0 = "2026-11-22T00:00:01.000Z"


def records(*numbers: str, duplicate: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One batch creating ``numbers`` at T0 (plus an earlier single create of ``duplicate``)."""
    items = [
        {"bId": f"b{i}", "entity": "Invoice", "operation": "create", "fault_code": None}
        for i in range(len(numbers))
    ]
    log = [{"seq": 2, "time": T0, "status": 200, "operation": "batch", "items": items}]
    invoices = [{"Id": str(10 + i), "DocNumber": n} for i, n in enumerate(numbers)]
    if duplicate is not None:
        log.insert(0, {"seq": 1, "time": T0, "status": 200, "operation": "create", "entity": "Invoice"})
        invoices.insert(0, {"Id": "9", "DocNumber": duplicate})
    log.append({"seq": 3, "time": T0, "status": 429, "operation": None})
    return log, invoices


def test_figures_count_outcomes_latencies_duplicates_and_429s() -> None:
    at = log_time({"time": T0})
    sent = [Sent("r1", "A", "e1", at - 0.2), Sent("r1", "B", "e2", at - 0.1), Sent("r2", "C", "e3", at - 0.3)]
    outcomes = {"e1": ("sync.succeeded", at + 0.05), "e2": ("sync.failed", at + 0.5)}
    figures = bridge_figures(
        sent,
        outcomes,
        {"r1": records("A", "B", duplicate="A"), "r2": records()},
        time_scale=1,
        skip_minutes=0,
    )
    assert (figures["succeeded"], figures["failed"], figures["rejected"], figures["no_outcome"]) == (
        1,
        1,
        0,
        1,
    )
    assert (figures["duplicates"], figures["missing"], figures["throttled_429"]) == (1, 1, 2)
    assert figures["correlated_writes"] == 2
    assert figures["publish_to_write_ms"]["max"] == pytest.approx(200.0)
    assert figures["publish_to_succeeded_ms"]["p50"] == pytest.approx(250.0)
    assert figures["writes_logged_after_their_outcome"] == 0
    assert figures["seconds_first_publish_to_last_outcome"] == pytest.approx(0.8)
