"""Quantity on hand: what each posting transaction does to its inventory items' stock."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox import money
from sandbox.state import Company

# +1: the transaction brings stock in; -1: it takes stock out. Estimates and purchase orders do not
# post, so they move nothing; a voided transaction has its quantities zeroed, so it moves nothing.
DIRECTION = {
    "Invoice": -1,
    "SalesReceipt": -1,
    "CreditMemo": 1,
    "RefundReceipt": 1,
    "Bill": 1,
    "Purchase": 1,
    "VendorCredit": -1,
}
ITEM_DETAILS = ("SalesItemLineDetail", "ItemBasedExpenseLineDetail")


def quantities(entity: str, obj: dict[str, Any] | None) -> dict[str, Decimal]:
    """Item id → the quantity this transaction moves (signed), over its item lines."""
    sign = DIRECTION.get(entity)
    out: dict[str, Decimal] = {}
    if obj is None or sign is None:
        return out
    for line in obj.get("Line") or ():
        detail = next((line[k] for k in ITEM_DETAILS if isinstance(line.get(k), dict)), None)
        if detail is None or detail.get("Qty") in (None, ""):
            continue
        item_id = str((detail.get("ItemRef") or {}).get("value") or "")
        out[item_id] = out.get(item_id, money.ZERO) + sign * Decimal(str(detail["Qty"]))
    return out


def move_stock(company: Company, entity: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
    """Apply the change from ``old`` to ``new`` to every tracked item's QtyOnHand.

    [U] QBO does not document whether the item's SyncToken/LastUpdatedTime move with its stock; like
    a customer's Balance, they do not here.
    """
    before, after = quantities(entity, old), quantities(entity, new)
    items = company.table("Item")
    for item_id in before.keys() | after.keys():
        item = items.get(item_id)
        delta = after.get(item_id, money.ZERO) - before.get(item_id, money.ZERO)
        if item is None or not item.get("TrackQtyOnHand") or delta == 0:
            continue
        item["QtyOnHand"] = Decimal(str(item.get("QtyOnHand", 0))) + delta
