"""The rules of the exporter service: pure functions, no I/O."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple

from shared.contracts.internal import ExportRequested
from shared.errors import BridgeError, ParkedError, PermanentError, RetryableError
from shared.qbo.errors import QboError, QboFault, QboStale, QboThrottled, QboUnavailable, error_for

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
    traceparent: str | None = None
    tracestate: str | None = None
    history: bool = False

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Job:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__ if name in row})

    @property
    def key(self) -> LinkKey:
        return (self.entity, self.platform_id)

    @property
    def lane(self) -> Literal["history"] | None:
        """The lane its outcome events name: ``history`` for a bulk batch's line, else none."""
        return "history" if self.history else None

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


def may_be_repeated(job: Job) -> bool:
    """A write whose queued repeats (the same create of the same list object again, as every invoice
    of one customer ensures its customer) end with it: each would find the object linked and
    unchanged (``unchanged``), so none needs a round of its own."""
    return job.entity in LIST_ENTITIES and job.operation == "create"


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


# Where QBO refuses a second object with the same match key (6240 for names, 6140 for the numbers
# of sales forms; reference §8.6): a create there needs no lookup first, its fault says so.
REFUSES_DUPLICATES = LIST_ENTITIES | {"Invoice", "SalesReceipt", "CreditMemo", "Estimate", "RefundReceipt"}
DUPLICATE_FAULTS = frozenset({"6140", "6240"})


def looks_up_first(job: Job) -> bool:
    """Whether a create is preceded by a lookup of its match key: when it may already have been
    written (in doubt), or where QBO would take a duplicate silently. Otherwise the create goes at
    once (one call) and a duplicate fault leads to the lookup (``duplicate_refused``)."""
    if job.operation != "create" or not (job.match_field and job.match_value):
        return False
    return job.in_doubt or job.entity not in REFUSES_DUPLICATES


def duplicate_refused(planned: object) -> bool:
    """A create with a match key QBO refused as a duplicate: look the key up (adopt or refuse)."""
    if not isinstance(planned, Errored) or not isinstance(planned.error, QboError):
        return False
    job = planned.job
    return (
        job.operation == "create" and bool(job.match_value) and planned.error.fault.code in DUPLICATE_FAULTS
    )


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
        "history": request.lane == "history",
    }


# -- one export round's decisions: which write, what its answer comes to, retry/park/fail ---------


@dataclass(frozen=True)
class Write:
    """A job ready to send: the QBO operation and body (for void/delete: the target)."""

    job: Job
    operation: str  # create | update | void | delete
    body: dict[str, Any]
    fingerprint: str | None = None  # of the platform's data in the body, kept with the link


@dataclass(frozen=True)
class Succeeded:
    """QBO has the object (written, adopted, or unchanged); ``report=False`` when no call was needed."""

    job: Job
    obj: dict[str, Any]
    operation: str
    fingerprint: str | None = None
    report: bool = True


@dataclass(frozen=True)
class Skipped:
    """Nothing to do in QBO; ``note`` says why; ``qbo_id`` when the object is there."""

    job: Job
    note: str
    qbo_id: str | None = None
    report: bool = True


@dataclass(frozen=True)
class Waits:
    """Back to waiting (bounded): for a ``dependency`` to be linked, or for the object's ``create``."""

    job: Job
    reason: str
    note: str


@dataclass(frozen=True)
class Errored:
    """A write (or its preparation) failed; ``settle`` says what that comes to."""

    job: Job
    error: BaseException


@dataclass(frozen=True)
class Problem:
    """A failure described for people and for the sync history."""

    code: str
    message: str
    hint: str
    category: str
    retryable: bool
    qbo_fault: dict[str, Any] | None = None
    intuit_tid: str | None = None

    COLUMNS = ("last_error", "error_code", "hint", "error_category", "retryable", "qbo_fault", "intuit_tid")

    def columns(self) -> dict[str, Any]:
        return {
            "last_error": self.message,
            "error_code": self.code,
            "hint": self.hint,
            "error_category": self.category,
            "retryable": self.retryable,
            "qbo_fault": self.qbo_fault,
            "intuit_tid": self.intuit_tid,
        }


@dataclass(frozen=True)
class Retry:
    """Queued again after ``delay`` seconds; ``count``: whether it uses up an attempt."""

    job: Job
    problem: Problem
    delay: float
    in_doubt: bool
    count: bool


@dataclass(frozen=True)
class ParkConnection:
    """The connection cannot be used now: this job and the connection's queued ones wait for it."""

    job: Job
    problem: Problem


@dataclass(frozen=True)
class Failed:
    """The job ends failed; the platform is told why."""

    job: Job
    problem: Problem


Planned = Write | Succeeded | Skipped | Waits | Errored
Outcome = Succeeded | Skipped | Waits | Retry | ParkConnection | Failed


@dataclass(frozen=True)
class RetryPolicy:
    """The exporter's one retry schedule for QBO writes (the broker's delay queues are for handlers)."""

    delays: Sequence[float]
    jitter: float
    throttle_pause: float


def plan(
    job: Job,
    *,
    link: Mapping[Any, Any] | None,
    ids: Mapping[LinkKey, str],
    matches: Mapping[MatchKey, list[Found]],
    found: Mapping[str, Any] | None = None,
) -> Planned:
    """What to do for one claimed job, given its link, the links and match keys its payload names,
    and what a create's match-key lookup ``found`` in QBO: a write, or an outcome without a call."""
    try:
        if found is not None and job.operation == "create":
            return _adopt(job, found, ids, matches)
        return _plan(job, link, ids, matches)
    except Unlinked as exc:
        return Waits(job, "dependency", waiting_note([{"entity": exc.key[0], "platform_id": exc.key[1]}]))
    except Exception as exc:  # noqa: BLE001 - becomes the job's outcome
        return Errored(job, exc)


def _adopt(
    job: Job, obj: Mapping[str, Any], ids: Mapping[LinkKey, str], matches: Mapping[MatchKey, list[Found]]
) -> Planned:
    """A create whose match key QBO already has: adopt it if it is this document, else refuse."""
    refusal = adoption_refusal(job, obj, party_id=party_id(job, ids))
    if refusal is not None:
        return Errored(job, refusal)
    try:
        body = resolve_links(job.payload, ids, matches)
    except Exception:  # noqa: BLE001 - the fingerprint is an optimisation; no body, no fingerprint
        body = None
    operation = reported_operation(job, found_existing=True)
    return Succeeded(job, dict(obj), operation, fingerprint(body) if body is not None else None)


def _plan(
    job: Job,
    link: Mapping[str, Any] | None,
    ids: Mapping[LinkKey, str],
    matches: Mapping[MatchKey, list[Found]],
) -> Planned:
    if link is None:
        if job.operation == "create":
            body = resolve_links(job.payload, ids, matches)
            return Write(job, "create", body, fingerprint(body))
        if job.if_absent == "skip":
            note = f"nothing to {job.operation}: {job.entity} {job.platform_id} is not in QuickBooks"
            return Skipped(job, note, report=False)
        return Waits(job, "create", waiting_for_create_note(job))
    qbo_id, token = str(link["qbo_id"]), str(link["sync_token"] or "0")
    if superseded(job, link["event_time"]):
        note = f"superseded: a newer event for {job.entity} {job.platform_id} was already applied"
        return Skipped(job, note, qbo_id=qbo_id)
    if job.operation in ("create", "update"):
        body = resolve_links(job.payload, ids, matches)
        if job.operation == "create" and unchanged(job, body, link["fingerprint"]):
            obj = {"Id": qbo_id, "SyncToken": token, "DocNumber": link["doc_number"]}
            return Succeeded(job, obj, "update", report=False)
        # A create for an object already linked (a new source event) must not make a second one.
        return Write(job, "update", update_body(body, qbo_id=qbo_id, sync_token=token), fingerprint(body))
    if job.operation == "delete" and job.entity in LIST_ENTITIES:
        return Write(job, "update", deactivate_body(qbo_id=qbo_id, sync_token=token))
    return Write(job, job.operation, {"Id": qbo_id, "SyncToken": token})


def party_id(job: Job, ids: Mapping[LinkKey, str]) -> str | None:
    """The QBO id of the party a create's match names (its customer or vendor), if resolvable."""
    party = (job.match or {}).get("party")
    if party is None:
        return None
    try:
        resolved = resolve_links(party, ids)
    except Unlinked:
        return None
    return None if not isinstance(resolved, dict) else str(resolved.get("value"))


def best_match(job: Job, candidates: Sequence[dict[str, Any]], ids: Mapping[LinkKey, str]) -> dict[str, Any]:
    """Of the QBO objects with a create's match key, the one of its party if there is one."""
    party = party_id(job, ids)
    return next((c for c in candidates if party_of(c) == party), candidates[0])


def sent(write: Write, obj: Mapping[str, Any]) -> Succeeded:
    """The outcome of a write QBO made."""
    return Succeeded(write.job, dict(obj), write_operation(write.job, write.operation), write.fingerprint)


def send_failed(write: Write, error: BaseException) -> Succeeded | Errored:
    """A failed send: a delete in doubt that QBO says is gone (610) was ours; else an error."""
    job = write.job
    if job.operation == "delete" and job.in_doubt and getattr(error, "code", "") == "610":
        return Succeeded(job, {"Id": write.body["Id"]}, "delete")
    return Errored(job, error)


def batch_answer(write: Write, answer: Mapping[str, Any] | None) -> Succeeded | Errored:
    """One item's answer in a batch reply: the object, or its Fault as that job's error."""
    obj = None if answer is None else answer.get(write.job.entity)
    if isinstance(obj, dict):
        return sent(write, obj)
    return Errored(write.job, error_for(item_fault(answer)))


def is_stale(planned: object) -> bool:
    """5010: the SyncToken was old (re-read it and write once more)."""
    return isinstance(planned, Errored) and isinstance(planned.error, QboStale)


def item_fault(answer: Mapping[str, Any] | None) -> QboFault:
    if answer is None or not isinstance(answer.get("Fault"), dict):
        return QboFault(
            "batch_item_missing", "no answer for this item", "", "", 500, None, dict(answer or {})
        )
    errors = answer["Fault"].get("Error") or [{}]
    first = errors[0]
    return QboFault(
        str(first.get("code", "")),
        str(first.get("Message", "")),
        str(first.get("Detail", "")),
        str(first.get("element") or ""),
        400,
        None,
        {"Fault": answer["Fault"]},
    )


def split_batches(writes: Sequence[Write], size: int) -> tuple[list[list[Write]], list[Write]]:
    """(batches of up to ``size``, writes sent alone): a batch only when two or more can go in one."""
    grouped = [w for w in writes if batchable(w.job)]
    alone = [w for w in writes if not batchable(w.job)]
    if len(grouped) < 2:
        return [], grouped + alone
    return list(chunks(grouped, size)), alone


class Round(NamedTuple):
    """One claimed batch of a realm being written: how many jobs, whether backfill writes, and when
    it began (``time.monotonic()``)."""

    size: int
    history: bool = False
    started: float = 0.0


def claim_room(
    in_flight: Mapping[str, Sequence[Round]], *, now: float, slots: int, young: float, batch_size: int
) -> int:
    """How many realms the next claim may take: ``slots`` less the rounds of fewer than
    ``batch_size`` jobs begun in the last ``young`` seconds (at least none).

    Under load this is what fills batches: a claim taken the moment a job is recorded finds one or
    two ready in each realm, and a hundred small rounds cost a hundred calls, leases and records,
    where jobs left to gather for a few rounds go thirty to a call. A full round holds no slot (it
    gains nothing by waiting: a realm's backlog goes at its own pace), nor does one that has run
    longer than ``young`` (a slow answer from QBO, a realm waiting out its limits or a 429): realms
    that are slow or throttled never hold the others up. An idle process has all its slots, so a
    lone invoice is claimed at once.
    """
    return max(0, slots - len(_holding(in_flight, now=now, young=young, batch_size=batch_size)))


def room_again(
    in_flight: Mapping[str, Sequence[Round]], *, now: float, young: float, batch_size: int
) -> float | None:
    """Seconds until ``claim_room`` grows without a round ending: until the oldest round holding a
    slot stops holding it (None when none holds one)."""
    holding = _holding(in_flight, now=now, young=young, batch_size=batch_size)
    return young - max(now - r.started for r in holding) if holding else None


def _holding(
    in_flight: Mapping[str, Sequence[Round]], *, now: float, young: float, batch_size: int
) -> list[Round]:
    return [
        r for going in in_flight.values() for r in going if r.size < batch_size and now - r.started < young
    ]


def busy_realms(
    in_flight: Mapping[str, Sequence[Round]],
    *,
    batch_size: int,
    rounds: int,
    drained: Collection[str] = (),
) -> list[str]:
    """Realms a dispatcher must not claim from now, given its rounds in flight per realm.

    A realm takes another round while each of its rounds in flight took a full batch of live writes
    (it has a backlog), up to ``rounds`` at once; one round of a realm whose last claim found less
    than a batch is all it needs. A round of backfill writes goes alone, so a live write sent
    meanwhile waits behind one round of history at most. A realm in ``drained`` had nothing ready
    beside its rounds in flight (what is left waits for them): asking again before one of them ends
    would only keep a claim's place from another realm. The claim keeps concurrent rounds apart: a
    job waits while an earlier write to its object or a dependency is still open, so no two rounds
    write one object.
    """
    return sorted(
        realm
        for realm, going in in_flight.items()
        if going
        and (len(going) >= rounds or realm in drained or any(r.size < batch_size or r.history for r in going))
    )


def describe(exc: BaseException) -> Problem:
    """The problem an exception stands for (an unexpected one is named by type only: its text can
    carry SQL or internals, which go to the log, not to platforms)."""
    if isinstance(exc, QboError):
        f, a = exc.fault, exc.advice
        detail = f" QuickBooks says: {f.detail}" if f.detail else ""
        element = f" (field: {f.element})" if f.element else ""
        message = f"{a.message}{element}{detail}"
        return Problem(f.code, message, a.hint, a.category, a.retryable, f.raw or None, f.intuit_tid)
    if isinstance(exc, BridgeError):
        category = "transient" if isinstance(exc, RetryableError) else "authorization"
        if not isinstance(exc, RetryableError | ParkedError):
            category = "needs_person"
        return Problem(exc.code, exc.message, exc.hint, category, isinstance(exc, RetryableError))
    return Problem(
        "internal_error",
        f"the bridge hit an unexpected error ({type(exc).__name__}) writing this record",
        "it is retried automatically; if it keeps failing, the operators have the details in the logs",
        "transient",
        True,
    )


def settle(
    job: Job, error: BaseException, policy: RetryPolicy, *, rng: random.Random | None = None
) -> Retry | ParkConnection | Failed:
    """What a failure comes to: wait for the connection, retry later, or fail."""
    problem = describe(error)
    if isinstance(error, ParkedError):
        return ParkConnection(job, problem)
    if isinstance(error, QboThrottled):
        # A throttle is the realm's state, not the job's fault: it does not use up an attempt.
        return Retry(job, problem, policy.throttle_pause, in_doubt=False, count=False)
    if isinstance(error, RetryableError) or problem.retryable:
        if job.attempts >= len(policy.delays) + 1:
            return Failed(job, problem)
        delay = retry_delay(job.attempts, policy.delays, jitter=policy.jitter, rng=rng)
        unknown = isinstance(error, QboUnavailable) and error.outcome_unknown
        return Retry(job, problem, delay, in_doubt=unknown, count=True)
    return Failed(job, problem)


def expired(job: Job, note: str | None) -> Skipped | Failed:
    """A job that waited past its limit ends: a void/delete of what never came is done (skipped);
    anything else fails, telling the platform what it waited for."""
    problem = expired_problem(job, note)
    if job.park_reason == "create" and absent_outcome(job) == "skipped":
        return Skipped(job, problem.message)
    return Failed(job, describe(problem))


# -- the dry run of a bulk file (architecture §5b): the write path's decisions, said in words ------


@dataclass(frozen=True)
class Verdict:
    """What the write path would do with one write: create, update, link (to ``qbo_id``) or reject."""

    action: str
    qbo_id: str | None
    reason: str


def has_match_key(job: Job) -> bool:
    return job.operation == "create" and bool(job.match_field and job.match_value)


def preview_job(request: ExportRequested, *, now: dt.datetime) -> Job:
    """The job a write would become, for a dry run (never stored)."""
    values = job_values(request, tenant_id=None, depends_on=dependencies(request))
    return Job.from_row({**values, "attempts": 0, "in_doubt": False, "created_at": now})


def planned_id(planned: Planned) -> str | None:
    """The QBO id a planned job would be linked to, when it is known before writing."""
    if isinstance(planned, Succeeded):
        return str(planned.obj.get("Id")) if planned.obj.get("Id") is not None else None
    if isinstance(planned, Write) and planned.operation != "create":
        return str(planned.body.get("Id"))
    return None


def _matched(job: Job) -> str:
    what = f"{job.match_field} '{job.match_value}'"
    if (job.match or {}).get("party_field"):
        return f"{what}, the same {str((job.match or {})['party_field']).removesuffix('Ref').lower()}"
    return what


def verdict(planned: Planned, *, created_before: bool = False) -> Verdict:
    """A planned job in words; ``created_before``: an earlier write of the same run creates its object."""
    job = planned.job
    if isinstance(planned, Write):
        qbo_id = None if planned.operation == "create" else str(planned.body.get("Id"))
        if planned.operation == "create" and created_before:
            return Verdict("update", None, f"the {job.entity} an earlier write creates, updated")
        if planned.operation == "create":
            absent = f" (no {job.entity} with {job.match_field} '{job.match_value}' in QuickBooks)"
            return Verdict("create", None, f"a new {job.entity}" + (absent if has_match_key(job) else ""))
        what = "already written by the bridge" if job.operation == "create" else job.operation
        return Verdict("update", qbo_id, f"{what}: {planned.operation} of {job.entity} {qbo_id}")
    if isinstance(planned, Succeeded):
        qbo_id = planned_id(planned)
        if planned.operation == "link":
            why = f"QuickBooks already has {job.entity} {qbo_id} with {_matched(job)}: linked, not created"
            return Verdict("link", qbo_id, why)
        return Verdict("update", qbo_id, f"{job.entity} {qbo_id} is as the bridge last wrote it: no call")
    if isinstance(planned, Skipped):
        return Verdict("update", planned.qbo_id, planned.note)
    if isinstance(planned, Waits):
        action = "create" if job.operation == "create" and not created_before else "update"
        return Verdict(action, None, f"{planned.note}; written after it")
    problem = describe(planned.error)
    return Verdict("reject", None, f"{problem.message} ({problem.hint})" if problem.hint else problem.message)
