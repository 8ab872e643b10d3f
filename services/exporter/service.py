"""The rules of the exporter service: pure functions, no I/O."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.contracts.internal import ExportRequested
from shared.errors import PermanentError, RetryableError

LinkKey = tuple[str, str]  # (QBO entity, platform id)

TERMINAL = ("succeeded", "failed", "skipped")
STATUSES = ("queued", "running", "succeeded", "failed", "parked", "skipped")
# Lists are deactivated, never deleted (reference §2.7).
LIST_ENTITIES = frozenset(
    {"Customer", "Vendor", "Employee", "Item", "Account", "Class", "Department", "Term"}
)


@dataclass(frozen=True)
class Job:
    """One write the dispatcher holds (a ``jobs`` row)."""

    id: str
    connection_id: str
    realm_id: str
    tenant_id: str | None
    entity: str
    operation: str
    object_type: str
    platform_id: str
    source_event_id: str
    requestid: str
    match_field: str | None
    match_value: str | None
    payload: dict[str, Any]
    attempts: int
    in_doubt: bool
    created_at: dt.datetime
    event_time: dt.datetime | None = None
    if_absent: str = "wait"
    match: dict[str, Any] | None = None
    wait_until: dt.datetime | None = None
    park_reason: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Job:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__ if name in row})

    @property
    def key(self) -> LinkKey:
        return (self.entity, self.platform_id)

    @property
    def order_time(self) -> dt.datetime:
        """When the platform says this write happened (its event time, else when it arrived)."""
        return self.event_time or self.created_at


class Unlinked(Exception):
    """A payload refers to an object that is not in QBO yet."""

    def __init__(self, key: LinkKey) -> None:
        super().__init__(f"{key[0]} {key[1]} is not in QuickBooks yet")
        self.key = key


def request_id(*, source_event_id: str, entity: str, platform_id: str, operation: str) -> str:
    """QBO's ``requestid`` for a write: stable for the same source event, ≤ 36 characters (§2.5)."""
    digest = hashlib.sha256(f"{source_event_id}\x1f{entity}\x1f{platform_id}\x1f{operation}".encode())
    return digest.hexdigest()[:32]


def batch_request_id(requestids: Sequence[str]) -> str:
    """The ``requestid`` of a batch: the same items give the same id (bIds are their positions)."""
    return hashlib.sha256("\x1f".join(requestids).encode()).hexdigest()[:32]


MatchKey = tuple[str, str, str]
"""(entity, field, value lower-cased): an object known in QBO only by a match key."""
Found = tuple[str, str | None]
"""A QBO object a match key found: its Id and its party (CustomerRef/VendorRef value), if any."""


def party_of(obj: Mapping[str, Any]) -> str | None:
    """The customer or vendor a QBO document belongs to."""
    for field in ("CustomerRef", "VendorRef", "EntityRef"):
        ref = obj.get(field)
        if isinstance(ref, dict) and ref.get("value") is not None:
            return str(ref["value"])
    return None


class Unmatched(RetryableError):
    """A payload names an object by a match key (an invoice number) that QBO does not have (yet)."""

    def __init__(self, key: MatchKey, shown: str) -> None:
        super().__init__(
            f"no {key[0]} with {key[1]} '{shown}' is in QuickBooks",
            code="link_not_found",
            hint=f"Send that {key[0].lower()} first, or correct the number this document refers to.",
        )


def link_refs(value: Any) -> Iterator[LinkKey]:
    """Every ``{"$link": {"entity", "platform_id"}}`` inside a payload (match-links excluded)."""
    if isinstance(value, dict):
        link = value.get("$link")
        if isinstance(link, dict) and len(value) == 1:
            if "platform_id" in link:
                yield (str(link["entity"]), str(link["platform_id"]))
            return
        for item in value.values():
            yield from link_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from link_refs(item)


def dependencies(request: ExportRequested) -> list[dict[str, str]]:
    """What must be in QBO before this write: ``depends_on`` plus every symbolic link, once each."""
    seen: dict[LinkKey, None] = {}
    for dep in request.depends_on:
        seen[(dep["entity"], dep["platform_id"])] = None
    for key in link_refs(request.payload):
        seen[key] = None
    own = (request.entity, request.platform_id)
    return [{"entity": e, "platform_id": p} for (e, p) in seen if (e, p) != own]


def match_refs(value: Any) -> Iterator[tuple[str, str, str]]:
    """Every ``{"$link": {"entity", "match": {"field", "value"}}}`` inside a payload, as given."""
    if isinstance(value, dict):
        link = value.get("$link")
        if isinstance(link, dict) and len(value) == 1:
            if "match" in link:
                yield (str(link["entity"]), str(link["match"]["field"]), str(link["match"]["value"]))
            return
        for item in value.values():
            yield from match_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from match_refs(item)


def resolve_links(
    value: Any, links: Mapping[LinkKey, str], matches: Mapping[MatchKey, list[Found]] | None = None
) -> Any:
    """``value`` with each symbolic link replaced by its QBO id.

    A link becomes ``{"value": id}`` (a QBO ref), or the bare id with ``"as": "id"`` (fields such
    as ``LinkedTxn[].TxnId``). Raises ``Unlinked`` for a platform object not written yet and
    ``Unmatched`` for a match key QBO does not know.
    """
    if isinstance(value, dict):
        link = value.get("$link")
        if isinstance(link, dict) and len(value) == 1:
            qbo_id = _link_target(link, links, matches or {})
            return qbo_id if link.get("as") == "id" else {"value": qbo_id}
        return {k: resolve_links(v, links, matches) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_links(item, links, matches) for item in value]
    return value


def _link_target(
    link: Mapping[str, Any], links: Mapping[LinkKey, str], matches: Mapping[MatchKey, list[Found]]
) -> str:
    if "match" in link:
        shown = str(link["match"]["value"])
        key = (str(link["entity"]), str(link["match"]["field"]), shown.lower())
        party = link["match"].get("party")
        wanted = None if party is None else str(resolve_links(party, links, matches).get("value"))
        # With a party, only that customer's (vendor's) document: another's with that number is not it.
        for qbo_id, owner in matches.get(key, []):
            if wanted is None or owner == wanted:
                return qbo_id
        raise Unmatched(key, shown)
    platform_key = (str(link["entity"]), str(link["platform_id"]))
    if platform_key not in links:
        raise Unlinked(platform_key)
    return links[platform_key]


def fingerprint(body: Mapping[str, Any]) -> str:
    """A stable hash of a write's body: the same platform data gives the same fingerprint."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _total(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def adoption_refusal(job: Job, found: Mapping[str, Any], *, party_id: str | None) -> PermanentError | None:
    """Why the QBO object a create's match key found must not be adopted, or None to adopt it.

    A document is adopted by number only when it is the named party's and, unless it may be our own
    write whose reply was lost (in doubt), has the same total. List objects (a customer by name)
    are adopted as they are.
    """
    match = job.match or {}
    if not match.get("party_field"):
        return None
    owner, total = party_of(found), _total(found.get("TotalAmt"))
    expected = _total(match.get("total"))
    if owner == party_id and (job.in_doubt or expected is None or total == expected):
        return None
    shown = found.get(str(match["party_field"])) or {}
    party = shown.get("name") or shown.get("value") or "another party"
    what = "another customer's" if match["party_field"] == "CustomerRef" else "another vendor's"
    if owner == party_id:
        what = f"the same party's, with a different total ({total} where this one comes to {expected})"
    return PermanentError(
        f"{job.entity} number '{job.match_value}' is already used in QuickBooks by {job.entity} "
        f"{found.get('Id')} ({what}: {party}, total {total}); it was not taken for this document",
        code="doc_number_in_use",
        hint="give the document another number, or void/renumber the QuickBooks document if it is "
        "a mistake; then send the event again",
    )


def superseded(job: Job, link_event_time: dt.datetime | None) -> bool:
    """A write older (by the platform's event time) than the last one applied to its object."""
    return link_event_time is not None and job.order_time < link_event_time


def unchanged(job: Job, body: Mapping[str, Any], link_fingerprint: str | None) -> bool:
    """A list object (customer, vendor, item) whose platform data is what the bridge last wrote."""
    return (
        job.entity in LIST_ENTITIES and link_fingerprint is not None and fingerprint(body) == link_fingerprint
    )


def wait_over(job: Job, now: dt.datetime) -> bool:
    return job.wait_until is not None and job.wait_until <= now


def absent_outcome(job: Job) -> str:
    """What an update, void or delete of an object QBO never got comes to, once it stops waiting:
    a void/delete of nothing is done (reported as skipped); an update has nothing to change."""
    return "skipped" if job.operation in ("void", "delete") else "failed"


def expired_problem(job: Job, note: str | None) -> PermanentError:
    """Why a job that waited too long ends, in words."""
    if job.park_reason == "connection":
        message = "the QuickBooks connection stayed unusable past the waiting limit"
        hint = "reconnect the company, then retry the job from the sync history"
    elif job.park_reason == "create":
        message = f"{job.entity} {job.platform_id} never reached QuickBooks, so it cannot be {job.operation}d"
        hint = "send the record's creation event first, then this one again"
    else:
        message = f"gave up {note or 'waiting for what this record depends on'}"
        hint = "send the records it depends on (or fix why they failed), then retry this job"
    return PermanentError(message, code="wait_expired", hint=hint)


def initial_status(
    *, connection_status: str | None, unmet: Sequence[Mapping[str, str]]
) -> tuple[str, str | None, str | None]:
    """(status, park reason, note) of a newly recorded job."""
    if connection_status not in (None, "active"):
        return "parked", "connection", f"waiting: the QuickBooks connection is {connection_status}"
    if unmet:
        return "parked", "dependency", waiting_note(unmet)
    return "queued", None, None


def waiting_note(unmet: Sequence[Mapping[str, str]]) -> str:
    """Why a job waits for others, in words."""
    names = ", ".join(f"{d['entity']} {d['platform_id']}" for d in unmet)
    return f"waiting for {names} to be in QuickBooks"


def retry_delay(
    attempt: int, delays: Sequence[float], *, jitter: float, rng: random.Random | None = None
) -> float:
    """Seconds before retry number ``attempt`` (1-based): the schedule, ± ``jitter`` of it at random."""
    base = delays[min(max(attempt, 1), len(delays)) - 1]
    spread = base * jitter
    return max(0.0, base + (rng or random).uniform(-spread, spread))


def batchable(job: Job) -> bool:
    """Whether a write may go in a batch: only where a retry can find out what happened.

    Creates need a match key (a lost batch reply is resolved by looking the key up); updates are
    idempotent. Creates without a key go alone, where the ``requestid`` replay protects them.
    """
    return job.operation == "update" or (job.operation == "create" and job.match_value is not None)


def chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def update_body(payload: Mapping[str, Any], *, qbo_id: str, sync_token: str) -> dict[str, Any]:
    """A sparse update: the changed fields plus the object's Id and latest SyncToken."""
    return {**payload, "Id": qbo_id, "SyncToken": sync_token, "sparse": True}


def deactivate_body(*, qbo_id: str, sync_token: str) -> dict[str, Any]:
    """How a list object is "deleted": a sparse update to ``Active: false``."""
    return {"Id": qbo_id, "SyncToken": sync_token, "sparse": True, "Active": False}


def batch_item(bid: str, *, entity: str, operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """One ``BatchItemRequest`` entry."""
    return {"bId": bid, "operation": operation, entity: dict(body)}


def doc_number(obj: Mapping[str, Any]) -> str | None:
    found = obj.get("DocNumber")
    return None if found is None else str(found)


def waiting_for_create_note(job: Job) -> str:
    return f"waiting: {job.entity} {job.platform_id} is not in QuickBooks yet (its creation has not arrived)"


def reported_operation(job: Job, *, found_existing: bool) -> str:
    """The operation ``sync.succeeded`` reports: ``link`` when an existing QBO object was adopted.

    A write whose reply was lost and that is then found is reported as the write it was.
    """
    if found_existing and job.operation == "create" and not job.in_doubt:
        return "link"
    return job.operation


def write_operation(job: Job, sent: str) -> str:
    """The operation ``sync.succeeded`` reports for a write QBO made: a create of an object already
    linked went as an update; a list "delete" went as a deactivating update but is still a delete."""
    return "update" if job.operation == "create" and sent == "update" else job.operation


def job_values(
    request: ExportRequested, *, tenant_id: str | None, depends_on: list[dict[str, str]]
) -> dict[str, Any]:
    """The ``jobs`` row of a new export (its status is set by the caller)."""
    return {
        "id": str(uuid.uuid4()),
        "connection_id": request.connection_id,
        "realm_id": request.realm_id,
        "tenant_id": tenant_id,
        "entity": request.entity,
        "operation": request.operation,
        "object_type": request.object_type or request.entity,
        "platform_id": request.platform_id,
        "source_event_id": request.source_event_id,
        "requestid": request_id(
            source_event_id=request.source_event_id,
            entity=request.entity,
            platform_id=request.platform_id,
            operation=request.operation,
        ),
        "match_field": request.match.field if request.match else None,
        "match_value": request.match.value if request.match else None,
        "match": request.match.model_dump(mode="json", exclude_none=True) if request.match else None,
        "payload": request.payload,
        "depends_on": depends_on,
        "event_time": request.event_time,
        "after": request.after,
        "if_absent": request.if_absent,
    }
