"""Bills and purchase orders: item lines for products QBO knows, account (category) lines otherwise."""

from __future__ import annotations

from typing import Any

from services.mapper.mapping import lookups, parties, totals
from services.mapper.mapping.base import MapContext, document_match
from services.mapper.mapping.lines import expense_line, header_ref
from shared.contracts.internal import ExportRequested, Match
from shared.contracts.platform import (
    BillApproved,
    BillCancelled,
    PurchaseDocument,
    PurchaseOrderApproved,
    PurchaseOrderCancelled,
)

PO_EDITIONS = ("plus", "advanced")


def purchase_payload(ctx: MapContext, doc: PurchaseDocument) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "VendorRef": parties.ensure_vendor(ctx, "$.data.vendor", doc.vendor),
        "DocNumber": doc.number,
        "TxnDate": doc.issue_date,
        "DueDate": doc.due_date,
        "PrivateNote": doc.memo,
        "Line": [expense_line(ctx, f"$.data.lines[{i}]", ln) for i, ln in enumerate(doc.lines)],
        "APAccountRef": lookups.account(ctx, "$.data", "accounts_payable", required=False),
        "DepartmentRef": header_ref(
            ctx,
            "$.data.location",
            "Department",
            [doc.location],
            tracked=ctx.target.company.department_tracking,
            enabled=ctx.settings.locations.enabled,
        ),
    }
    payload |= lookups.currency(ctx, "$.data.currency", doc.currency, doc.exchange_rate)
    if not ctx.target.us:
        payload["GlobalTaxCalculation"] = "TaxInclusive" if doc.tax_inclusive else "TaxExcluded"
    return payload


def _match(ctx: MapContext, payload: dict[str, Any]) -> Match | None:
    """A purchase document is adopted by its number only if it is the same vendor's, with the same
    total when the bridge did not write it."""
    if ctx.issues:
        return None
    total = totals.document_total(ctx.reference, payload, us=ctx.target.us, purchase=True)
    return document_match(
        payload.get("DocNumber"), party=payload["VendorRef"], total=total, party_field="VendorRef"
    )


def bill(ctx: MapContext, data: BillApproved, *, operation: str = "create") -> list[ExportRequested]:
    """bill.approved / bill.updated → the vendor ensured, then the Bill."""
    payload = purchase_payload(ctx, data)
    ctx.emit(
        entity="Bill",
        operation=operation,
        payload=payload,
        platform_id=data.bill_id,
        object_type="bill",
        match=_match(ctx, payload),
    )
    return ctx.result("the bill cannot be sent to QuickBooks")


def bill_updated(ctx: MapContext, data: BillApproved) -> list[ExportRequested]:
    return bill(ctx, data, operation="update")


def bill_cancelled(ctx: MapContext, data: BillCancelled) -> list[ExportRequested]:
    # QBO cannot void a bill through the API; deleting it is how a cancelled bill leaves the books.
    ctx.emit(
        entity="Bill",
        operation="delete",
        payload={},
        platform_id=data.bill_id,
        object_type="bill",
    )
    return ctx.result("the bill cancellation cannot be sent")


def _edition_allows_po(ctx: MapContext) -> None:
    edition = ctx.target.company.edition.casefold()
    if not any(e in edition for e in PO_EDITIONS):
        ctx.problem(
            "$.type",
            "purchase orders need QuickBooks Online Plus or Advanced; this company has "
            f"{ctx.target.company.edition}",
            "upgrade the QBO subscription, or turn off the purchase_orders category in settings",
        )


def purchase_order(
    ctx: MapContext, data: PurchaseOrderApproved, *, operation: str = "create"
) -> list[ExportRequested]:
    """purchase_order.approved / .updated → the vendor ensured, then an open PurchaseOrder."""
    _edition_allows_po(ctx)
    payload = purchase_payload(ctx, data) | {"POStatus": "Open"}
    ctx.emit(
        entity="PurchaseOrder",
        operation=operation,
        payload=payload,
        platform_id=data.purchase_order_id,
        object_type="purchase_order",
        match=_match(ctx, payload),
    )
    return ctx.result("the purchase order cannot be sent to QuickBooks")


def purchase_order_updated(ctx: MapContext, data: PurchaseOrderApproved) -> list[ExportRequested]:
    return purchase_order(ctx, data, operation="update")


def purchase_order_cancelled(ctx: MapContext, data: PurchaseOrderCancelled) -> list[ExportRequested]:
    # A cancelled PO is closed, not deleted: QBO keeps it for the audit trail, as its screens do.
    _edition_allows_po(ctx)
    ctx.emit(
        entity="PurchaseOrder",
        operation="update",
        payload={"POStatus": "Closed"},
        platform_id=data.purchase_order_id,
        object_type="purchase_order",
    )
    return ctx.result("the purchase order cancellation cannot be sent")
