"""The figures of ``make chaos``: ``chaos.json`` as measured and ``chaos.md`` for people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VERDICT_KEYS = (
    "lost",
    "doubled_outcomes",
    "missing_in_qbo",
    "doubled_in_qbo",
    "wrong_amounts",
    "unexpected_in_qbo",
    "left_in_queues",
)


def verdict(figures: dict[str, Any]) -> bool:
    """True when nothing was lost, doubled, wrong or left behind, and no route answered 500."""
    clean = all(figures.get(k) == 0 for k in VERDICT_KEYS)
    outboxes = sum(figures.get("left_in_outboxes", {}).values()) == 0
    no_500 = not any(int(code) >= 500 for code in figures.get("bad_input", {}).get("http_statuses", {}))
    reasons = figures.get("dead_letters", {}).get("without_reason", 1) == 0
    return clean and outboxes and no_500 and reasons


def write_results(figures: dict[str, Any], directory: Path) -> None:
    """``chaos.json`` and ``chaos.md`` under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    figures = {**figures, "clean": verdict(figures)}
    (directory / "chaos.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    (directory / "chaos.md").write_text(markdown(figures))


def markdown(f: dict[str, Any]) -> str:
    faults = ", ".join(f"{k} x{v}" for k, v in sorted(f.get("faults", {}).items())) or "none"
    dead = ", ".join(f"{k} x{v}" for k, v in sorted(f["dead_letters"]["by_queue_and_kind"].items())) or "none"
    statuses = ", ".join(f"{k} x{v}" for k, v in sorted(f["bad_input"]["http_statuses"].items()))
    rows = [
        ("events sent (distinct ids)", f["events"]),
        ("sent twice (same id)", f["duplicates_sent"]),
        ("invoice outcomes", ", ".join(f"{k} x{v}" for k, v in sorted(f["outcomes"].items()))),
        ("lost (no outcome)", f["lost"]),
        ("doubled outcomes", f["doubled_outcomes"]),
        ("succeeded but missing in QBO", f["missing_in_qbo"]),
        ("doubled in QBO", f["doubled_in_qbo"]),
        ("wrong line amounts in QBO", f["wrong_amounts"]),
        ("in QBO but never sent", f["unexpected_in_qbo"]),
        ("faults", faults),
        ("bad input kinds (broker and POST /v1/events)", ", ".join(f["bad_input"]["kinds"])),
        ("POST /v1/events answers to bad input (0 = no answer, mapper down)", statuses),
        ("dead letters", dead),
        ("dead letters without a reason", f["dead_letters"]["without_reason"]),
        ("left in consumer queues", f["left_in_queues"]),
        ("left in outboxes", sum(f["left_in_outboxes"].values())),
        ("seconds to drain after the last fault", f["seconds_to_drain_after_last_fault"]),
        ("run seconds (load to oracle)", f["run_seconds"]),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return (
        f"# make chaos (seed {f['seed']}, {f['tenants']} tenants x {f['invoices_per_tenant']} invoices)\n\n"
        f"Verdict: **{'clean' if f['clean'] else 'NOT clean'}**\n\n| figure | value |\n|---|---|\n{table}\n"
    )
