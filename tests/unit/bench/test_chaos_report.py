"""The chaos verdict: clean only when nothing is lost, doubled, wrong, left behind or answered 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.chaos_faults import KINDS
from bench.chaos_report import verdict, write_results


def _bad_input(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kinds": {"poison:nan": 1},
        "http_statuses": {"422": 1},
        "server_errors": [],
        "server_error_count": 0,
        "cross_tenant_leaks": [],
        "webhooks": {"forged:no-signature:401": 1},
        "bulk_lines": {"admitted": 1, "refused": 1},
        "bulk_problems": [],
        "bulk_problem_count": 0,
    }
    return base | overrides


def _figures(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "seed": 1,
        "tenants": 1,
        "invoices_per_tenant": 1,
        "load": {
            "stories": 1,
            "events_by_type": {"invoice.approved": 1},
            "deliveries": 2,
            "repeated_deliveries": 1,
            "update_before_create": 0,
            "void_before_create": 0,
        },
        "all_settled": True,
        "outcomes": {"invoice.approved→sync.succeeded:create": 1},
        "lost": 0,
        "doubled_outcomes": 0,
        "failed": 0,
        "missing_in_qbo": 0,
        "doubled_in_qbo": 0,
        "wrong_amounts": 0,
        "wrong_void_state": 0,
        "void_before_create_live": 0,
        "wrong_payments": 0,
        "unexpected_in_qbo": 0,
        "bad_input_unaccounted": 0,
        "left_in_queues": 0,
        "left_in_outboxes": {"mapper": 0},
        "unfinished_jobs": {},
        "sandbox_writes": {"Invoice:create:200": 1},
        "faults": dict.fromkeys(KINDS, 1),
        "crash_points": {
            "phases": {"exporter.after_write": "exporter.after_write#2", "mixed": "a@0.5,b#2"},
            "replicas": ["mapper", "exporter"],
            "hits": {"exporter.after_write": {"exporter.after_write": 2}, "mixed": {"a": 1, "b": 3}},
            "restarts": {},
        },
        "bad_input": _bad_input(),
        "dead_letters": {"by_queue_and_kind": {"mapper.platform-events:invalid": 1}, "without_reason": 0},
        "seconds_to_drain_after_last_fault": 1.0,
        "load_to_drained_seconds": 3.0,
        "run_seconds": 2.0,
    }
    return base | overrides


def test_a_clean_run_is_clean_and_written(tmp_path: Path) -> None:
    assert verdict(_figures())
    write_results(_figures(), tmp_path)
    assert "Verdict: **clean**" in (tmp_path / "chaos.md").read_text()
    assert '"clean": true' in (tmp_path / "chaos.json").read_text()


def test_any_loss_doubling_wrong_state_leftover_5xx_or_missing_reason_is_not_clean() -> None:
    assert not verdict(_figures(lost=1))
    assert not verdict(_figures(doubled_in_qbo=1))
    assert not verdict(_figures(wrong_payments=1))
    assert not verdict(_figures(wrong_void_state=1))
    assert not verdict(_figures(bad_input_unaccounted=1))
    assert not verdict(_figures(all_settled=False))
    assert not verdict(_figures(left_in_outboxes={"mapper": 2}))
    assert not verdict(_figures(bad_input=_bad_input(server_error_count=1)))
    assert not verdict(_figures(bad_input=_bad_input(cross_tenant_leaks=["x"])))
    assert not verdict(_figures(dead_letters={"by_queue_and_kind": {}, "without_reason": 1}))
    assert not verdict(_figures(void_before_create_live=1))
    assert not verdict(_figures(bad_input=_bad_input(bulk_problem_count=1)))


def test_a_fault_kind_or_crash_point_never_exercised_is_not_clean() -> None:
    assert not verdict(_figures(faults=dict.fromkeys(KINDS[1:], 1)))
    crash = _figures()["crash_points"]
    assert not verdict(_figures(crash_points=crash | {"hits": {**crash["hits"], "mixed": {"a": 0, "b": 1}}}))
    assert not verdict(_figures(crash_points=crash | {"hits": {"mixed": {"a": 1, "b": 1}}}))
