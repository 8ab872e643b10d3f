"""The rules of the webhooks service: pure functions, no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from services.webhooks.payloads import Change, canonical_entity, parse_time
from shared.contracts.bridge import AppliedTo, QboPaymentReceived, QboProjectChanged
from shared.contracts.catalogue import CHANGED_ENTITIES
from shared.contracts.internal import ReadPathCategory

# CDC looks back at most 30 days (reference §4); an hour's margin keeps a slow run inside it.
CDC_LOOKBACK = timedelta(days=30) - timedelta(hours=1)
CDC_CAP = 1000
# Each CDC run starts this far before the previous one began: a change committed while that run
# was in flight is seen again rather than missed (repeats are absorbed by the version check).
CDC_OVERLAP = timedelta(minutes=2)
QUERY_IDS_PER_CALL = 100

# The reference lists the mapper needs, in import order (reference §8).
IMPORT_ENTITIES = (
    "Account",
    "TaxCode",
    "TaxRate",
    "Term",
    "PaymentMethod",
    "Class",
    "Department",
    "Item",
    "Customer",
    "Vendor",
)
# Name lists return only active records unless asked (reference §3.1); the mapper needs both.
_HAS_ACTIVE = frozenset(IMPORT_ENTITIES)

# ``sync.succeeded`` object types that are not simply an entity name in another spelling.
_OBJECT_TYPE_ENTITY = {
    "credit_note": "CreditMemo",
    "credit_note_application": "Payment",
    "refund": "RefundReceipt",
    "purchase_order": "PurchaseOrder",
    "bill_payment": "BillPayment",
    "journal_entry": "JournalEntry",
    "sales_receipt": "SalesReceipt",
    "payment_method": "PaymentMethod",
    "tax_code": "TaxCode",
}
# Payments applied to documents that came from a platform travel back as ``qbo.payment.received``.
PAYMENT_LINKS = {"Payment": ("Invoice", "payment"), "BillPayment": ("Bill", "bill_payment")}
# What ``sync.succeeded`` links are kept for: documents payments come back against, and customers
# (the clients of projects made in QBO).
LINKED_DOCUMENTS = frozenset({"Invoice", "Bill", "Customer"})
# The uuid5 namespace of payment event ids (a constant: changing it changes every id).
PAYMENT_EVENTS = uuid.UUID("5b0c7f2e-3d4a-5e6f-8a9b-0c1d2e3f4a5b")
_ZERO = Decimal("0.00")


# The settings category whose direction and start date decide whether an entity's changes reach
# the platform (the mapper's categories); entities of none (accounts, tax codes, terms, ...) always do.
CATEGORY_OF_ENTITY = {
    "Customer": "customers",
    "Vendor": "vendors",
    "Item": "items",
    "Invoice": "invoices",
    "CreditMemo": "invoices",
    "Payment": "payments",
    "RefundReceipt": "payments",
    "Bill": "bills",
    "BillPayment": "bills",
    "PurchaseOrder": "purchase_orders",
}


def withheld(
    entity: str, entity_data: Mapping[str, Any] | None, categories: Mapping[str, ReadPathCategory]
) -> str | None:
    """Why the connection's settings keep a change of ``entity`` from the platform, or None.

    Only ``from_qbo`` and ``both`` let a category's changes through; a document dated (TxnDate)
    before the category's start date stays back too. A category the settings never named has its
    defaults (enabled, ``to_qbo``): withheld.
    """
    name = CATEGORY_OF_ENTITY.get(entity)
    if name is None:
        return None
    cat = categories.get(name) or ReadPathCategory()
    if not cat.enabled or cat.direction == "off":
        return f"the {name} category is turned off"
    if cat.direction not in ("from_qbo", "both"):
        return (
            f"{name} sync to QuickBooks only (direction {cat.direction}; from_qbo or both sends changes back)"
        )
    day = _txn_date((entity_data or {}).get("TxnDate"))
    if cat.start_date is not None and day is not None and day < cat.start_date:
        return f"dated {day.isoformat()}, before the {name} start date {cat.start_date.isoformat()}"
    return None


def _txn_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def is_published(entity: str) -> bool:
    """True for entities whose changes the contract carries as ``qbo.<entity>.changed``."""
    return entity in CHANGED_ENTITIES


def entity_of_object_type(object_type: str) -> str | None:
    """The QBO entity a ``sync.succeeded`` object type was written as (``credit_note`` → CreditMemo)."""
    if object_type in _OBJECT_TYPE_ENTITY:
        return _OBJECT_TYPE_ENTITY[object_type]
    return canonical_entity(object_type.replace("_", ""))


@dataclass(frozen=True, order=True, slots=True)
class Version:
    """How new an entity is: SyncToken first (it grows by one on every write), then the time."""

    sync_token: int
    last_updated_at: datetime


def version_of(entity_data: Mapping[str, Any]) -> Version | None:
    """The version of a QBO object; None when it lacks a usable SyncToken or LastUpdatedTime."""
    updated = parse_time((entity_data.get("MetaData") or {}).get("LastUpdatedTime"))
    try:
        token = int(str(entity_data.get("SyncToken")))
    except ValueError:
        return None
    return Version(token, updated) if updated is not None else None


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do about one entity id: fetch it and report ``operation``, or report its deletion."""

    entity: str
    qbo_id: str
    operation: str
    fetch: bool
    deleted_at: datetime | None = None
    # Every notification of the batch was its creation (no later change rode along).
    created_only: bool = False


def plan_changes(changes: Iterable[Change]) -> list[Plan]:
    """One plan per entity id, however many notifications spoke of it.

    QBO never reuses an id, so a deletion is final. Otherwise the current object is fetched once
    and reported with the first operation when the batch holds its creation, else the last.
    """
    groups: dict[tuple[str, str], list[Change]] = {}
    for change in changes:
        groups.setdefault((change.entity, change.qbo_id), []).append(change)
        if change.operation == "Merge" and change.deleted_id:
            merged_away = Change(
                change.realm_id, change.entity, change.deleted_id, "Delete", change.occurred_at
            )
            groups.setdefault((change.entity, change.deleted_id), []).append(merged_away)
    return [_plan(entity, qbo_id, group) for (entity, qbo_id), group in groups.items()]


def _plan(entity: str, qbo_id: str, group: Sequence[Change]) -> Plan:
    deletes = [c for c in group if c.operation == "Delete"]
    if deletes:
        return Plan(entity, qbo_id, "Delete", fetch=False, deleted_at=deletes[-1].occurred_at)
    ordered = sorted(group, key=lambda c: (c.occurred_at is None, c.occurred_at))
    operations = [c.operation for c in ordered]
    operation = "Create" if "Create" in operations else operations[-1]
    return Plan(entity, qbo_id, operation, fetch=True, created_only=set(operations) == {"Create"})


def own_creations(
    plans: Iterable[Plan], *, connection_ids: Sequence[str], created_by: Set[tuple[str, str, str]]
) -> list[Plan]:
    """The plans that only report an object's creation when every connection of the realm created
    it itself (``created_by``: (connection, entity, id) the exporter wrote at SyncToken 0).

    QBO creates an object once, so such a notification is our own write coming back: it needs no
    fetch to be recognised. A later change by someone else has a notification of its own.
    """
    return [
        p
        for p in plans
        if p.fetch
        and p.created_only
        and connection_ids
        and all((c, p.entity, p.qbo_id) in created_by for c in connection_ids)
    ]


def awaiting_word(
    plans: Iterable[Plan], *, echoes: Sequence[Plan], young: Set[tuple[str, str]], written: Set[str] | None
) -> list[Plan]:
    """The creations to hold back a while: the exporter's word that they are its own may still be on
    its way (``sync.succeeded`` goes through the broker, QBO's notification came straight here).

    Only for entities the bridge is writing to the company (``written``; None: not asked yet, any),
    for a notification received lately (``young``: the (entity, id) of changes still within the
    wait). Read and published now, our own creation would go back to the platform as someone
    else's, at the cost of a QBO read. Held, it is recognised without one as soon as the word
    comes; if none comes in time it is someone else's, read and published as before.
    """
    return [
        p
        for p in plans
        if p.fetch
        and p.created_only
        and p not in echoes
        and (p.entity, p.qbo_id) in young
        and (written is None or p.entity in written)
    ]


def cdc_operation(entity_data: Mapping[str, Any]) -> str:
    """The operation a CDC object stands for: deleted stubs, new objects (SyncToken 0), updates."""
    if entity_data.get("status") == "Deleted":
        return "Delete"
    return "Create" if str(entity_data.get("SyncToken")) == "0" else "Update"


def quote(value: str) -> str:
    """A query-language string literal (reference §3.1: backslash escapes a quote)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ids_queries(entity: str, ids: Sequence[str]) -> list[str]:
    """``select * from <entity> where Id in (...)`` statements fetching ``ids`` in few calls."""
    chunks = [ids[i : i + QUERY_IDS_PER_CALL] for i in range(0, len(ids), QUERY_IDS_PER_CALL)]
    active = " and Active in (true, false)" if entity in _HAS_ACTIVE else ""
    literals = [", ".join(quote(i) for i in chunk) for chunk in chunks]
    # QBO's query language, not SQL; every value goes through quote().
    return [
        f"select * from {entity} where Id in ({ids}){active} maxresults {QUERY_IDS_PER_CALL}"  # noqa: S608
        for ids in literals
    ]


def import_where(
    entity: str, created_from: datetime | None = None, created_to: datetime | None = None
) -> str:
    """The filter of an import: inactive list objects too; only those created in the range, if any."""
    clauses = ["Active in (true, false)"] if entity in _HAS_ACTIVE else []
    if created_from is not None:
        clauses.append(f"MetaData.CreateTime >= {quote(created_from.isoformat())}")
    if created_to is not None:
        clauses.append(f"MetaData.CreateTime <= {quote(created_to.isoformat())}")
    return " AND ".join(clauses)


def import_entities(entities: Sequence[str] | None) -> tuple[str, ...]:
    """What an import fetches: the entities asked for, else every reference list."""
    return tuple(entities) if entities else IMPORT_ENTITIES


def narrowed(
    entities: Sequence[str] | None, created_from: datetime | None, created_to: datetime | None
) -> bool:
    """An import limited by entity or date is not the company's reference import (nothing waits on it)."""
    return bool(entities) or created_from is not None or created_to is not None


def import_refusal(
    entities: Sequence[str], created_from: datetime | None, created_to: datetime | None
) -> str | None:
    """Why an import cannot be asked for in words, or None."""
    unknown = [e for e in entities if not is_published(e)]
    if unknown:
        return (
            f"unknown entities {', '.join(unknown)}: use QBO entity names such as Invoice, Customer, Payment"
        )
    if created_from is not None and created_to is not None and created_from > created_to:
        return "created_from is after created_to"
    return None


CdcStep = Literal["cdc", "reimport"]


def cdc_step(changed_since: datetime, now: datetime) -> CdcStep:
    """CDC while the watermark is within CDC's 30 days; past that only a full re-import is complete."""
    return "cdc" if now - changed_since <= CDC_LOOKBACK else "reimport"


def next_watermark(run_started_at: datetime) -> datetime:
    """Where the next CDC run starts."""
    return run_started_at - CDC_OVERLAP


def settled(entity_data: Mapping[str, Any], cutoff: datetime) -> bool:
    """True when a CDC object changed before ``cutoff``.

    CDC leaves the most recent changes to the webhooks: by the time a change settles, the
    ``sync.succeeded`` of our own write has arrived, so CDC cannot mistake it for someone else's.
    The next run starts before ``cutoff`` (see ``next_watermark``), so nothing is skipped for good.
    """
    updated = parse_time((entity_data.get("MetaData") or {}).get("LastUpdatedTime"))
    return updated is None or updated <= cutoff


def capped(result: Mapping[str, Sequence[Any]]) -> bool:
    """True when a CDC answer reached the 1,000-object cap and may be missing objects."""
    return sum(len(objects) for objects in result.values()) >= CDC_CAP


def linked_document_ids(entity: str, entity_data: Mapping[str, Any]) -> list[str]:
    """The invoices a Payment (or bills a BillPayment) is applied to."""
    if entity not in PAYMENT_LINKS:
        return []
    wanted = PAYMENT_LINKS[entity][0]
    return [txn_id for txn_id, txn_type, _ in _linked(entity_data) if txn_type == wanted]


def project_client(entity: str, entity_data: Mapping[str, Any]) -> str | None:
    """The QBO id of a project's client (its parent customer); None when the object is no project."""
    parent = entity_data.get("ParentRef")
    if entity != "Customer" or entity_data.get("IsProject") is not True or not isinstance(parent, dict):
        return None
    value = parent.get("value")
    return str(value) if value else None


def project_changed(
    entity_data: Mapping[str, Any],
    *,
    operation: str,
    client_platform_id: str | None,
    connection_id: str,
    realm_id: str,
) -> QboProjectChanged | None:
    """``qbo.project.changed`` for a project's Customer object; None for any other customer."""
    client = project_client("Customer", entity_data)
    if client is None or operation not in ("Create", "Update", "Merge", "Import"):
        return None
    parent = entity_data["ParentRef"]
    qualified = str(entity_data.get("FullyQualifiedName") or "")
    return QboProjectChanged.model_validate(
        {
            "qbo_id": str(entity_data.get("Id")),
            "operation": operation,
            "name": str(entity_data.get("DisplayName") or qualified.rpartition(":")[2]),
            "active": entity_data.get("Active") is not False,
            "client_qbo_id": client,
            # QBO names the parent in the reference; the qualified name's head is the same name.
            "client_name": parent.get("name") or (qualified.rpartition(":")[0] or None),
            "client_platform_id": client_platform_id,
            "connection_id": connection_id,
            "realm_id": realm_id,
            "entity_data": dict(entity_data),
        }
    )


def payment_event_id(*, tenant_id: str, realm_id: str, entity: str, payment: QboPaymentReceived) -> str:
    """The id of ``qbo.payment.received`` for one version of a payment: the same version, the same id.

    uuid5 (namespace ``PAYMENT_EVENTS``) of ``<tenant>/<realm>/<entity>/<qbo id>/<SyncToken>``, with
    ``deleted`` for the SyncToken once the payment is gone. The tenant keeps two tenants connected
    to one realm apart; the entity keeps a Payment and a BillPayment with the same id apart.
    """
    version = "deleted" if payment.status == "deleted" else str(payment.sync_token)
    name = f"{tenant_id}/{realm_id}/{entity}/{payment.qbo_id}/{version}"
    return str(uuid.uuid5(PAYMENT_EVENTS, name))


def payment_received(
    entity: str,
    entity_data: Mapping[str, Any],
    platform_ids: Mapping[str, str],
    *,
    connection_id: str,
    operation: str = "Update",
    previous: Mapping[str, Any] | None = None,
) -> QboPaymentReceived | None:
    """``qbo.payment.received`` for a payment applied to at least one document; None otherwise.

    A voided payment keeps its documents with amount 0. A payment reported before (``previous``)
    whose links are gone names the documents of that report with amount 0, so the platform knows
    what to take back.
    """
    if entity not in PAYMENT_LINKS:
        return None
    wanted, kind = PAYMENT_LINKS[entity]
    applied = [
        AppliedTo(platform_invoice_id=platform_ids.get(txn_id), qbo_invoice_id=txn_id, amount=amount)
        for txn_id, txn_type, amount in _linked(entity_data)
        if txn_type == wanted
    ]
    voided = operation == "Void" or is_voided(entity_data)
    if not applied and previous is not None:
        applied = [_zeroed(a) for a in QboPaymentReceived.model_validate(previous).applied_to]
    date, total = entity_data.get("TxnDate"), _decimal(entity_data.get("TotalAmt"))
    if not applied or not isinstance(date, str) or total is None:
        return None
    return QboPaymentReceived.model_validate(
        {
            "qbo_id": str(entity_data.get("Id")),
            "amount": str(_ZERO if voided else total),
            "date": date,
            "currency": (entity_data.get("CurrencyRef") or {}).get("value"),
            "connection_id": connection_id,
            "applied_to": [_zeroed(a) for a in applied] if voided else applied,
            "kind": kind,
            "status": "voided" if voided else "received",
            "sync_token": None if entity_data.get("SyncToken") is None else str(entity_data["SyncToken"]),
        }
    )


def payment_deleted(previous: Mapping[str, Any]) -> QboPaymentReceived:
    """The last report of a payment since deleted in QBO: every amount 0, no version."""
    last = QboPaymentReceived.model_validate(previous)
    return last.model_copy(
        update={
            "amount": _ZERO,
            "applied_to": [_zeroed(a) for a in last.applied_to],
            "status": "deleted",
            "sync_token": None,
        }
    )


def is_voided(entity_data: Mapping[str, Any]) -> bool:
    """True for a voided transaction: QBO zeroes its amounts and notes "Voided" (reference §2.7)."""
    note = entity_data.get("PrivateNote")
    return _decimal(entity_data.get("TotalAmt")) == 0 and isinstance(note, str) and note.startswith("Voided")


def _zeroed(applied: AppliedTo) -> AppliedTo:
    return applied.model_copy(update={"amount": _ZERO})


def _linked(entity_data: Mapping[str, Any]) -> list[tuple[str, str, Decimal]]:
    found: list[tuple[str, str, Decimal]] = []
    for line in entity_data.get("Line") or []:
        amount = _decimal(line.get("Amount")) if isinstance(line, dict) else None
        for txn in (line.get("LinkedTxn") or []) if isinstance(line, dict) else []:
            if isinstance(txn, dict) and txn.get("TxnId") is not None and amount is not None:
                found.append((str(txn["TxnId"]), str(txn.get("TxnType")), amount))
    return found


def _decimal(value: Any) -> Decimal | None:
    # QBO sends amounts as JSON numbers; str() first so 362.07 stays 362.07, not its binary float.
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
