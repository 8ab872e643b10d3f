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
    dups = missing = throttled = calls = batches = items = 0
    rates: list[float] = []
    for realm_id, (log, invoices) in records.items():
        written |= stats.invoice_write_times(log, invoices)
        calls += stats.qbo_calls(log)
        b, i = stats.batch_fill(log)
        batches, items = batches + b, items + i
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
        "qbo_calls": calls,
        "qbo_calls_per_invoice": stats.per_invoice(calls, len(sent), digits=3),
        "batch_requests": batches,
        "batch_fill": round(items / batches, 1) if batches else None,
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


SERVICES = ("auth", "mapper", "exporter", "webhooks", "console")
"""The bridge's own processes: their CPU is "service CPU" (the sandbox and the client are not)."""


def cost_figures(
    cpu_seconds: Mapping[str, float], database: Mapping[str, float], *, invoices: int
) -> dict[str, Any]:
    """What one invoice cost: CPU ms of each process (and of Postgres's backends, under
    ``postgres``), and database work (``pg_stat_*`` counter deltas) per invoice."""
    cpu = {name: stats.per_invoice(s, invoices, scale=1000) for name, s in cpu_seconds.items()}
    service_total = sum(cpu_seconds.get(n, 0.0) for n in SERVICES)
    db = dict(database)
    reads = db.get("seq_tup_read", 0) + db.get("idx_tup_fetch", 0)
    xacts = db.get("xact_commit", 0) + db.get("xact_rollback", 0)
    return {
        "invoices_counted": invoices,
        "cpu_ms_per_invoice": cpu | {"services": stats.per_invoice(service_total, invoices, scale=1000)},
        "db_per_invoice": {
            "transactions": stats.per_invoice(xacts, invoices),
            "commits": stats.per_invoice(db.get("xact_commit", 0), invoices),
            "rollbacks": stats.per_invoice(db.get("xact_rollback", 0), invoices),
            "rows_read": stats.per_invoice(reads, invoices, digits=1),
            "seq_rows_read": stats.per_invoice(db.get("seq_tup_read", 0), invoices, digits=1),
            "index_rows_fetched": stats.per_invoice(db.get("idx_tup_fetch", 0), invoices, digits=1),
            "inserted": stats.per_invoice(db.get("n_tup_ins", 0), invoices),
            "updated": stats.per_invoice(db.get("n_tup_upd", 0), invoices),
            "deleted": stats.per_invoice(db.get("n_tup_del", 0), invoices),
        },
    }
