"""The rules of the exporter service: pure functions, no I/O."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.contracts.internal import ExportRequested
from shared.errors import RetryableError

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

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Job:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    @property
    def key(self) -> LinkKey:
        return (self.entity, self.platform_id)


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
    value: Any, links: Mapping[LinkKey, str], matches: Mapping[MatchKey, str] | None = None
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
    link: Mapping[str, Any], links: Mapping[LinkKey, str], matches: Mapping[MatchKey, str]
) -> str:
    if "match" in link:
        shown = str(link["match"]["value"])
        key = (str(link["entity"]), str(link["match"]["field"]), shown.lower())
        if key not in matches:
            raise Unmatched(key, shown)
        return matches[key]
    platform_key = (str(link["entity"]), str(link["platform_id"]))
    if platform_key not in links:
        raise Unlinked(platform_key)
    return links[platform_key]


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
        "payload": request.payload,
        "depends_on": depends_on,
    }
