"""Reversals: payments and refunds voided, customers, vendors and items deactivated.

Each names an object by its platform id only; the exporter finds the QBO object the bridge wrote,
and one it never wrote waits for its create, then ends as ``skipped`` and is reported so.
"""

from __future__ import annotations

from services.mapper.mapping.base import MapContext
from shared.contracts.internal import ExportRequested
from shared.contracts.platform import (
    CustomerDeactivated,
    ItemDeactivated,
    PaymentVoided,
    RefundVoided,
    VendorDeactivated,
)


def _reverse(
    ctx: MapContext, *, entity: str, operation: str, platform_id: str, object_type: str
) -> list[ExportRequested]:
    ctx.emit(
        entity=entity,
        operation=operation,
        payload={},
        platform_id=platform_id,
        object_type=object_type,
    )
    return ctx.result(f"the {object_type} {operation} cannot be sent")


def payment_voided(ctx: MapContext, data: PaymentVoided) -> list[ExportRequested]:
    """payment.voided → the Payment voided (amounts zeroed, the invoices it paid open again)."""
    return _reverse(
        ctx, entity="Payment", operation="void", platform_id=data.payment_id, object_type="payment"
    )


def refund_voided(ctx: MapContext, data: RefundVoided) -> list[ExportRequested]:
    """refund.voided → the RefundReceipt voided."""
    return _reverse(
        ctx, entity="RefundReceipt", operation="void", platform_id=data.refund_id, object_type="refund"
    )


def customer_deactivated(ctx: MapContext, data: CustomerDeactivated) -> list[ExportRequested]:
    """customer.deactivated → the Customer made inactive (QBO never deletes a list entity)."""
    return _reverse(
        ctx, entity="Customer", operation="delete", platform_id=data.customer_id, object_type="customer"
    )


def vendor_deactivated(ctx: MapContext, data: VendorDeactivated) -> list[ExportRequested]:
    """vendor.deactivated → the Vendor made inactive."""
    return _reverse(
        ctx, entity="Vendor", operation="delete", platform_id=data.vendor_id, object_type="vendor"
    )


def item_deactivated(ctx: MapContext, data: ItemDeactivated) -> list[ExportRequested]:
    """item.deactivated → the Item made inactive."""
    return _reverse(ctx, entity="Item", operation="delete", platform_id=data.item_id, object_type="item")
