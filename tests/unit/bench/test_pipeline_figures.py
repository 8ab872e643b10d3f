"""A scenario's figures from publish times, outcomes and the sandbox's records."""

from __future__ import annotations

from typing import Any

import pytest

from bench.pipeline_figures import Sent, bridge_figures, cost_figures
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


def test_figures_count_calls_and_batch_fill_over_every_realm() -> None:
    at = log_time({"time": T0})
    sent = [Sent("r1", "A", "e1", at - 0.2), Sent("r1", "B", "e2", at - 0.1), Sent("r2", "C", "e3", at - 0.3)]
    figures = bridge_figures(
        sent, {}, {"r1": records("A", "B"), "r2": records("C")}, time_scale=1, skip_minutes=0
    )
    # Per realm: one batch (2 items, then 1) and one 429: 4 calls over 3 invoices; 3 items in 2 batches.
    assert (figures["qbo_calls"], figures["batch_requests"], figures["batch_fill"]) == (4, 2, 1.5)
    assert figures["qbo_calls_per_invoice"] == pytest.approx(1.333)


def test_costs_per_invoice_sum_the_services_only_and_read_the_database_counters() -> None:
    cpu = {"auth": 0.1, "mapper": 1.0, "exporter": 2.0, "webhooks": 0.9, "console": 0.0, "sandbox": 5.0}
    cpu |= {"postgres": 3.0, "bench-client": 1.0}
    database = {"xact_commit": 900, "xact_rollback": 100, "seq_tup_read": 5000, "idx_tup_fetch": 1000}
    database |= {"n_tup_ins": 1700, "n_tup_upd": 900, "n_tup_del": 400}
    costs = cost_figures(cpu, database, invoices=100)
    assert costs["cpu_ms_per_invoice"]["services"] == pytest.approx(40.0)
    assert costs["cpu_ms_per_invoice"]["postgres"] == pytest.approx(30.0)
    assert costs["cpu_ms_per_invoice"]["sandbox"] == pytest.approx(50.0)
    db = costs["db_per_invoice"]
    assert (db["transactions"], db["commits"], db["rollbacks"]) == (10.0, 9.0, 1.0)
    assert (db["rows_read"], db["seq_rows_read"], db["index_rows_fetched"]) == (60.0, 50.0, 10.0)
    assert (db["inserted"], db["updated"], db["deleted"]) == (17.0, 9.0, 4.0)


def test_costs_of_no_invoice_are_unknown_not_zero() -> None:
    costs = cost_figures({"exporter": 1.0}, {"xact_commit": 10}, invoices=0)
    assert costs["cpu_ms_per_invoice"]["services"] is None
    assert costs["db_per_invoice"]["transactions"] is None
