"""The chaos verdict: clean only when nothing is lost, doubled, wrong, left behind or answered 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.chaos_report import verdict, write_results


def _figures(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "seed": 1,
        "tenants": 1,
        "invoices_per_tenant": 1,
        "events": 1,
        "duplicates_sent": 0,
        "outcomes": {"sync.succeeded": 1},
        "lost": 0,
        "doubled_outcomes": 0,
        "missing_in_qbo": 0,
        "doubled_in_qbo": 0,
        "wrong_amounts": 0,
        "unexpected_in_qbo": 0,
        "left_in_queues": 0,
        "left_in_outboxes": {"mapper": 0},
        "faults": {"sigkill:mapper": 1},
        "bad_input": {"kinds": ["nan"], "http_statuses": {"422": 1}},
        "dead_letters": {"by_queue_and_kind": {"mapper.platform-events:invalid": 1}, "without_reason": 0},
        "seconds_to_drain_after_last_fault": 1.0,
        "run_seconds": 2.0,
    }
    return base | overrides


def test_a_clean_run_is_clean_and_written(tmp_path: Path) -> None:
    assert verdict(_figures())
    write_results(_figures(), tmp_path)
    assert "Verdict: **clean**" in (tmp_path / "chaos.md").read_text()
    assert '"clean": true' in (tmp_path / "chaos.json").read_text()


def test_any_loss_doubling_leftover_500_or_missing_reason_is_not_clean() -> None:
    assert not verdict(_figures(lost=1))
    assert not verdict(_figures(doubled_in_qbo=1))
    assert not verdict(_figures(left_in_outboxes={"mapper": 2}))
    assert not verdict(_figures(bad_input={"kinds": [], "http_statuses": {"500": 1}}))
    assert not verdict(_figures(dead_letters={"by_queue_and_kind": {}, "without_reason": 1}))
