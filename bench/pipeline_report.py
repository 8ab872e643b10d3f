"""The pipeline benchmark's outputs: one JSON per scenario and a markdown table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SERVICES = ("auth", "mapper", "exporter", "webhooks", "sandbox", "bench-client")


def write_json(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{result['scenario']['name']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def _ms(summary: dict[str, Any]) -> str:
    parts = [summary.get(k) for k in ("p50", "p95", "p99")]
    return " / ".join("-" if p is None else f"{p:,.0f}" for p in parts)


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _short(name: str) -> str:
    return "cli" if name == "bench-client" else name[:3]


def row(r: dict[str, Any]) -> str:
    s, b, base = r["scenario"], r["bridge"], r["baseline"]
    rss = ", ".join(
        f"{_short(n)} {r['resources'][n]['peak_rss_mb']:.0f}" for n in SERVICES if n in r["resources"]
    )
    cpu = ", ".join(
        f"{_short(n)} {r['resources'][n]['cpu_seconds']:.1f}" for n in SERVICES if n in r["resources"]
    )
    cells = [
        s["name"],
        f"{s['realms']}x{s['invoices_per_realm']}",
        f"{s['sandbox_latency_ms']:.0f} ms, limits {s['limits']}, x{s['time_scale']:g}",
        _ms(b["publish_to_write_ms"]),
        _ms(b["publish_to_succeeded_ms"]),
        _num(b["invoices_per_second"], 1),
        _num(b.get("objects_per_minute_per_realm_min")),
        f"{b['throttled_429']} / {b['duplicates']} / {b['failed'] + b['rejected'] + b['missing']}",
        f"{_num(base['invoices_per_second'], 1)} ({base['invoices']}/{base['planned']})",
        _num(r.get("ratio_bridge_to_baseline"), 1),
        rss,
        cpu,
        f"{r['load_average_before'][0]:.1f} → {r['load_average_after'][0]:.1f}",
        _num(b.get("machine_cpu_busy_percent")),
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = [
    "scenario",
    "realms x invoices",
    "sandbox",
    "publish→write ms p50/p95/p99",
    "publish→sync.succeeded ms p50/p95/p99",
    "bridge inv/s",
    "objects/min/realm (slowest, scaled)",
    "429s / dups / not ok",
    "python-quickbooks inv/s (done/planned)",
    "bridge ÷ baseline",
    "peak RSS MB",
    "CPU s",
    "load 1 min",
    "machine CPU busy %",
]


def table(results: Sequence[dict[str, Any]], *, command: str, machine: str) -> str:
    lines = [
        f"`{command}` — {machine}",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *(row(r) for r in results),
    ]
    return "\n".join(lines) + "\n"


def write_markdown(text: str, *, mode: str) -> list[Path]:
    """``latest.md`` and ``<mode>.md`` (quick, full or custom), so each kind's last run is kept."""
    RESULTS.mkdir(exist_ok=True)
    paths = [RESULTS / "latest.md", RESULTS / f"{mode}.md"]
    for path in paths:
        path.write_text(text)
    return paths
