"""Dashboard and alerts read only metrics the code defines, parse, and the alerts fire when they should."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.observability import (
    ALERTS,
    DASHBOARD,
    EXTERNAL,
    OBSERVABILITY,
    ROOT,
    alert_rules,
    dashboard_expressions,
    defined_metrics,
    family,
    used_metrics,
)

RUNBOOK = ROOT / "docs" / "runbook.md"
# The alerts the on-call person relies on (issue 16); renaming one must be deliberate.
REQUIRED_ALERTS = {
    "QbbDeadLetterQueueGrowing",
    "QbbQueueNotConsumed",
    "QbbOutboxLagging",
    "QbbServiceDown",
    "QbbExportFailuresRising",
    "QbbNoSuccessfulWrite",
    "QbbQboThrottled",
    "QbbConnectionNeedsReauthorization",
}


def test_the_metric_finder_sees_the_definitions_it_should() -> None:
    assert {
        "qbb_events_consumed",
        "qbb_handler_seconds",
        "qbb_queue_messages",
        "qbb_qbo_requests",
    } <= defined_metrics()
    assert used_metrics('sum(rate(qbb_x_total{type="qbb_not_a_metric"}[5m])) / up{a="b"}') == {
        "qbb_x_total",
        "up",
    }


def test_every_metric_an_alert_uses_is_defined_in_the_code() -> None:
    defined = defined_metrics() | EXTERNAL
    missing = {
        name for rule in alert_rules() for name in used_metrics(rule["expr"]) if family(name) not in defined
    }
    assert not missing


def test_every_metric_the_dashboard_uses_is_defined_in_the_code() -> None:
    defined = defined_metrics() | EXTERNAL
    missing = {
        name for expr in dashboard_expressions() for name in used_metrics(expr) if family(name) not in defined
    }
    assert not missing


def test_the_alerts_the_on_call_person_relies_on_exist_and_each_has_a_runbook_entry() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert set(rules) >= REQUIRED_ALERTS
    headings = {
        re.sub(r"[^a-z0-9-]", "", h.strip().lower().replace(" ", "-"))
        for h in re.findall(r"^#+ (.+)$", RUNBOOK.read_text(), re.M)
    }
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        anchor = rule["annotations"]["runbook_url"].removeprefix("docs/runbook.md#")
        assert anchor in headings, f"{name}: docs/runbook.md has no heading for #{anchor}"


def test_every_dashboard_panel_reads_prometheus_through_the_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """promtool's answer; its absence fails the test (a skipped rule check would prove nothing)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool is missing: `bash deploy/observability/install-promtool.sh` (.ci/run does it)",
            pytrace=False,
        )
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_alert_rules() -> None:
    checked = _promtool("check", "rules", ALERTS)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_alert_fires_on_the_series_it_is_for_and_stays_quiet_otherwise() -> None:
    tested = _promtool("test", "rules", OBSERVABILITY / "alerts.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses PromQL only inside rule files: each query becomes a recording rule.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = _promtool("check", "rules", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
