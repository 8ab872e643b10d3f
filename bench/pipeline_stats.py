"""Pure computations of the pipeline benchmark: percentiles, the sandbox's write time of each
invoice (from its request log), duplicates, 429s and per-realm write rates."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Iterable[float]) -> dict[str, float | int | None]:
    """p50/p95/p99/max (ms) and count of latencies given in seconds."""
    values = [s * 1000 for s in seconds]
    rounded = {f"p{q}": _round(percentile(values, q)) for q in (50, 95, 99)}
    return {**rounded, "max": _round(max(values, default=None)), "n": len(values)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def log_time(entry: Mapping[str, Any]) -> float:
    """A request-log entry's time (ISO with ms, UTC) as epoch seconds."""
    return datetime.fromisoformat(str(entry["time"]).replace("Z", "+00:00")).timestamp()


def written(entry: Mapping[str, Any], entity: str | None = None) -> int:
    """How many objects (of ``entity``, or any) one logged call created."""
    if entry.get("status") != 200:
        return 0
    if entry.get("operation") == "batch":
        return sum(
            1
            for item in entry.get("items") or []
            if item.get("operation") == "create"
            and item.get("fault_code") is None
            and (entity is None or item.get("entity") == entity)
        )
    return int(entry.get("operation") == "create" and (entity is None or entry.get("entity") == entity))


def invoice_write_times(
    log: Sequence[Mapping[str, Any]], invoices: Sequence[Mapping[str, Any]]
) -> dict[str, float]:
    """DocNumber → time the sandbox wrote that invoice.

    The log names batch items only by position, so the mapping uses order: the sandbox writes
    and logs a call without yielding in between, and numbers each entity's Ids upwards, so the
    k-th invoice created through the API (log order) has the k-th of the newest Ids.
    """
    times = [
        log_time(e) for e in sorted(log, key=lambda e: int(e["seq"])) for _ in range(written(e, "Invoice"))
    ]
    by_id = sorted(invoices, key=lambda i: int(i["Id"]))
    created = by_id[len(by_id) - len(times) :] if times else []
    return {str(inv.get("DocNumber")): at for inv, at in zip(created, times, strict=True)}


def duplicates(invoices: Iterable[Mapping[str, Any]], wanted: set[str]) -> tuple[int, int]:
    """(extra copies of wanted DocNumbers, wanted DocNumbers missing) in one company's invoices."""
    counts = Counter(str(i.get("DocNumber")) for i in invoices if str(i.get("DocNumber")) in wanted)
    return sum(c - 1 for c in counts.values() if c > 1), len(wanted - set(counts))


def count_429(log: Iterable[Mapping[str, Any]]) -> int:
    return sum(1 for e in log if e.get("status") == 429)


def objects_per_minute(
    log: Sequence[Mapping[str, Any]], *, time_scale: float, skip_minutes: float = 0.0
) -> float | None:
    """Objects one realm's calls created per (scaled) minute, from its first write to its last;
    ``skip_minutes`` leaves out the start, when the limits' windows are still empty."""
    writes = sorted((log_time(e), n) for e in log if (n := written(e)) > 0)
    if len(writes) < 2:
        return None
    start = writes[0][0] + skip_minutes * 60 / time_scale
    kept = [(t, n) for t, n in writes if t >= start]
    if len(kept) < 2 or kept[-1][0] <= kept[0][0]:
        return None
    # n calls span n - 1 intervals: the first call's objects mark the start, not the rate.
    span = kept[-1][0] - kept[0][0]
    return sum(n for _, n in kept[1:]) / span * 60 / time_scale


def qbo_calls(log: Iterable[Mapping[str, Any]]) -> int:
    """API calls in a realm's request log (every answer counts: a 429 or a fault was still a call)."""
    return sum(1 for _ in log)


def batch_fill(log: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(batch requests, items they carried) in a request log; fill = items ÷ requests."""
    batches = [e for e in log if e.get("operation") == "batch"]
    return len(batches), sum(len(e.get("items") or []) for e in batches)


def deltas(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """``after - before`` for every counter of ``after`` (a counter new in ``after`` starts at 0)."""
    return {k: v - before.get(k, 0) for k, v in after.items()}


def per_invoice(value: float | None, invoices: int, *, scale: float = 1.0, digits: int = 2) -> float | None:
    """``value x scale ÷ invoices``, rounded; None when there is nothing to divide by."""
    if value is None or invoices <= 0:
        return None
    return round(value * scale / invoices, digits)
