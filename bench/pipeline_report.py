"""The pipeline benchmark's outputs: ``<mode>.json`` (every figure) and ``<mode>.md`` (tables side
by side: throughput and latency, cost per invoice, the python-quickbooks loops, history, targets)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.pipeline_figures import SERVICES
from bench.pipeline_targets import Verdict

RESULTS = Path(__file__).resolve().parent / "results"
PROCESSES = (*SERVICES, "postgres", "sandbox", "bench-client")

Result = dict[str, Any]


def _num(value: Any, digits: int = 0) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:,.{digits}f}"


def _ms(summary: dict[str, Any] | None) -> str:
    summary = summary or {}
    return " / ".join(_num(summary.get(k)) for k in ("p50", "p95", "p99"))


def _short(name: str) -> str:
    return {"bench-client": "cli", "postgres": "pg"}.get(name, name[:3])


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
    ]


def _shape(s: dict[str, Any]) -> str:
    sandbox = f"{s['sandbox_latency_ms']:.0f} ms, limits {s['limits']}, x{s['time_scale']:g}"
    one = ""
    if s["sequential"]:
        every = s.get("interval_seconds") or 0
        one = (
            f" one at a time (at most one per {every * 1000:.0f} ms, after a warm-up)"
            if every
            else " one at a time"
        )
    return f"{s['realms']}x{s['invoices_per_realm']}{one}; {sandbox}"


def _throughput(r: Result) -> list[str]:
    s, b = r["scenario"], r["bridge"]
    not_ok = b["failed"] + b["rejected"] + b["missing"]
    return [
        s["name"],
        _shape(s),
        _num(b["invoices_per_second"], 1),
        _ms(b["publish_to_write_ms"]),
        _ms(b["publish_to_succeeded_ms"]),
        _num(b.get("objects_per_minute_per_realm_min")),
        _num(b.get("qbo_calls_per_invoice"), 2),
        _num(b.get("batch_fill"), 1),
        f"{b['throttled_429']} / {b['duplicates']} / {not_ok} / {b['no_outcome']}",
        "yes" if b.get("completed_before_timeout") else "**no**",
    ]


def _costs(r: Result) -> list[str]:
    c = r.get("costs") or {}
    cpu, d = c.get("cpu_ms_per_invoice") or {}, c.get("db_per_invoice") or {}
    rss = ", ".join(
        f"{_short(n)} {_num(r['resources'][n].get('peak_rss_mb'))}" for n in SERVICES if n in r["resources"]
    )
    return [
        r["scenario"]["name"],
        _num(c.get("invoices_counted")),
        f"**{_num(cpu.get('services'), 1)}**",
        ", ".join(f"{_short(n)} {_num(cpu.get(n), 1)}" for n in PROCESSES if n in cpu),
        _num(d.get("transactions"), 1),
        _num(d.get("rows_read"), 0),
        f"{_num(d.get('inserted'), 1)} / {_num(d.get('updated'), 1)} / {_num(d.get('deleted'), 1)}",
        rss,
    ]


def _loops(r: Result) -> list[str]:
    def loop(key: str) -> str:
        base = r.get(key)
        return (
            "-"
            if not base
            else f"{_num(base['invoices_per_second'], 1)} ({base['invoices']}/{base['planned']})"
        )

    return [
        r["scenario"]["name"],
        _num(r["bridge"]["invoices_per_second"], 1),
        loop("baseline"),
        _num(r.get("ratio_to_sequential"), 2),
        loop("baseline_parallel"),
        _num(r.get("ratio_to_parallel"), 2),
    ]


def _history(r: Result) -> list[str]:
    c = r.get("costs") or {}
    cpu, d = c.get("cpu_ms_per_invoice") or {}, c.get("db_per_invoice") or {}
    jobs = (r.get("seeded") or {}).get("jobs_by_status_before") or {}
    counted = c.get("invoices_counted") or 0
    read = (c.get("tables_read_most") or {}).items() if counted else []
    tables = ", ".join(f"{k} {_num(v / counted)}" for k, v in read)
    return [
        r["scenario"]["name"],
        ", ".join(f"{k} {v:,}" for k, v in sorted(jobs.items())) or "-",
        _num(r["bridge"].get("backlog_realm_invoices_written")),
        _num(cpu.get("services"), 1),
        _num(cpu.get("postgres"), 1),
        _num(d.get("transactions"), 1),
        _num(d.get("rows_read"), 0),
        tables or "-",
    ]


def _verdict(v: Verdict) -> list[str]:
    met = {True: "met", False: "**not met**", None: "not measured"}[v.met]
    return [v.target, v.scenario or "all", v.measured, met]


def _rows(results: Sequence[Result], make: Callable[[Result], list[str]]) -> list[list[str]]:
    return [make(r) for r in results]


def markdown(results: Sequence[Result], found: Sequence[Verdict], *, command: str, machine: str) -> str:
    failed = [r for r in results if "bridge" not in r]
    results = [r for r in results if "bridge" in r]
    history = [r for r in results if str(r["scenario"].get("role", "")).startswith("history")]
    with_loops = [r for r in results if r.get("baseline")]
    lines = [f"`{command}` — {machine}", "", "### Targets (issue 19)", ""]
    lines += _table(["target", "scenario", "measured", ""], [_verdict(v) for v in found])
    lines += ["### Throughput and latency", ""]
    lines += _table(
        [
            "scenario",
            "shape; sandbox",
            "bridge inv/s",
            "publish→QBO write ms p50/p95/p99",
            "publish→sync.succeeded ms p50/p95/p99",
            "objects/min/realm (slowest, scaled)",
            "QBO calls/invoice",
            "batch fill (items/batch)",
            "429s / dups / failed / no outcome",
            "all done in time",
        ],
        _rows(results, _throughput),
    )
    lines += ["### Cost per invoice (CPU user+sys and pg_stat_* deltas over the window ÷ invoices)", ""]
    lines += _table(
        [
            "scenario",
            "invoices counted",
            "service CPU ms/inv",
            "CPU ms/inv by process",
            "DB xacts/inv",
            "rows read/inv",
            "rows ins / upd / del per inv",
            "peak RSS MB",
        ],
        _rows(results, _costs),
    )
    if with_loops:
        lines += ["### python-quickbooks loops (same sandbox, same limits)", ""]
        lines += _table(
            [
                "scenario",
                "bridge inv/s",
                "sequential loop inv/s (done/planned)",
                "bridge ÷ sequential",
                "one loop per realm inv/s",
                "bridge ÷ parallel",
            ],
            _rows(with_loops, _loops),
        )
    if history:
        lines += ["### History flatness (same load; per invoice)", ""]
        lines += _table(
            [
                "scenario",
                "exporter.jobs before",
                "backlog realm invoices written meanwhile",
                "service CPU ms/inv",
                "postgres CPU ms/inv",
                "DB xacts/inv",
                "rows read/inv",
                "rows read/inv by table (top)",
            ],
            _rows(history, _history),
        )
    if failed:
        lines += ["### Scenarios that failed (no figures)", ""]
        lines += [f"- {r['scenario']['name']}: `{r.get('error')}`" for r in failed] + [""]
    return "\n".join(lines)


def write(text: str, data: dict[str, Any], *, mode: str) -> list[Path]:
    """``<mode>.md`` and ``<mode>.json`` (quick, full, partial or custom): each kind's last run."""
    RESULTS.mkdir(exist_ok=True)
    md, js = RESULTS / f"{mode}.md", RESULTS / f"{mode}.json"
    js.write_text(json.dumps(data, indent=2) + "\n")
    if not text:  # a run still going: its figures so far, no table yet
        return [js]
    md.write_text(text)
    return [md, js]
