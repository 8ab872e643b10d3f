"""The pipeline benchmark's arithmetic: percentiles, write times from the request log, duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from bench.pipeline_stats import (
    batch_fill,
    count_429,
    deltas,
    duplicates,
    invoice_write_times,
    log_time,
    objects_per_minute,
    per_invoice,
    percentile,
    qbo_calls,
    summary_ms,
    written,
)


def entry(seq: int, time: str, **values: Any) -> dict[str, Any]:
    return {"seq": seq, "time": time, "status": 200, **values}


def batch(*items: tuple[str, str, str | None]) -> list[dict[str, Any]]:
    return [
        {"bId": f"b{i}", "entity": e, "operation": op, "fault_code": fault}
        for i, (e, op, fault) in enumerate(items)
    ]


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([5.0], 95) == 5.0
    assert percentile([], 50) is None
    assert percentile([10.0, 0.0], 100) == 10.0


def test_summary_reports_milliseconds() -> None:
    assert summary_ms([0.1, 0.2, 0.3]) == {"p50": 200.0, "p95": 290.0, "p99": 298.0, "max": 300.0, "n": 3}
    assert summary_ms([])["p95"] is None


def test_log_time_reads_the_sandbox_format() -> None:
    assert log_time({"time": "2026-11-22T03:46:47.250Z"}) == pytest.approx(1795319207.25)


def test_written_counts_successful_creates_only() -> None:
    items = batch(("Invoice", "create", None), ("Invoice", "create", "6140"), ("Customer", "create", None))
    assert written(entry(1, "t", operation="batch", items=items), "Invoice") == 1
    assert written(entry(1, "t", operation="batch", items=items)) == 2
    assert written(entry(1, "t", operation="create", entity="Invoice"), "Invoice") == 1
    assert written(entry(1, "t", operation="create:replay", entity="Invoice"), "Invoice") == 0
    assert written(entry(1, "t", operation="create", entity="Invoice") | {"status": 429}) == 0
    assert written(entry(1, "t", operation="query", entity="Invoice")) == 0


def test_write_times_follow_log_order_and_ids() -> None:
    log = [
        entry(7, "2026-11-22T00:00:02.000Z", operation="create", entity="Invoice"),
        entry(
            3,
            "2026-11-22T00:00:01.000Z",
            operation="batch",
            items=batch(
                ("Invoice", "create", None), ("Customer", "create", None), ("Invoice", "create", None)
            ),
        ),
    ]
    # Seeded invoices (ids 1, 2) were not created through the API; ids are numbers, not text.
    invoices = [
        {"Id": str(i), "DocNumber": d} for i, d in ((1, "1001"), (2, "1002"), (9, "A"), (10, "B"), (11, "C"))
    ]
    times = invoice_write_times(log, invoices)
    second = log_time({"time": "2026-11-22T00:00:01.000Z"})
    assert times == {"A": second, "B": second, "C": second + 1}


def test_write_times_are_empty_without_creates() -> None:
    assert invoice_write_times([], [{"Id": "1", "DocNumber": "1001"}]) == {}


def test_duplicates_and_missing_count_only_wanted_numbers() -> None:
    invoices = [{"DocNumber": n} for n in ("A", "A", "A", "B", "1001", "1001")]
    assert duplicates(invoices, {"A", "B", "C"}) == (2, 1)


def test_429s_are_counted() -> None:
    assert count_429([{"status": 429}, {"status": 200}, {"status": 429}]) == 2


def test_objects_per_minute_scales_and_skips_the_start() -> None:
    log = [
        entry(
            i,
            f"2026-11-22T00:00:{i:02d}.000Z",
            operation="batch",
            items=batch(*[("Invoice", "create", None)] * 30),
        )
        for i in range(0, 13)
    ]
    # 30 objects a second, a minute lasting 6 s at time scale 10: 30 * 6 = 180 per scaled minute.
    assert objects_per_minute(log, time_scale=10) == pytest.approx(180)
    assert objects_per_minute(log[:3] + log[9:], time_scale=10, skip_minutes=1) == pytest.approx(180)
    assert objects_per_minute(log[:1], time_scale=1) is None


def test_calls_count_every_answer_and_batch_fill_counts_items() -> None:
    log = [
        entry(1, "t", operation="batch", items=batch(*[("Invoice", "create", None)] * 30)),
        entry(
            2, "t", operation="batch", items=batch(("Invoice", "create", None), ("Invoice", "create", "6140"))
        ),
        entry(3, "t", operation="query", entity="Customer"),
        entry(4, "t", operation="create", entity="Invoice") | {"status": 429},
    ]
    assert qbo_calls(log) == 4
    assert batch_fill(log) == (2, 32)
    assert batch_fill(log[2:]) == (0, 0)


def test_deltas_subtract_and_new_counters_start_at_zero() -> None:
    assert deltas({"a": 10, "b": 1}, {"a": 15, "b": 1, "c": 4}) == {"a": 5, "b": 0, "c": 4}


def test_per_invoice_scales_rounds_and_refuses_nothing() -> None:
    assert per_invoice(1.5, 300, scale=1000) == 5.0
    assert per_invoice(10, 3, digits=3) == 3.333
    assert per_invoice(10, 0) is None
    assert per_invoice(None, 5) is None
