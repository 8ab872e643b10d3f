"""Document lines: sales lines (invoices, credit memos, refunds) and expense lines (bills, POs)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.mapper.mapping import lookups
from services.mapper.mapping.base import ZERO, MapContext, link, match_link, q2
from services.mapper.reference import RefEntity
from shared.contracts.platform import PurchaseLine, SalesLine

EXPENSE_ACCOUNT_TYPES = (
    "Expense",
    "Other Expense",
    "Cost of Goods Sold",
    "Fixed Asset",
    "Other Asset",
    "Other Current Asset",
)


def qty_price(qty: Decimal | None, price: Decimal | None, amount: Decimal) -> dict[str, Decimal]:
    """Qty and UnitPrice whose product is ``amount`` to the cent (QBO refuses anything else)."""
    if qty is None or qty == 0:
        return {}
    if price is not None and q2(qty * price) == amount:
        return {"Qty": qty, "UnitPrice": price}
    return {"Qty": qty, "UnitPrice": exact_unit_price(qty, amount)}


def exact_unit_price(qty: Decimal, amount: Decimal) -> Decimal:
    """The shortest unit price (2 to 10 places) with ``qty * price`` = ``amount`` to the cent."""
    for places in range(2, 11):
        price = (amount / qty).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if q2(qty * price) == amount:
            return price
    return (amount / qty).quantize(Decimal(1).scaleb(-10), rounding=ROUND_HALF_UP)


class TaxCollector:
    """US: which tax-group code the TAX lines share (one per transaction); non-US: nothing to collect."""

    def __init__(self) -> None:
        self.us_codes: dict[str, RefEntity] = {}

    def us_line_code(self, ctx: MapContext, path: str, rate: str | None) -> dict[str, str]:
        if lookups.is_exempt(ctx, rate) or lookups.tax_code_name(ctx, rate or "") == "NON":
            return {"value": "NON"}
        assert rate is not None
        code = lookups.tax_code(ctx, path, rate)
        if code is not None:
            self.us_codes[code.qbo_id] = code
        return {"value": "TAX"}

    def us_txn_detail(self, ctx: MapContext, path: str) -> dict[str, Any] | None:
        if not self.us_codes:
            return None
        if len(self.us_codes) > 1:
            names = ", ".join(sorted(c.name for c in self.us_codes.values()))
            ctx.problem(
                path,
                f"a US QBO transaction takes one sales tax code, but the lines use several: {names}",
                "split the document by tax jurisdiction, or map the rates to one combined QBO tax code",
            )
        return {"TxnTaxCodeRef": next(iter(self.us_codes.values())).ref()}


def non_us_code(ctx: MapContext, path: str, rate: str | None, *, purchase: bool) -> dict[str, str] | None:
    if rate is None:
        default = ctx.settings.tax.default_code
        if default is None:
            ctx.problem(
                path,
                "the line has no tax rate; outside the US every QBO line needs a tax code",
                "send tax_rate on the line, or set settings tax.default_code (e.g. 'No VAT')",
            )
            return None
        rate = default
    code = lookups.tax_code(ctx, path, rate, purchase=purchase)
    return code.ref() if code else None


def line_class(ctx: MapContext, path: str, name: str | None) -> dict[str, str] | None:
    """A line ClassRef when the company tracks classes per line and settings use them."""
    if name is None or not ctx.settings.classes.enabled or ctx.target.company.class_tracking != "per_line":
        return None
    return lookups.named_list(ctx, path, "Class", name)


def header_ref(
    ctx: MapContext, path: str, entity: str, names: list[str | None], *, tracked: bool, enabled: bool
) -> dict[str, str] | None:
    """One transaction-level Class or Department from the lines, which must agree."""
    distinct = sorted({n for n in names if n})
    if not distinct or not tracked or not enabled:
        return None
    label = "class" if entity == "Class" else "location"
    if len(distinct) > 1:
        ctx.problem(
            path,
            f"the company tracks one {label} per transaction, but the lines carry {', '.join(distinct)}",
            f"send one {label} per document, or turn on per-line tracking in QBO",
        )
        return None
    return lookups.named_list(ctx, path, entity, distinct[0])


def sales_item_ref(ctx: MapContext, path: str, code: str | None) -> dict[str, Any] | None:
    """The item of a sales line: known in QBO, to be created, or the fallback item."""
    if code is None:
        fallback = ctx.settings.fallback_item
        if not fallback:
            ctx.problem(
                path,
                "the line has no item code and no fallback item is available",
                "send item_code, or set settings fallback_item to a QBO product/service name",
            )
            return None
        found = lookups.item(ctx, fallback)
        # Not in the mirror (yet): QBO itself is asked when the invoice is written, before refusing.
        return found.ref() if found else match_link("Item", "Name", fallback)
    found = lookups.item(ctx, code)
    if found is not None:
        return found.ref()
    if not ctx.settings.create_missing_items:
        return match_link("Item", "Name", code)
    return ensure_item(ctx, path, code)


def ensure_item(ctx: MapContext, path: str, code: str) -> dict[str, Any] | None:
    income = lookups.account(ctx, f"{path} (new item '{code}')", "income", required=True)
    payload: dict[str, Any] = {"Name": code, "Type": "Service", "IncomeAccountRef": income}
    if not ctx.target.us:
        # CA and UK companies need both accounts on every item (reference §8.5).
        payload["ExpenseAccountRef"] = lookups.account(ctx, path, "expense", required=True)
    ctx.emit(
        entity="Item",
        operation="create",
        payload=payload,
        platform_id=code,
        object_type="item",
        match=("Name", code),
    )
    return link("Item", code)


def sales_line(
    ctx: MapContext, path: str, line: SalesLine, *, inclusive: bool, taxes: TaxCollector
) -> dict[str, Any]:
    """One platform sales line as a QBO Line."""
    if line.item_code is None and line.quantity is None and line.amount == ZERO and line.description:
        return {"DetailType": "DescriptionOnly", "Description": line.description, "DescriptionLineDetail": {}}
    detail: dict[str, Any] = {"ItemRef": sales_item_ref(ctx, f"{path}.item_code", line.item_code)}
    detail |= qty_price(line.quantity, line.unit_price, line.amount)
    if ctx.target.us:
        detail["TaxCodeRef"] = taxes.us_line_code(ctx, f"{path}.tax_rate", line.tax_rate)
    else:
        detail["TaxCodeRef"] = non_us_code(ctx, f"{path}.tax_rate", line.tax_rate, purchase=False)
        if inclusive:
            detail["TaxInclusiveAmt"] = line.amount
    detail["ClassRef"] = line_class(ctx, f"{path}.class", line.class_)
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": line.amount,
        "Description": line.description,
        "SalesItemLineDetail": detail,
    }


def expense_line(ctx: MapContext, path: str, line: PurchaseLine) -> dict[str, Any]:
    """A bill/PO line: an item line for a product QBO knows, an account (category) line otherwise."""
    common: dict[str, Any] = {}
    if not ctx.target.us:
        common["TaxCodeRef"] = non_us_code(ctx, f"{path}.tax_rate", line.tax_rate, purchase=True)
    if line.class_ and ctx.settings.classes.enabled and ctx.target.company.class_tracking != "off":
        common["ClassRef"] = lookups.named_list(ctx, f"{path}.class", "Class", line.class_)
    if line.customer:
        common["CustomerRef"] = _billable_customer(ctx, f"{path}.customer", line.customer)
    item = lookups.item(ctx, line.item_code) if line.item_code else None
    if item is not None:
        detail = {"ItemRef": item.ref(), **qty_price(line.quantity, line.unit_price, line.amount), **common}
        kind = "ItemBasedExpenseLineDetail"
    else:
        detail = {"AccountRef": _expense_account(ctx, path, line), **common}
        kind = "AccountBasedExpenseLineDetail"
    description = line.description or (line.item_code if item is None else None)
    return {"DetailType": kind, "Amount": line.amount, "Description": description, kind: detail}


def _expense_account(ctx: MapContext, path: str, line: PurchaseLine) -> dict[str, str] | None:
    if line.account:
        return lookups.account_named(ctx, f"{path}.account", line.account, allowed=EXPENSE_ACCOUNT_TYPES)
    return lookups.account(ctx, f"{path}.account", "expense", required=True)


def _billable_customer(ctx: MapContext, path: str, name: str) -> dict[str, str] | None:
    found = ctx.reference.find("Customer", name)
    if found is None:
        ctx.problem(path, f"customer '{name}' is not in QBO", "sync the customer first (customer.upserted)")
        return None
    return found.ref()
