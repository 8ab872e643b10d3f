"""Issue 19's targets, each marked met, not met, or not measured, from one run's scenario results.

Each scenario carries a ``role`` saying which question it answers (``latency``: one invoice at a
time; ``realms``: 100 realms with Intuit's limits; ``backlog``: one realm with a backlog and
Intuit's limits; ``ceiling``: 100 realms with limits off; ``history-*``: the same small load on
an empty, a 1,000,000-finished-job and a 50,000-queued-job table), so quick and full runs are
judged alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.pipeline_figures import SERVICES

PER_REALM_CEILING = 1200.0  # objects/min/realm Intuit allows through batches (40 batches x 30)
FLAT_WITHIN = 1.5  # "flat": a history scenario's per-invoice figure within 1.5x the empty table's


@dataclass(frozen=True)
class Verdict:
    target: str
    scenario: str | None
    measured: str
    met: bool | None  # None: not measured in this run

    def public(self) -> dict[str, Any]:
        return asdict(self)


Result = Mapping[str, Any]


def _by_role(results: Sequence[Result]) -> dict[str, Result]:
    return {str(r["scenario"].get("role")): r for r in results}


def _get(result: Result | None, *path: str) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _check(
    target: str, result: Result | None, value: float | None, ok: Callable[[float], bool], shown: str
) -> Verdict:
    name = None if result is None else str(result["scenario"]["name"])
    if value is None:
        return Verdict(target, name, "not measured", None)
    return Verdict(target, name, shown.format(value), ok(value))


def _flat(role: str, label: str, roles: Mapping[str, Result]) -> list[Verdict]:
    """``label`` names the issue's size, ``{}`` standing for the size this run seeded."""
    empty, loaded = roles.get("history-empty"), roles.get(role)
    seeded = _get(loaded, "scenario", "finished_jobs") or _get(loaded, "scenario", "backlog_jobs")
    label = label.format(f"{seeded:,}") if seeded else label.format("")
    out = []
    for what, path in (
        ("service CPU ms/invoice", ("costs", "cpu_ms_per_invoice", "services")),
        ("rows read/invoice", ("costs", "db_per_invoice", "rows_read")),
    ):
        base, now = _get(empty, *path), _get(loaded, *path)
        ratio = (
            now / base
            if isinstance(base, int | float) and isinstance(now, int | float) and base > 0
            else None
        )
        target = f"flat with {label}: {what} ≤ {FLAT_WITHIN:g}x the empty table's"
        shown = f"{now} vs {base} empty ({{:.2f}}x)"
        out.append(_check(target, loaded, ratio, lambda x: x <= FLAT_WITHIN, shown))
    return out


def _peak_service_rss(results: Sequence[Result]) -> tuple[float | None, str]:
    peaks = [
        (float(usage["peak_rss_mb"]), name)
        for r in results
        for name, usage in (r.get("resources") or {}).items()
        if name in SERVICES and "peak_rss_mb" in usage
    ]
    if not peaks:
        return None, ""
    value, name = max(peaks)
    return value, name


def verdicts(results: Sequence[Result]) -> list[Verdict]:
    """Every target of the issue, in its order, judged on this run's results."""
    roles = _by_role(results)
    one, realms, backlog, ceiling = (roles.get(k) for k in ("latency", "realms", "backlog", "ceiling"))
    rss, rss_of = _peak_service_rss(results)
    throttled = [b["throttled_429"] for r in results if (b := r.get("bridge"))]
    dups = [b["duplicates"] for r in results if (b := r.get("bridge"))]
    per_realm = _get(backlog, "bridge", "objects_per_minute_per_realm_min")
    return [
        _check(
            "≥ 150 invoices/s over 100 realms, limits off (aim 500)",
            ceiling,
            _get(ceiling, "bridge", "invoices_per_second"),
            lambda x: x >= 150,
            "{:.1f} inv/s",
        ),
        _check(
            "≤ 10 ms service CPU per invoice, limits off (aim 3)",
            ceiling,
            _get(ceiling, "costs", "cpu_ms_per_invoice", "services"),
            lambda x: x <= 10,
            "{:.1f} ms",
        ),
        _check(
            "≥ 90 % of ≈ 1,200 objects/min on a realm with a backlog, real limits",
            backlog,
            None if per_realm is None else 100 * per_realm / PER_REALM_CEILING,
            lambda x: x >= 90,
            f"{per_realm} obj/min ({{:.0f}} %)",
        ),
        _check(
            "≤ 0.1 QBO calls per invoice once batches fill (realm with a backlog)",
            backlog,
            _get(backlog, "bridge", "qbo_calls_per_invoice"),
            lambda x: x <= 0.1,
            "{:.3f} calls/invoice",
        ),
        _check(
            "p95 publish→QBO write ≤ 250 ms, one invoice at a time (aim 100)",
            one,
            _get(one, "bridge", "publish_to_write_ms", "p95"),
            lambda x: x <= 250,
            "{:.0f} ms",
        ),
        _check(
            "≥ 10x the sequential python-quickbooks loop, 100 realms",
            realms,
            _get(realms, "ratio_to_sequential"),
            lambda x: x >= 10,
            "{:.2f}x",
        ),
        _check(
            "ahead of one python-quickbooks loop per realm in parallel, 100 realms",
            realms,
            _get(realms, "ratio_to_parallel"),
            lambda x: x > 1,
            "{:.2f}x",
        ),
        _check(
            "0 x 429 (every scenario)",
            None,
            float(sum(throttled)) if throttled else None,
            lambda x: x == 0,
            "{:.0f}",
        ),
        _check(
            "0 duplicates (every scenario)",
            None,
            float(sum(dups)) if dups else None,
            lambda x: x == 0,
            "{:.0f}",
        ),
        _check(
            "≤ 200 MB peak RSS per service (every scenario)",
            None,
            rss,
            lambda x: x <= 200,
            f"{{:.0f}} MB ({rss_of})",
        ),
        *_flat("history-finished", "{} finished jobs", roles),
        *_flat("history-backlog", "a {}-job backlog", roles),
    ]
