"""What the console shows, from what the services answer: pure view models, no I/O."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

Tone = str  # "ok" | "warn" | "bad" | "info": the colour of a badge
STATUS_TONES = {
    "active": "ok",
    "ok": "ok",
    "succeeded": "ok",
    "mapped": "ok",
    "warning": "warn",
    "pending": "info",
    "queued": "info",
    "running": "info",
    "waiting": "info",
    "parked": "warn",
    "skipped": "info",
    "blocked": "bad",
    "blocking": "bad",
    "reauthorization_required": "bad",
    "failed": "bad",
    "rejected": "bad",
    "revoked": "bad",
}
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "parked", "skipped")
HISTORY_STATUSES = ("rejected", *JOB_STATUSES)
PAGE_SIZE = 100
PROFILE_FIELDS = (
    ("name", "Company"),
    ("country", "Country"),
    ("home_currency", "Home currency"),
    ("edition", "Edition"),
    ("multicurrency", "Multicurrency"),
    ("class_tracking", "Class tracking"),
    ("department_tracking", "Location tracking"),
    ("custom_txn_numbers", "Custom transaction numbers"),
    ("tax_mode", "Tax"),
    ("book_close_date", "Book close date"),
)


def tone(status: str | None) -> Tone:
    return STATUS_TONES.get(status or "", "info")


def words(value: str | None) -> str:
    """``reauthorization_required`` → ``reauthorization required``."""
    return (value or "").replace("_", " ")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return words(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    return str(value)


@dataclass(frozen=True)
class ConnectionView:
    connection_id: str
    tenant_id: str
    realm_id: str | None
    status: str
    tone: Tone
    company_name: str
    profile: list[tuple[str, str]]
    reasons: list[str]
    reconnect_url: str | None
    can_disconnect: bool
    can_refresh: bool
    connected_at: str


def connection_view(body: Mapping[str, Any]) -> ConnectionView:
    """A connection from auth's answer: its status, profile and what is wrong, in words."""
    company = body.get("company") or {}
    status = str(body.get("status", "unknown"))
    reasons = [str(r) for r in (body.get("blocked_reason"), body.get("status_reason")) if r]
    if body.get("hard_expiry_soon"):
        reasons.append("The QuickBooks authorization reaches its 5-year limit soon: reconnect before it.")
    return ConnectionView(
        connection_id=str(body["connection_id"]),
        tenant_id=str(body.get("tenant_id", "")),
        realm_id=body.get("realm_id"),
        status=status,
        tone=tone(status),
        company_name=str(company.get("name") or "not connected yet"),
        profile=[(label, _shown(company.get(key))) for key, label in PROFILE_FIELDS if key in company],
        reasons=list(dict.fromkeys(reasons)),
        reconnect_url=body.get("reconnect_url") if status != "revoked" else None,
        can_disconnect=status not in ("revoked",),
        can_refresh=status == "active",
        connected_at=when(body.get("connected_at")),
    )


def when(value: Any) -> str:
    """An ISO timestamp as ``2026-12-01 20:31:07 UTC`` (empty for none)."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class CheckView:
    name: str
    status: str
    tone: Tone
    message: str
    fix: str


def readiness_view(body: Mapping[str, Any]) -> tuple[str, list[CheckView]]:
    """The overall status and each check, the worst first (blocking, then warnings)."""
    order = {"blocking": 0, "warning": 1, "ok": 2}
    checks = [
        CheckView(
            name=words(str(c.get("name"))),
            status=str(c.get("status")),
            tone=tone(str(c.get("status"))),
            message=str(c.get("message") or ""),
            fix=str(c.get("fix") or ""),
        )
        for c in body.get("checks", [])
    ]
    checks.sort(key=lambda c: order.get(c.status, 3))
    return str(body.get("status", "unknown")), checks


@dataclass(frozen=True)
class HistoryFilter:
    """What the history shows: one status (or all), an object or event type, from a date."""

    status: str = ""
    type: str = ""
    since: dt.date | None = None
    before_seq: int | None = None
    errors: tuple[str, ...] = ()

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> HistoryFilter:
        errors: list[str] = []
        status = params.get("status", "").strip()
        if status and status not in HISTORY_STATUSES:
            errors.append(f"unknown status '{status}'")
            status = ""
        since: dt.date | None = None
        if raw := params.get("since", "").strip():
            try:
                since = dt.date.fromisoformat(raw)
            except ValueError:
                errors.append("the date must look like 2026-01-31")
        before = params.get("before_seq", "").strip()
        return cls(
            status=status,
            type=params.get("type", "").strip().lower()[:60],
            since=since,
            before_seq=int(before) if before.isdigit() else None,
            errors=tuple(errors),
        )

    @property
    def wants_jobs(self) -> bool:
        return self.status != "rejected"

    @property
    def wants_events(self) -> bool:
        return self.status in ("", "rejected") and self.before_seq is None

    def job_params(self) -> dict[str, Any]:
        """The exporter's query for this filter (one page, newest first)."""
        return {
            "status": self.status or None,
            "object_type": self.type or None,
            "since": f"{self.since.isoformat()}T00:00:00Z" if self.since else None,
            "before_seq": self.before_seq,
            "limit": PAGE_SIZE,
        }

    def query(self, **changes: Any) -> str:
        """This filter as a URL query, with ``changes`` (e.g. the next page)."""
        values = {
            "status": self.status,
            "type": self.type,
            "since": self.since.isoformat() if self.since else "",
            "before_seq": self.before_seq or "",
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


@dataclass(frozen=True)
class JobView:
    job_id: str
    object_type: str
    platform_id: str
    operation: str
    status: str
    tone: Tone
    reason: str
    hint: str
    attempts: int
    qbo_id: str
    qbo_link: str | None
    raw_fault: str
    intuit_tid: str
    updated: str
    can_retry: bool
    can_repush: bool


def job_reason(job: Mapping[str, Any]) -> str:
    """Why a job is where it is, in words."""
    status = job.get("status")
    if job.get("last_error") and status != "succeeded":
        return str(job["last_error"])
    if status == "parked":
        cause = job.get("park_reason")
        if cause == "dependency":
            return "Waiting for an object it needs to be written first."
        if cause == "connection":
            return "Waiting for the connection to QuickBooks to be reconnected."
        return "Waiting."
    if status == "succeeded":
        doc = f" (number {job['qbo_doc_number']})" if job.get("qbo_doc_number") else ""
        return f"Written to QuickBooks{doc}."
    if status == "skipped":
        return "Nothing to write: QuickBooks already had it."
    if status in ("queued", "running"):
        return "Waiting its turn." if status == "queued" else "Being written now."
    return ""


def sandbox_link(sandbox_url: str, realm_id: str | None, entity: str, qbo_id: str) -> str | None:
    """The object's own page in the sandbox's HTML view (``/companies/{realm}/{Entity}/{Id}``)."""
    if not sandbox_url or not realm_id or not qbo_id:
        return None
    parts = (quote(realm_id, safe=""), quote(entity, safe=""), quote(qbo_id, safe=""))
    return f"{sandbox_url.rstrip('/')}/companies/{parts[0]}/{parts[1]}/{parts[2]}"


def job_view(job: Mapping[str, Any], *, sandbox_url: str) -> JobView:
    status = str(job.get("status", ""))
    fault = job.get("qbo_fault")
    return JobView(
        job_id=str(job["id"]),
        object_type=str(job.get("object_type") or job.get("entity") or ""),
        platform_id=str(job.get("platform_id") or ""),
        operation=str(job.get("operation") or ""),
        status=status,
        tone=tone(status),
        reason=job_reason(job),
        hint=str(job.get("hint") or "") if status != "succeeded" else "",
        attempts=int(job.get("attempts") or 0),
        qbo_id=str(job.get("qbo_id") or ""),
        qbo_link=sandbox_link(
            sandbox_url, job.get("realm_id"), str(job.get("entity") or ""), str(job.get("qbo_id") or "")
        ),
        raw_fault=json.dumps(fault, indent=2, sort_keys=True) if fault else "",
        intuit_tid=str(job.get("intuit_tid") or ""),
        updated=when(job.get("finished_at") or job.get("updated_at")),
        can_retry=status in ("failed", "parked"),
        can_repush=status == "succeeded" and job.get("operation") in ("create", "update"),
    )


def next_before_seq(jobs: Sequence[Mapping[str, Any]]) -> int | None:
    """The ``before_seq`` of the next page, when this page was full."""
    if len(jobs) < PAGE_SIZE or not jobs or jobs[-1].get("seq") is None:
        return None
    return int(jobs[-1]["seq"])


@dataclass(frozen=True)
class EventView:
    event_id: str
    type: str
    platform_id: str
    outcome: str
    tone: Tone
    code: str
    message: str
    hint: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    received: str = ""


def event_view(event: Mapping[str, Any]) -> EventView:
    """A platform event and what the mapper made of it (rejected: what is wrong, where, how to fix)."""
    outcome = str(event.get("outcome", ""))
    return EventView(
        event_id=str(event.get("event_id", "")),
        type=str(event.get("type", "")),
        platform_id=str(event.get("platform_id") or ""),
        outcome=outcome,
        tone=tone(outcome),
        code=str(event.get("code") or ""),
        message=str(event.get("message") or ""),
        hint=str(event.get("hint") or ""),
        problems=[(str(p.get("path", "")), str(p.get("message", ""))) for p in event.get("problems") or []],
        received=when(event.get("received_at")),
    )


def events_shown(events: Sequence[Mapping[str, Any]], flt: HistoryFilter) -> list[EventView]:
    """The mapper's events that pass the filter's type and date (the route filters only outcome)."""
    shown = []
    for event in events:
        view = event_view(event)
        if flt.type and flt.type not in view.type.lower():
            continue
        received = str(event.get("received_at") or "")
        if flt.since and received[:10] and received[:10] < flt.since.isoformat():
            continue
        shown.append(view)
    return shown


@dataclass(frozen=True)
class ImportView:
    job_id: str
    kind: str
    status: str
    tone: Tone
    published: int
    done: bool
    error: str
    requested: str


def import_view(job: Mapping[str, Any]) -> ImportView:
    status = str(job.get("status", ""))
    return ImportView(
        job_id=str(job.get("job_id", "")),
        kind=str(job.get("kind", "")),
        status=status,
        tone="bad" if job.get("error") else ("ok" if job.get("finished_at") else "info"),
        published=int(job.get("published") or 0),
        done=bool(job.get("finished_at")),
        error=str(job.get("error") or ""),
        requested=when(job.get("requested_at")),
    )


@dataclass(frozen=True)
class BatchView:
    batch_id: str
    total: int
    settled: int
    done: bool
    summary: str


BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_batch_id(value: str) -> bool:
    """A batch id that can go into a URL path as it is."""
    return bool(BATCH_ID.fullmatch(value))


def batch_view(batch: Mapping[str, Any]) -> BatchView:
    """A backfill's progress: lines settled (succeeded, failed or rejected) out of all of them."""
    total, pending = int(batch.get("total") or 0), int(batch.get("pending") or 0)
    counts = {k: int(batch.get(k) or 0) for k in ("succeeded", "failed", "rejected")}
    return BatchView(
        batch_id=str(batch.get("batch_id", "")),
        total=total,
        settled=max(total - pending, 0),
        done=bool(batch.get("done")),
        summary=", ".join(f"{n} {k}" for k, n in counts.items()) + f", {pending} pending",
    )


# -- the operator's pages -------------------------------------------------------------------------

TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_tenant_id(value: str) -> bool:
    """A tenant id as architecture §5a spells them (safe in a URL path as it is)."""
    return bool(TENANT_ID.fullmatch(value))


@dataclass(frozen=True)
class PlatformView:
    platform_id: str
    tenants: list[str]
    live_keys: int
    registered: str


def platform_view(platform: Mapping[str, Any]) -> PlatformView:
    return PlatformView(
        platform_id=str(platform.get("platform_id", "")),
        tenants=sorted(str(t) for t in platform.get("tenants") or []),
        live_keys=int(platform.get("live_keys") or 0),
        registered=when(platform.get("created_at")),
    )


@dataclass(frozen=True)
class KeyView:
    key_id: str
    issued: str
    revoked: str

    @property
    def live(self) -> bool:
        return not self.revoked


def key_view(key: Mapping[str, Any]) -> KeyView:
    return KeyView(
        key_id=str(key.get("key_id", "")),
        issued=when(key.get("created_at")),
        revoked=when(key.get("revoked_at")) if key.get("revoked_at") else "",
    )


@dataclass(frozen=True)
class DeadLetterQueueView:
    queue: str
    count: int
    messages: list[Mapping[str, Any]]

    @property
    def more(self) -> int:
        """Messages in the queue beyond those shown."""
        return max(self.count - len(self.messages), 0)


@dataclass(frozen=True)
class DeadLetterSection:
    service: str
    problem: str
    queues: list[DeadLetterQueueView]

    @property
    def total(self) -> int:
        return sum(q.count for q in self.queues)


def dead_letter_section(name: str, body: Mapping[str, Any] | None, *, problem: str) -> DeadLetterSection:
    """One service's dead letters (queues with none are left out), or why they could not be read."""
    if body is None:
        return DeadLetterSection(service=name, problem=problem, queues=[])
    queues = [
        DeadLetterQueueView(
            queue=str(q["queue"]), count=int(q["count"]), messages=list(q.get("messages") or [])
        )
        for q in body.get("queues") or []
        if int(q.get("count") or 0) > 0
    ]
    return DeadLetterSection(service=name, problem="", queues=queues)
