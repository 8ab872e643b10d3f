"""A scenario's bridge figures from what was published, what came back and what the sandbox holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench import pipeline_stats as stats

Records = tuple[list[dict[str, Any]], list[dict[str, Any]]]
"""One realm's request log and Invoice objects."""


@dataclass(frozen=True)
class Sent:
    """One published invoice event."""

    realm_id: str
    number: str
    event_id: str
    at: float


def _realm_figures(
    sent: Sequence[Sent], records: Mapping[str, Records], *, time_scale: float, skip_minutes: float
) -> tuple[dict[str, float], dict[str, Any]]:
    """(DocNumber → write time, duplicate / missing / 429 / rate figures) over every realm."""
    wanted: dict[str, set[str]] = {}
    for s in sent:
        wanted.setdefault(s.realm_id, set()).add(s.number)
    written: dict[str, float] = {}
    dups = missing = throttled = 0
    rates: list[float] = []
    for realm_id, (log, invoices) in records.items():
        written |= stats.invoice_write_times(log, invoices)
        d, m = stats.duplicates(invoices, wanted.get(realm_id, set()))
        dups, missing, throttled = dups + d, missing + m, throttled + stats.count_429(log)
        rate = stats.objects_per_minute(log, time_scale=time_scale, skip_minutes=skip_minutes)
        rate = rate if rate is not None else stats.objects_per_minute(log, time_scale=time_scale)
        if rate is not None:
            rates.append(rate)
    return written, {
        "throttled_429": throttled,
        "duplicates": dups,
        "missing": missing,
        "objects_per_minute_per_realm_min": round(min(rates)) if rates else None,
        "objects_per_minute_per_realm_mean": round(sum(rates) / len(rates)) if rates else None,
    }


def _latencies(
    sent: Sequence[Sent], written: Mapping[str, float], outcomes: Mapping[str, tuple[str, float]]
) -> dict[str, Any]:
    first = min(s.at for s in sent)
    to_write = [written[s.number] - s.at for s in sent if s.number in written]
    ok = [got[1] - s.at for s in sent if (got := outcomes.get(s.event_id)) and got[0] == "sync.succeeded"]
    # A check of the order-based correlation: QBO's write cannot come after the outcome it caused.
    late = sum(
        1
        for s in sent
        if s.number in written and (got := outcomes.get(s.event_id)) and written[s.number] > got[1] + 0.01
    )
    ends = [got[1] for s in sent if (got := outcomes.get(s.event_id))]
    span = max(ends) - first if ends else None
    return {
        "correlated_writes": len(to_write),
        "writes_logged_after_their_outcome": late,
        "publish_to_write_ms": stats.summary_ms(to_write),
        "publish_to_succeeded_ms": stats.summary_ms(ok),
        "seconds_first_publish_to_first_write": (
            round(min(written.values()) - first, 3) if written else None
        ),
        "seconds_first_publish_to_last_outcome": None if span is None else round(span, 2),
        "invoices_per_second": round(len(ends) / span, 1) if span else None,
    }


def bridge_figures(
    sent: Sequence[Sent],
    outcomes: Mapping[str, tuple[str, float]],
    records: Mapping[str, Records],
    *,
    time_scale: float,
    skip_minutes: float,
) -> dict[str, Any]:
    """Counts, latencies (publish → QBO write, → sync.succeeded), throughput, 429s, duplicates."""
    kinds = [outcomes[s.event_id][0] if s.event_id in outcomes else None for s in sent]
    written, realm = _realm_figures(sent, records, time_scale=time_scale, skip_minutes=skip_minutes)
    return {
        "invoices": len(sent),
        "succeeded": kinds.count("sync.succeeded"),
        "failed": kinds.count("sync.failed"),
        "rejected": kinds.count("sync.rejected"),
        "no_outcome": kinds.count(None),
        **_latencies(sent, written, outcomes),
        **realm,
    }
