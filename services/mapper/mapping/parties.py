"""Customers, vendors and items: their QBO payloads, and the ensures documents depend on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.mapper.mapping import lookups
from services.mapper.mapping.base import MapContext, check_name, link
from shared.contracts.platform import Address, CustomerData, CustomerRef, ItemUpserted, VendorData

ITEM_TYPES = {"service": "Service", "non_inventory": "NonInventory", "inventory": "Inventory"}


def address(value: Address | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "Line1": value.line1,
        "Line2": value.line2,
        "City": value.city,
        "CountrySubDivisionCode": value.region,
        "PostalCode": value.postal_code,
        "Country": value.country,
    }


def _email(ctx: MapContext, path: str, email: str | None) -> dict[str, str] | None:
    if email is None:
        return None
    if "@" not in email or "." not in email.split("@")[-1]:
        ctx.problem(
            path, f"'{email}' is not an email address QBO accepts", "send an address like name@example.com"
        )
    return {"Address": email}


def customer_display_name(ctx: MapContext, customer: CustomerData) -> str:
    """The DisplayName a platform customer is matched by (its code unless settings say otherwise)."""
    field = ctx.settings.customer_match
    chosen = {"code": customer.code, "name": customer.name, "company_name": customer.company_name}[field]
    return chosen or customer.code


def customer_platform_id(customer: CustomerData) -> str:
    return customer.customer_id or customer.code


def customer_payload(ctx: MapContext, path: str, customer: CustomerData, *, creating: bool) -> dict[str, Any]:
    name = customer_display_name(ctx, customer)
    check_name(ctx, f"{path}.{ctx.settings.customer_match}", name, limit=500, what="customer DisplayName")
    payload: dict[str, Any] = {
        "DisplayName": name,
        "CompanyName": customer.company_name,
        "PrintOnCheckName": customer.name[:110] if customer.name else None,
        "PrimaryEmailAddr": _email(ctx, f"{path}.email", customer.email),
        "PrimaryPhone": {"FreeFormNumber": customer.phone} if customer.phone else None,
        "BillAddr": address(customer.billing_address),
    }
    if customer.payment_terms_days is not None:
        payload["SalesTermRef"] = lookups.term(ctx, f"{path}.payment_terms_days", customer.payment_terms_days)
    if customer.payment_method:
        payload["PaymentMethodRef"] = lookups.payment_method(
            ctx, f"{path}.payment_method", customer.payment_method
        )
    if creating:
        # QBO sets a customer's currency once, at creation.
        payload |= lookups.currency(ctx, f"{path}.currency", customer.currency, None)
    return payload


def ensure_customer(ctx: MapContext, path: str, customer: CustomerData) -> dict[str, Any]:
    """Queue a find-or-create of the document's customer; returns the link to it."""
    payload = customer_payload(ctx, path, customer, creating=True)
    pid = customer_platform_id(customer)
    ctx.emit(
        entity="Customer",
        operation="create",
        payload=payload,
        platform_id=pid,
        object_type="customer",
        match=("DisplayName", payload["DisplayName"]),
    )
    return link("Customer", pid)


def customer_by_code(ctx: MapContext, path: str, customer: CustomerRef) -> dict[str, Any]:
    """A customer known by its code only: the mirror's id, else a find-or-create by DisplayName."""
    found = ctx.reference.find("Customer", customer.code)
    if found is not None:
        return found.ref()
    check_name(ctx, f"{path}.code", customer.code, limit=500, what="customer DisplayName")
    ctx.emit(
        entity="Customer",
        operation="create",
        payload={"DisplayName": customer.code},
        platform_id=customer.code,
        object_type="customer",
        match=("DisplayName", customer.code),
    )
    return link("Customer", customer.code)


def vendor_display_name(ctx: MapContext, vendor: VendorData) -> str:
    """The vendor's name, with the collision suffix when a QBO customer already uses it (error 6240)."""
    clashes = vendor.is_customer or ctx.reference.find("Customer", vendor.name) is not None
    return vendor.name + ctx.settings.vendor_name_collision_suffix if clashes else vendor.name


def vendor_payload(ctx: MapContext, path: str, vendor: VendorData, *, creating: bool) -> dict[str, Any]:
    name = vendor_display_name(ctx, vendor)
    check_name(ctx, f"{path}.name", name, limit=500, what="vendor DisplayName")
    payload: dict[str, Any] = {
        "DisplayName": name,
        "CompanyName": vendor.name[:100],
        "PrimaryEmailAddr": _email(ctx, f"{path}.email", vendor.email),
        "PrimaryPhone": {"FreeFormNumber": vendor.phone} if vendor.phone else None,
        "BillAddr": address(vendor.address),
        "AcctNum": vendor.account_number,
    }
    if creating:
        payload |= lookups.currency(ctx, f"{path}.currency", vendor.currency, None)
    return payload


def ensure_vendor(ctx: MapContext, path: str, vendor: VendorData) -> dict[str, Any]:
    payload = vendor_payload(ctx, path, vendor, creating=True)
    pid = vendor.vendor_id or vendor.name
    ctx.emit(
        entity="Vendor",
        operation="create",
        payload=payload,
        platform_id=pid,
        object_type="vendor",
        match=("DisplayName", payload["DisplayName"]),
    )
    return link("Vendor", pid)


def item_payload(ctx: MapContext, item: ItemUpserted, *, creating: bool) -> dict[str, Any]:
    check_name(ctx, "$.data.code", item.code, limit=100, what="item Name")
    payload: dict[str, Any] = {
        "Name": item.code,
        "Type": ITEM_TYPES[item.type],
        "Description": item.description,
        "UnitPrice": item.unit_price,
        "PurchaseCost": item.purchase_cost,
        "IncomeAccountRef": _item_account(ctx, "income", item.income_account),
    }
    if item.type == "inventory":
        return payload | _inventory(ctx, item, creating=creating)
    if item.expense_account or not ctx.target.us:
        payload["ExpenseAccountRef"] = _item_account(ctx, "expense", item.expense_account)
    return payload


def _item_account(ctx: MapContext, setting: str, named: str | None) -> dict[str, str] | None:
    """The event's own account for an item (of the setting's types), else the setting's default."""
    path = "$.data." + {"cost_of_goods_sold": "expense", "inventory_asset": "asset"}.get(setting, setting)
    if named:
        return lookups.account_named(ctx, f"{path}_account", named, allowed=lookups.ACCOUNT_TYPES[setting])
    return lookups.account(ctx, f"{path}_account", setting, required=True)


def _inventory(ctx: MapContext, item: ItemUpserted, *, creating: bool) -> dict[str, Any]:
    """An inventory item's stock fields: accounts always, the opening position on creation only."""
    edition = ctx.target.company.edition
    if not any(e in edition.casefold() for e in ("plus", "advanced")):
        ctx.problem(
            "$.data.type",
            f"inventory items need QuickBooks Online Plus or Advanced; the company has {edition}",
            "upgrade QBO, or send the item with type 'non_inventory'",
        )
    out: dict[str, Any] = {
        "TrackQtyOnHand": True,
        "ExpenseAccountRef": _item_account(ctx, "cost_of_goods_sold", item.expense_account),
        "AssetAccountRef": _item_account(ctx, "inventory_asset", item.asset_account),
    }
    if not creating:
        # QBO moves the stock with each sale and purchase; the platform's opening figures would undo that.
        return out
    if item.inventory_start_date is None:
        ctx.problem(
            "$.data.inventory_start_date",
            "a new inventory item needs the date its quantity on hand is as of",
            "send inventory_start_date (e.g. the day the stock was counted) with quantity_on_hand",
        )
    out["QtyOnHand"] = item.quantity_on_hand if item.quantity_on_hand is not None else Decimal(0)
    out["InvStartDate"] = item.inventory_start_date
    return out


def master_customer(ctx: MapContext) -> dict[str, Any] | None:
    """Summarized journal mode: the QBO customer payments and refunds go to (the documents are not
    in QBO, their customers need not be)."""
    name = ctx.settings.posting.master_customer
    found = ctx.reference.find("Customer", name) if name else None
    if found is None:
        ctx.problem(
            "$.settings.posting.master_customer",
            f"the master customer '{name}' is not in QBO" if name else "no master customer is set",
            "set posting.master_customer to the DisplayName of a QBO customer",
        )
        return None
    return found.ref()
