"""Every platform event of the catalogue → the QBO writes it needs, in dependency order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.mapper.mapping import bill_payments, parties, payments, purchases, reversals, sales
from services.mapper.mapping.base import Issue, MapContext, Rejection, Target
from shared.contracts.internal import ExportRequested
from shared.contracts.platform import CustomerUpserted, ItemUpserted, VendorUpserted

__all__ = ["MAPPERS", "Issue", "MapContext", "Rejection", "Target", "map_event"]


def customer(ctx: MapContext, data: CustomerUpserted) -> list[ExportRequested]:
    """customer.upserted → Customer: updated when QBO has the DisplayName, else created."""
    name = parties.customer_display_name(ctx, data)
    exists = ctx.reference.find("Customer", name) is not None
    payload = parties.customer_payload(ctx, "$.data", data, creating=not exists)
    ctx.emit(
        entity="Customer",
        operation="update" if exists else "create",
        payload=payload,
        platform_id=data.customer_id,
        object_type="customer",
        match=("DisplayName", payload["DisplayName"]),
    )
    return ctx.result("the customer cannot be sent to QuickBooks")


def vendor(ctx: MapContext, data: VendorUpserted) -> list[ExportRequested]:
    """vendor.upserted → Vendor (DisplayName suffixed when a customer has the name)."""
    name = parties.vendor_display_name(ctx, data)
    exists = ctx.reference.find("Vendor", name) is not None
    payload = parties.vendor_payload(ctx, "$.data", data, creating=not exists)
    ctx.emit(
        entity="Vendor",
        operation="update" if exists else "create",
        payload=payload,
        platform_id=data.vendor_id,
        object_type="vendor",
        match=("DisplayName", payload["DisplayName"]),
    )
    return ctx.result("the vendor cannot be sent to QuickBooks")


def item(ctx: MapContext, data: ItemUpserted) -> list[ExportRequested]:
    """item.upserted → Item matched by Name (the platform code)."""
    exists = ctx.reference.find("Item", data.code) is not None
    payload = parties.item_payload(ctx, data, creating=not exists)
    ctx.emit(
        entity="Item",
        operation="update" if exists else "create",
        payload=payload,
        platform_id=data.item_id,
        object_type="item",
        match=("Name", data.code),
    )
    return ctx.result("the item cannot be sent to QuickBooks")


MAPPERS: dict[str, Callable[[MapContext, Any], list[ExportRequested]]] = {
    "customer.upserted": customer,
    "vendor.upserted": vendor,
    "item.upserted": item,
    "invoice.approved": lambda ctx, d: sales.invoice(ctx, d, operation="create"),
    "invoice.updated": sales.invoice_updated,
    "invoice.voided": sales.invoice_voided,
    "credit_note.issued": sales.credit_note,
    "credit_note.voided": sales.credit_note_voided,
    "payment.recorded": payments.payment,
    "refund.issued": sales.refund,
    "bill.approved": purchases.bill,
    "bill.updated": purchases.bill_updated,
    "bill.cancelled": purchases.bill_cancelled,
    "purchase_order.approved": purchases.purchase_order,
    "purchase_order.updated": purchases.purchase_order_updated,
    "purchase_order.cancelled": purchases.purchase_order_cancelled,
    "credit_note.updated": sales.credit_note_updated,
    "payment.voided": reversals.payment_voided,
    "refund.voided": reversals.refund_voided,
    "customer.deactivated": reversals.customer_deactivated,
    "vendor.deactivated": reversals.vendor_deactivated,
    "item.deactivated": reversals.item_deactivated,
    "bill_payment.recorded": bill_payments.bill_payment,
}


def map_event(ctx: MapContext, event_type: str, data: Any) -> list[ExportRequested]:
    """The ``qbo.export.requested`` commands for one platform event, or a ``Rejection``."""
    return MAPPERS[event_type](ctx, data)
