"""What deploy/observability reads: the metrics its alerts and dashboard use, and those the code defines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
ALERTS = OBSERVABILITY / "alerts.yaml"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
# Metrics that come from Prometheus itself, not from our code.
EXTERNAL = {"up"}
_DEFINITION = re.compile(r"""\b(?:Counter|Histogram|Gauge|Summary)\(\s*["']([a-z_:][a-z0-9_:]*)["']""")
_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def family(name: str) -> str:
    """A metric's family name: ``qbb_x_total``, ``qbb_x_bucket`` and ``qbb_x`` are all ``qbb_x``."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def defined_metrics() -> set[str]:
    """Every metric family ``shared/`` and ``services/`` define with prometheus_client."""
    found = set()
    for package in ("shared", "services"):
        for path in (ROOT / package).rglob("*.py"):
            found |= {family(m) for m in _DEFINITION.findall(path.read_text())}
    return found


def used_metrics(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (ours are all ``qbb_*``; plus Prometheus' ``up``)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    names = set(re.findall(r"\bqbb_[a-z0-9_]+", without_strings))
    names |= {n for n in EXTERNAL if re.search(rf"\b{n}\s*\{{", without_strings)}
    return names


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of ``alerts.yaml``."""
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    """Every query of the Grafana dashboard."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels if p["type"] != "row" for t in p["targets"]]


def all_used_metrics() -> set[str]:
    """The metrics the alerts and the dashboard read, together."""
    used = {name for rule in alert_rules() for name in used_metrics(rule["expr"])}
    return used | {name for expr in dashboard_expressions() for name in used_metrics(expr)}
