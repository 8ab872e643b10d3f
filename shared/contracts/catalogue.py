"""Every event type on the broker and the model of its data: the one table the contract is read from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.contracts import bridge, internal, platform
from shared.contracts.common import Contract

Audience = Literal["platform", "bridge", "internal"]

# The QBO entities whose changes flow back as ``qbo.<entity>.changed`` (lowercase in the type).
CHANGED_ENTITIES = (
    "Account",
    "Bill",
    "BillPayment",
    "Class",
    "CreditMemo",
    "Customer",
    "Department",
    "Estimate",
    "Invoice",
    "Item",
    "JournalEntry",
    "Payment",
    "PaymentMethod",
    "PurchaseOrder",
    "RefundReceipt",
    "SalesReceipt",
    "TaxCode",
    "TaxRate",
    "Term",
    "Vendor",
)


@dataclass(frozen=True, slots=True)
class EventType:
    """One catalogue row: the routing key, its data model, who publishes it and what it means."""

    name: str
    model: type[Contract]
    audience: Audience
    summary: str


def _rows() -> list[EventType]:
    p, b, i = platform, bridge, internal
    rows = [
        EventType("customer.upserted", p.CustomerUpserted, "platform", "A customer was created or changed"),
        EventType("vendor.upserted", p.VendorUpserted, "platform", "A vendor was created or changed"),
        EventType("item.upserted", p.ItemUpserted, "platform", "A product or service was created or changed"),
        EventType("invoice.approved", p.InvoiceApproved, "platform", "An invoice was approved"),
        EventType("invoice.updated", p.InvoiceUpdated, "platform", "An approved invoice changed"),
        EventType("invoice.voided", p.InvoiceVoided, "platform", "An invoice was voided"),
        EventType("credit_note.issued", p.CreditNoteIssued, "platform", "A credit note was issued"),
        EventType("credit_note.voided", p.CreditNoteVoided, "platform", "A credit note was voided"),
        EventType("payment.recorded", p.PaymentRecorded, "platform", "A customer payment was recorded"),
        EventType("refund.issued", p.RefundIssued, "platform", "A refund was paid to a customer"),
        EventType("bill.approved", p.BillApproved, "platform", "A supplier bill was approved"),
        EventType("bill.updated", p.BillUpdated, "platform", "An approved bill changed"),
        EventType("bill.cancelled", p.BillCancelled, "platform", "A bill was cancelled"),
        EventType("purchase_order.approved", p.PurchaseOrderApproved, "platform", "A PO was approved"),
        EventType("purchase_order.updated", p.PurchaseOrderUpdated, "platform", "An approved PO changed"),
        EventType("purchase_order.cancelled", p.PurchaseOrderCancelled, "platform", "A PO was cancelled"),
        EventType("credit_note.updated", p.CreditNoteUpdated, "platform", "An issued credit note changed"),
        EventType("payment.voided", p.PaymentVoided, "platform", "A customer payment was voided"),
        EventType("refund.voided", p.RefundVoided, "platform", "A refund was voided"),
        EventType("customer.deactivated", p.CustomerDeactivated, "platform", "A customer was deactivated"),
        EventType("vendor.deactivated", p.VendorDeactivated, "platform", "A vendor was deactivated"),
        EventType("item.deactivated", p.ItemDeactivated, "platform", "A product or service was deactivated"),
        EventType("bill_payment.recorded", p.BillPaymentRecorded, "platform", "Supplier bills were paid"),
        EventType("sync.succeeded", b.SyncSucceeded, "bridge", "A platform object is in QuickBooks"),
        EventType("sync.failed", b.SyncFailed, "bridge", "QuickBooks refused or could not take a write"),
        EventType("sync.rejected", b.SyncRejected, "bridge", "An event was refused before reaching QBO"),
        EventType("qbo.payment.received", b.QboPaymentReceived, "bridge", "A payment was made in QBO"),
        EventType(
            "qbo.project.changed",
            b.QboProjectChanged,
            "bridge",
            "A project was created or changed in QBO (with its client's platform id when known)",
        ),
        EventType("connection.established", i.ConnectionEstablished, "internal", "A company connected"),
        EventType("connection.profile_changed", i.ConnectionProfileChanged, "internal", "Company changed"),
        EventType(
            "connection.reauthorization_required",
            i.ConnectionReauthorizationRequired,
            "internal",
            "The connection's tokens no longer work; a person must reconnect",
        ),
        EventType("connection.revoked", i.ConnectionRevoked, "internal", "A connection was disconnected"),
        EventType(
            "connection.settings_changed",
            i.ConnectionSettingsChanged,
            "internal",
            "A connection's settings were saved (what the read path obeys of them)",
        ),
        EventType("qbo.export.requested", i.ExportRequested, "internal", "One write for the exporter"),
        EventType(
            "qbo.reference.imported",
            i.ReferenceImported,
            "internal",
            "A connection's reference import ended; held platform events may be mapped",
        ),
        EventType("tenant.api_key_issued", i.ApiKeyIssued, "internal", "A tenant API key was issued"),
        EventType("tenant.api_key_revoked", i.ApiKeyRevoked, "internal", "A tenant API key was revoked"),
        EventType("platform.registered", i.PlatformRegistered, "internal", "A platform was registered"),
        EventType(
            "platform.tenant_added", i.PlatformTenantAdded, "internal", "A tenant now belongs to a platform"
        ),
    ]
    rows += [
        EventType(changed_type(e), b.QboEntityChanged, "bridge", f"A {e} changed in QuickBooks")
        for e in CHANGED_ENTITIES
    ]
    return rows


def changed_type(entity: str) -> str:
    """The routing key for a change of ``entity`` in QBO, e.g. ``qbo.invoice.changed``."""
    return f"qbo.{entity.lower()}.changed"


CATALOGUE: dict[str, EventType] = {row.name: row for row in _rows()}
PLATFORM_EVENTS = tuple(name for name, row in CATALOGUE.items() if row.audience == "platform")
