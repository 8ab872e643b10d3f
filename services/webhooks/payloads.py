"""Reading Intuit's webhook bodies, legacy and CloudEvents, into changes: pure, no I/O.

Legacy (reference §11.3): ``{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities":
[{"name", "id", "operation", "lastUpdated", "deletedId"?}]}}]}``.
CloudEvents (§11.4): a JSON array of ``{"specversion", "id", "type": "qbo.<entity>.<past>.v1",
"time", "intuitentityid", "intuitaccountid", "data"}``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shared.contracts.codec import InvalidMessage, Limits, load_json

Format = Literal["legacy", "cloudevents"]

# Intuit's entity names, so a lowercase CloudEvents type maps back to the name the API uses.
KNOWN_ENTITIES = (
    "Account",
    "Bill",
    "BillPayment",
    "Budget",
    "Class",
    "CreditMemo",
    "Currency",
    "Customer",
    "Department",
    "Deposit",
    "Employee",
    "Estimate",
    "Invoice",
    "Item",
    "JournalCode",
    "JournalEntry",
    "Payment",
    "PaymentMethod",
    "Preferences",
    "Purchase",
    "PurchaseOrder",
    "RefundReceipt",
    "SalesReceipt",
    "TaxAgency",
    "TaxCode",
    "TaxRate",
    "Term",
    "TimeActivity",
    "Transfer",
    "Vendor",
    "VendorCredit",
)
_BY_LOWER = {name.lower(): name for name in KNOWN_ENTITIES}
OPERATIONS = ("Create", "Update", "Delete", "Merge", "Void", "Emailed")
_OPERATION_BY_LOWER = {op.lower(): op for op in OPERATIONS} | {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "merged": "Merge",
    "voided": "Void",
    "emailed": "Emailed",
}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,49}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,50}$")


class MalformedPayload(ValueError):
    """The body is signed but is neither format; ``problems`` says what is wrong where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Change:
    """One entity change Intuit told us about."""

    realm_id: str
    entity: str
    qbo_id: str
    operation: str
    occurred_at: datetime | None
    event_id: str | None = None
    deleted_id: str | None = None

    def dedup_key(self) -> str:
        """Equal for a change delivered twice: the CloudEvents id, else every field of the change."""
        if self.event_id is not None:
            raw = f"ce|{self.event_id}"
        else:
            when = self.occurred_at.isoformat() if self.occurred_at else ""
            raw = "|".join(
                (
                    "legacy",
                    self.realm_id,
                    self.entity,
                    self.qbo_id,
                    self.operation,
                    when,
                    self.deleted_id or "",
                )
            )
        return hashlib.sha256(raw.encode()).hexdigest()


def body_digest(body: bytes) -> str:
    """The key of a delivery: a replayed body is recognised by it."""
    return hashlib.sha256(body).hexdigest()


def detect_format(document: Any) -> Format:
    """Which of Intuit's two formats ``document`` (parsed JSON) is; MalformedPayload if neither."""
    if isinstance(document, dict) and isinstance(document.get("eventNotifications"), list):
        return "legacy"
    if isinstance(document, list) and all(isinstance(e, dict) and "specversion" in e for e in document):
        return "cloudevents"
    raise MalformedPayload(
        ["body: expected an object with 'eventNotifications' (legacy) or an array of CloudEvents"]
    )


def parse_body(body: bytes) -> tuple[Format, list[Change]]:
    """The format and the changes of a webhook body; MalformedPayload naming every problem."""
    try:
        # Bounded like every message (depth, size, numbers): a signed body nested 5,000 deep once
        # escaped as a RecursionError, and the receiver answered 500.
        # Its size is the receiver's own limit (QBB_WEBHOOK_MAX_BODY_BYTES, checked before this).
        document = load_json(body.decode("utf-8"), Limits(max_bytes=len(body)))
    except UnicodeDecodeError as exc:
        raise MalformedPayload([f"body: not JSON ({exc})"]) from None
    except InvalidMessage as exc:
        found = "; ".join(p.message for p in exc.problems)
        raise MalformedPayload([f"body: not JSON within limits ({found})"]) from None
    fmt = detect_format(document)
    changes = parse_legacy(document) if fmt == "legacy" else parse_cloudevents(document)
    return fmt, changes


def parse_legacy(document: dict[str, Any]) -> list[Change]:
    """The changes of a legacy ``eventNotifications`` body."""
    changes: list[Change] = []
    problems: list[str] = []
    for n, notification in enumerate(document["eventNotifications"]):
        where = f"eventNotifications[{n}]"
        if not isinstance(notification, dict):
            problems.append(f"{where}: not an object")
            continue
        realm = notification.get("realmId")
        entities = (notification.get("dataChangeEvent") or {}).get("entities")
        if not _is_id(realm) or not isinstance(entities, list):
            problems.append(f"{where}: needs realmId and dataChangeEvent.entities")
            continue
        for e, item in enumerate(entities):
            change = _legacy_change(str(realm), item, f"{where}.dataChangeEvent.entities[{e}]", problems)
            if change is not None:
                changes.append(change)
    if problems:
        raise MalformedPayload(problems)
    return changes


def _legacy_change(realm: str, item: Any, where: str, problems: list[str]) -> Change | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: not an object")
        return None
    entity, operation = canonical_entity(item.get("name")), canonical_operation(item.get("operation"))
    qbo_id = item.get("id")
    deleted = item.get("deletedId", item.get("deletedID"))
    if (
        entity is None
        or operation is None
        or not _is_id(qbo_id)
        or (deleted is not None and not _is_id(deleted))
    ):
        problems.append(f"{where}: needs name, id and a known operation")
        return None
    return Change(
        realm_id=realm,
        entity=entity,
        qbo_id=str(qbo_id),
        operation=operation,
        occurred_at=parse_time(item.get("lastUpdated")),
        deleted_id=str(deleted) if deleted is not None else None,
    )


def parse_cloudevents(document: list[Any]) -> list[Change]:
    """The changes of a CloudEvents array."""
    changes: list[Change] = []
    problems: list[str] = []
    for n, event in enumerate(document):
        change = _cloudevent_change(event, f"[{n}]")
        if isinstance(change, str):
            problems.append(change)
        else:
            changes.append(change)
    if problems:
        raise MalformedPayload(problems)
    return changes


def _cloudevent_change(event: dict[str, Any], where: str) -> Change | str:
    parts = str(event.get("type", "")).split(".")
    if len(parts) < 3 or parts[0] != "qbo":
        return f"{where}.type: expected 'qbo.<entity>.<operation>.v1'"
    entity, operation = canonical_entity(parts[1]), canonical_operation(parts[2])
    realm, qbo_id, event_id = event.get("intuitaccountid"), event.get("intuitentityid"), event.get("id")
    if entity is None or operation is None:
        return f"{where}.type: unknown entity or operation in {event.get('type')!r}"
    if not (_is_id(realm) and _is_id(qbo_id) and isinstance(event_id, str) and 0 < len(event_id) <= 200):
        return f"{where}: needs id, intuitaccountid and intuitentityid"
    data = event.get("data")
    deleted = data.get("deletedid", data.get("deletedId")) if isinstance(data, dict) else None
    return Change(
        realm_id=str(realm),
        entity=entity,
        qbo_id=str(qbo_id),
        operation=operation,
        occurred_at=parse_time(event.get("time")),
        event_id=event_id,
        deleted_id=str(deleted) if _is_id(deleted) else None,
    )


def canonical_entity(name: Any) -> str | None:
    """Intuit's spelling of an entity name given in any case (``billpayment`` → ``BillPayment``)."""
    if not isinstance(name, str) or not _NAME.match(name):
        return None
    return _BY_LOWER.get(name.lower(), name[0].upper() + name[1:])


def canonical_operation(name: Any) -> str | None:
    """``Create`` ... ``Emailed`` from the legacy or the CloudEvents spelling; None if unknown."""
    return _OPERATION_BY_LOWER.get(name.lower()) if isinstance(name, str) else None


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from Intuit's several ISO spellings; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _is_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and bool(_ID.match(str(value)))
