"""Issue 19's targets judged from scenario results, and the report that shows them."""

from __future__ import annotations

from typing import Any

from bench.pipeline_report import markdown
from bench.pipeline_targets import verdicts


def result(role: str, name: str | None = None, **bridge: Any) -> dict[str, Any]:
    """A scenario result with good figures unless told otherwise."""
    figures = {
        "invoices": 100,
        "succeeded": 100,
        "failed": 0,
        "rejected": 0,
        "missing": 0,
        "no_outcome": 0,
        "invoices_per_second": 200.0,
        "publish_to_write_ms": {"p50": 40.0, "p95": 90.0, "p99": 120.0},
        "publish_to_succeeded_ms": {"p50": 60.0, "p95": 110.0, "p99": 150.0},
        "objects_per_minute_per_realm_min": 1150,
        "qbo_calls_per_invoice": 0.05,
        "batch_fill": 28.0,
        "throttled_429": 0,
        "duplicates": 0,
        "completed_before_timeout": True,
    } | bridge
    scenario = {"name": name or role, "role": role, "realms": 100, "invoices_per_realm": 1}
    scenario |= {"sandbox_latency_ms": 0, "limits": "off", "time_scale": 1, "sequential": False}
    scenario |= {"finished_jobs": 1_000_000 * (role == "history-finished")}
    scenario |= {"backlog_jobs": 50_000 * (role == "history-backlog")}
    return {
        "scenario": scenario,
        "bridge": figures,
        "costs": {
            "invoices_counted": 100,
            "cpu_ms_per_invoice": {"services": 4.0, "exporter": 2.0, "postgres": 1.0},
            "db_per_invoice": {"transactions": 2.0, "rows_read": 12.0},
        },
        "baseline": {"invoices_per_second": 10.0, "invoices": 50, "planned": 100},
        "baseline_parallel": {"invoices_per_second": 150.0, "invoices": 100, "planned": 100},
        "ratio_to_sequential": 20.0,
        "ratio_to_parallel": 1.33,
        "resources": {"exporter": {"peak_rss_mb": 140.0}, "sandbox": {"peak_rss_mb": 400.0}},
    }


def every_role(**changes: dict[str, Any]) -> list[dict[str, Any]]:
    roles = (
        "latency",
        "realms",
        "backlog",
        "ceiling",
        "history-empty",
        "history-backlog",
        "history-finished",
    )
    out = [result(r) for r in roles]
    for r in out:
        for path, value in changes.get(r["scenario"]["role"], {}).items():
            *parents, leaf = path.split(".")
            target = r
            for p in parents:
                target = target[p]
            target[leaf] = value
    return out


def by_target(results: list[dict[str, Any]]) -> dict[str, bool | None]:
    return {v.target: v.met for v in verdicts(results)}


def test_every_target_is_met_by_good_figures() -> None:
    found = by_target(every_role())
    assert len(found) == 14
    assert all(found.values()), found


def test_each_target_fails_on_its_own_figure() -> None:
    bad = every_role(
        ceiling={"bridge.invoices_per_second": 149.9, "costs.cpu_ms_per_invoice": {"services": 10.5}},
        backlog={"bridge.objects_per_minute_per_realm_min": 1000, "bridge.qbo_calls_per_invoice": 0.2},
        latency={"bridge.publish_to_write_ms": {"p95": 251.0}},
        realms={"ratio_to_sequential": 9.9, "ratio_to_parallel": 0.9, "bridge.duplicates": 1},
        **{"history-finished": {"costs.db_per_invoice": {"rows_read": 19.0}, "bridge.throttled_429": 2}},
    )
    bad[0]["resources"]["webhooks"] = {"peak_rss_mb": 201.0}
    found = by_target(bad)
    assert sum(1 for met in found.values() if met is False) == 11
    # 19 rows read against 12 empty is 1.58x; CPU stayed flat, and so did the backlog's scenario.
    assert {t for t, met in found.items() if met} == {
        "flat with 1,000,000 finished jobs: service CPU ms/invoice ≤ 1.5x the empty table's",
        "flat with a 50,000-job backlog: service CPU ms/invoice ≤ 1.5x the empty table's",
        "flat with a 50,000-job backlog: rows read/invoice ≤ 1.5x the empty table's",
    }


def test_a_target_without_its_scenario_is_not_measured_rather_than_met() -> None:
    found = verdicts([result("latency")])
    ceiling = [v for v in found if v.target.startswith("≥ 150 invoices/s")]
    assert ceiling[0].met is None
    assert ceiling[0].measured == "not measured"


def test_the_report_shows_targets_and_every_table() -> None:
    text = markdown(every_role(), verdicts(every_role()), command="make bench", machine="2 cores")
    for heading in ("Targets", "Throughput and latency", "Cost per invoice", "python-quickbooks", "History"):
        assert heading in text
    assert "not met" not in text
    assert "| 200.0 | 40 / 90 / 120 |" in text


def test_a_failed_scenario_is_listed_and_its_targets_are_not_measured() -> None:
    results = [*every_role()[1:], {"scenario": {"name": "one-invoice", "role": "latency"}, "error": "Boom()"}]
    found = verdicts(results)
    assert [v.met for v in found if "one invoice at a time" in v.target] == [None]
    text = markdown(results, found, command="make bench", machine="2 cores")
    assert "- one-invoice: `Boom()`" in text
