"""The figures of ``make chaos``: ``chaos.json`` as measured and ``chaos.md`` for people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.chaos_faults import KINDS

# Each must be 0 for a clean run.
VERDICT_KEYS = (
    "lost",
    "doubled_outcomes",
    "failed",
    "missing_in_qbo",
    "doubled_in_qbo",
    "wrong_amounts",
    "wrong_void_state",
    "void_before_create_live",
    "wrong_payments",
    "unexpected_in_qbo",
    "left_in_queues",
    "bad_input_unaccounted",
)


def unexercised(figures: dict[str, Any]) -> list[str]:
    """Fault kinds the run never exercised: each kind, and each crash point of each crash phase."""
    missing = [kind for kind in KINDS if not figures.get("faults", {}).get(kind)]
    crash = figures.get("crash_points", {})
    for phase in crash.get("phases", {}):
        hits = crash.get("hits", {}).get(phase, {})
        missing += [f"crash phase {phase}: {point}" for point, n in hits.items() if not n]
        missing += [f"crash phase {phase}: not run"] if not hits else []
    return missing


def verdict(figures: dict[str, Any]) -> bool:
    """True when nothing was lost, doubled, wrong or left behind, and no route answered 5xx."""
    clean = all(figures.get(k) == 0 for k in VERDICT_KEYS)
    outboxes = sum(figures.get("left_in_outboxes", {}).values()) == 0
    bad = figures.get("bad_input", {})
    no_5xx = bad.get("server_error_count", 1) == 0 and not bad.get("cross_tenant_leaks")
    reasons = figures.get("dead_letters", {}).get("without_reason", 1) == 0
    bulk = bad.get("bulk_problem_count", 1) == 0
    settled = bool(figures.get("all_settled")) and not unexercised(figures)
    return clean and outboxes and no_5xx and reasons and bulk and settled


def write_results(figures: dict[str, Any], directory: Path) -> None:
    """``chaos.json`` and ``chaos.md`` under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    figures = {**figures, "unexercised": unexercised(figures), "clean": verdict(figures)}
    (directory / "chaos.json").write_text(json.dumps(figures, indent=2, sort_keys=True, default=str) + "\n")
    (directory / "chaos.md").write_text(markdown(figures))


def _join(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "none"


def markdown(f: dict[str, Any]) -> str:
    load, bad, crash = f["load"], f["bad_input"], f["crash_points"]
    rows = [
        ("stories (invoices) / deliveries", f"{load['stories']} / {load['deliveries']}"),
        (
            "of them sent after the plan, while the crash phases still ran",
            load.get("stories_while_crash_phases_ran", 0),
        ),
        ("events by type", _join(load["events_by_type"])),
        ("repeated deliveries (same id)", load["repeated_deliveries"]),
        (
            "out-of-order pairs",
            f"update before create x{load['update_before_create']}, "
            f"void before create x{load['void_before_create']}",
        ),
        ("outcomes (event → outcome:operation)", _join(f["outcomes"])),
        ("every event settled", f["all_settled"]),
        ("lost (event without outcome)", f["lost"]),
        ("doubled outcomes", f["doubled_outcomes"]),
        ("events that ended failed/rejected", f["failed"]),
        ("invoices missing in QBO", f["missing_in_qbo"]),
        ("invoices doubled in QBO", f["doubled_in_qbo"]),
        ("wrong line amounts", f["wrong_amounts"]),
        ("wrong void state", f["wrong_void_state"]),
        ("void delivered before its create, invoice live in QBO", f["void_before_create_live"]),
        ("wrong payments (count, amount, balance)", f["wrong_payments"]),
        ("in QBO but never sent", f["unexpected_in_qbo"]),
        ("faults", _join(f["faults"])),
        ("fault kinds not exercised", ", ".join(f.get("unexercised", [])) or "none"),
        *(
            (
                f"crash phase {phase} (`{spec}` in a {'+'.join(crash['replicas'])} replica): "
                "processes killed there",
                _join(crash["hits"].get(phase, {})),
            )
            for phase, spec in crash["phases"].items()
        ),
        ("bad input sent, by kind", _join(bad["kinds"])),
        ("HTTP answers to bad input (0 = no answer)", _join(bad["http_statuses"])),
        ("5xx answers / cross-tenant 2xx", f"{bad['server_error_count']} / {len(bad['cross_tenant_leaks'])}"),
        ("webhooks (kind:status)", _join(bad["webhooks"])),
        ("NDJSON bulk lines (admitted, refused with line and path)", _join(bad["bulk_lines"])),
        ("bulk lines neither admitted nor refused with a path", bad["bulk_problem_count"]),
        ("bad input neither handled nor dead-lettered", f["bad_input_unaccounted"]),
        ("dead letters", _join(f["dead_letters"]["by_queue_and_kind"])),
        ("dead letters without a reason", f["dead_letters"]["without_reason"]),
        ("left in consumer queues", f["left_in_queues"]),
        ("left in outboxes (not quarantined)", sum(f["left_in_outboxes"].values())),
        ("export jobs not finished", _join(f["unfinished_jobs"])),
        ("sandbox write calls (entity:operation:status)", _join(f["sandbox_writes"])),
        ("seconds to drain after the last fault", f["seconds_to_drain_after_last_fault"]),
        ("seconds from load start to drained", f["load_to_drained_seconds"]),
        ("run seconds (whole run)", f["run_seconds"]),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    shown = {**f.get("examples", {}), "bulk": bad.get("bulk_problems", [])[:5]}
    examples = "\n".join(f"- {k}: {', '.join(map(str, v))}" for k, v in shown.items() if v)
    return (
        f"# make chaos (seed {f['seed']}, {f['tenants']} tenants x {f['invoices_per_tenant']} stories)\n\n"
        f"Verdict: **{'clean' if f['clean'] else 'NOT clean'}**\n\n| figure | value |\n|---|---|\n{table}\n"
        + (f"\nExamples of what went wrong:\n{examples}\n" if examples else "")
    )
