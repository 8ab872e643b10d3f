"""Transactions: lines, computed totals and tax, DocNumber, dates, balances."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sandbox import faults, money, rates, tax
from sandbox.clock import today
from sandbox.rules import common
from sandbox.specs import Spec
from sandbox.state import Company

SALES_FORMS = frozenset({"Invoice", "CreditMemo", "SalesReceipt", "RefundReceipt", "Estimate"})
PURCHASE_FORMS = frozenset({"Bill", "PurchaseOrder"})
SALES_DETAIL_TYPES = frozenset(
    {"SalesItemLineDetail", "GroupLineDetail", "DescriptionOnly", "DiscountLineDetail", "SubTotalLineDetail"}
)
EXPENSE_DETAIL_TYPES = frozenset({"AccountBasedExpenseLineDetail", "ItemBasedExpenseLineDetail"})
FIRST_DOC_NUMBER = 1001
# [U] third-party reports: QBO rejects a line whose Amount is not Qty x UnitPrice.
AMOUNT_MISMATCH_TEXT = "Amount is not equal to UnitPrice * Qty. Supplied value:{amount}"
# Fields QBO computes; whatever a client sends for them is ignored.
READ_ONLY = (
    "TotalAmt",
    "Balance",
    "HomeBalance",
    "HomeTotalAmt",
    "RemainingCredit",
    "UnappliedAmt",
    "LinkedTxn",
)
# [U] wording for a foreign currency in a company without multicurrency.
MULTICURRENCY_OFF_TEXT = "Multicurrency is not turned on; transactions must be in the home currency."
CURRENCY_NOT_ADDED_TEXT = "The currency {code} has not been added to this company's currency list."  # [U]
DATE_FIELDS = ("TxnDate", "DueDate", "ShipDate", "ExpirationDate", "AcceptedDate")


def prepare(
    company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None, *, allow_duplicate: bool
) -> None:
    """Validate a sales or purchase form and compute its totals."""
    if spec.name == "PurchaseOrder":
        common.require_edition(company, "purchase orders")
    _clean(company, obj, old)
    common.validate_common(company, spec, obj)
    common.check_period(company, obj["TxnDate"])
    if old is not None:
        common.check_period(company, old.get("TxnDate"))
    _doc_number(company, spec, obj, old, allow_duplicate=allow_duplicate)
    total = _sales_lines(company, obj) if spec.name in SALES_FORMS else _expense_lines(company, obj)
    obj["TotalAmt"] = total
    currency(company, obj, old)
    _due_date(company, spec, obj)
    _sales_defaults(company, spec, obj)


def currency(
    company: Company, obj: dict[str, Any], old: dict[str, Any] | None, *, home_total: bool = True
) -> None:
    """CurrencyRef and ExchangeRate (the sent rate, else the day's market rate); HomeTotalAmt on forms."""
    currency = str((obj.get("CurrencyRef") or {}).get("value") or company.home_currency)
    if currency != company.home_currency and not company.multicurrency:
        raise faults.business(MULTICURRENCY_OFF_TEXT, "CurrencyRef")
    obj["CurrencyRef"] = obj.get("CurrencyRef") or {"value": company.home_currency}
    obj.pop("HomeTotalAmt", None)
    if currency == company.home_currency:
        obj.pop("ExchangeRate", None)
        return
    added = any(
        c.get("Code") == currency and c.get("Active", True) for c in company.table("CompanyCurrency").values()
    )
    if not added:
        raise faults.business(CURRENCY_NOT_ADDED_TEXT.format(code=currency), "CurrencyRef")
    rate = money.parse(obj.get("ExchangeRate"), "ExchangeRate")
    if rate is None or rate <= 0:
        rate = Decimal(str(rates.rate_on(company, currency, str(obj.get("TxnDate") or ""))["Rate"]))
    obj["ExchangeRate"] = rate
    if home_total:
        obj["HomeTotalAmt"] = money.q2(Decimal(str(obj.get("TotalAmt", 0))) * rate)


def _sales_defaults(company: Company, spec: Spec, obj: dict[str, Any]) -> None:
    """Addresses come from the customer; sending needs an address; purchase orders start Open."""
    if spec.name == "PurchaseOrder":
        obj.setdefault("POStatus", "Open")
        return
    if spec.name not in SALES_FORMS:
        return
    if spec.name == "SalesReceipt" and common.is_blank(obj.get("DepositToAccountRef") or {"value": ""}):
        # Reference §8.9: a sales receipt's money waits in Undeposited Funds until a Deposit.
        undeposited = next(
            (a for a in company.table("Account").values() if a.get("AccountSubType") == "UndepositedFunds"),
            None,
        )
        if undeposited is not None:
            obj["DepositToAccountRef"] = {"value": undeposited["Id"], "name": undeposited["Name"]}
    if obj.get("EmailStatus") == "NeedToSend" and not (obj.get("BillEmail") or {}).get("Address"):
        raise faults.required("BillEmail")
    customer = company.table("Customer").get(str((obj.get("CustomerRef") or {}).get("value")))
    for name in ("BillAddr", "ShipAddr"):
        if not obj.get(name) and customer is not None and customer.get(name):
            obj[name] = dict(customer[name])


def _clean(company: Company, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    for name in READ_ONLY:
        obj.pop(name, None)
    if old is not None and old.get("LinkedTxn"):
        obj["LinkedTxn"] = old["LinkedTxn"]
    for name in DATE_FIELDS:
        if obj.get(name) == "":
            del obj[name]
    for name in ("PrivateNote", "InvoiceLink", "TrackingNum"):
        if obj.get(name) == "":
            del obj[name]
    if not obj.get("TxnDate"):
        obj["TxnDate"] = (old or {}).get("TxnDate") or today(company.tz).isoformat()


def _doc_number(
    company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None, *, allow_duplicate: bool
) -> None:
    doc = obj.get("DocNumber")
    if doc in (None, ""):
        obj.pop("DocNumber", None)
        if old is None and spec.doc_numbers and not company.custom_txn_numbers:
            last = company.last_doc_number.get(spec.name, FIRST_DOC_NUMBER - 1)
            obj["DocNumber"] = str(last + 1)
        return
    if not spec.unique_doc_number or allow_duplicate or (old is not None and old.get("DocNumber") == doc):
        return
    if company.doc_numbers.get(spec.name, {}).get(str(doc).lower()):
        raise faults.duplicate_doc_number()


def _due_date(company: Company, spec: Spec, obj: dict[str, Any]) -> None:
    if spec.name not in ("Invoice", "Bill") or obj.get("DueDate"):
        return
    term_ref = obj.get("SalesTermRef")
    if not term_ref and spec.name == "Invoice":
        customer = company.table("Customer").get(str((obj.get("CustomerRef") or {}).get("value")))
        term_ref = (customer or {}).get("SalesTermRef") or company.prefs()["SalesFormsPrefs"].get(
            "DefaultTerms"
        )
        if term_ref:
            obj["SalesTermRef"] = term_ref
    term = company.table("Term").get(str((term_ref or {}).get("value"))) if term_ref else None
    days = int((term or {}).get("DueDays") or 0)
    obj["DueDate"] = (date.fromisoformat(obj["TxnDate"][:10]) + timedelta(days=days)).isoformat()


def _line_amount(line: dict[str, Any], required: bool = True) -> Decimal:
    amount = money.parse(line.get("Amount"), "Line.Amount")
    if amount is None:
        if required:
            raise faults.required("Line.Amount")
        amount = money.ZERO
    return money.q2(amount)


def _check_qty_price(detail: dict[str, Any], amount: Decimal) -> None:
    qty = money.parse(detail.get("Qty"), "Qty")
    price = money.parse(detail.get("UnitPrice"), "UnitPrice")
    if qty and price and money.q2(qty * price) != amount:
        raise faults.business(AMOUNT_MISMATCH_TEXT.format(amount=amount), "Line.Amount")
    if qty and price is None:
        detail["UnitPrice"] = amount / qty
    for name, value in (("Qty", qty), ("UnitPrice", price)):
        if value is not None:
            detail[name] = value
        else:
            detail.pop(name, None)


@dataclass
class _Sums:
    subtotal: Decimal = money.ZERO
    discount: Decimal = money.ZERO
    us_taxable: Decimal = money.ZERO
    bases: dict[str, Decimal] = field(default_factory=dict)


def _detail_type(line: dict[str, Any], allowed: frozenset[str]) -> str:
    kind = line.get("DetailType")
    if not kind:
        raise faults.required("Line.DetailType")
    if kind not in allowed:
        raise faults.invalid_enum("Line.DetailType", kind)
    return str(kind)


def _sales_line(company: Company, line: dict[str, Any], kind: str, sums: _Sums, *, no_tax: bool) -> None:
    detail = line.setdefault(kind, {}) if kind != "DescriptionOnly" else line.get("DescriptionLineDetail", {})
    amount = line["Amount"] = _line_amount(line, required=kind != "DescriptionOnly")
    if kind == "DiscountLineDetail":
        if detail.get("PercentBased"):
            pct = money.parse(detail.get("DiscountPercent"), "DiscountPercent") or money.ZERO
            line["Amount"] = amount = money.q2(sums.subtotal * pct / 100)
        sums.discount += amount
        return
    if kind not in ("SalesItemLineDetail", "GroupLineDetail"):
        return
    if kind == "SalesItemLineDetail":
        _check_qty_price(detail, amount)
    sums.subtotal += amount
    code = str((detail.get("TaxCodeRef") or {}).get("value") or "")
    if company.is_us:
        sums.us_taxable += amount if code == "TAX" else money.ZERO
    elif not no_tax:
        if not code:
            raise tax.missing_code(company)
        sums.bases[code] = sums.bases.get(code, money.ZERO) + amount


def _sales_lines(company: Company, obj: dict[str, Any]) -> Decimal:
    no_tax = obj.get("GlobalTaxCalculation") == "NotApplicable"
    items: list[dict[str, Any]] = []
    discounts: list[dict[str, Any]] = []
    sums = _Sums()
    typed = [(line, _detail_type(line, SALES_DETAIL_TYPES)) for line in obj.get("Line") or ()]
    # QBO answers item lines, then the subtotal, then the discount (taken on that subtotal).
    for line, kind in sorted(typed, key=lambda pair: pair[1] == "DiscountLineDetail"):
        if kind != "SubTotalLineDetail":  # QBO recomputes the subtotal line itself
            _sales_line(company, line, kind, sums, no_tax=no_tax)
            (discounts if kind == "DiscountLineDetail" else items).append(line)
    _number_lines([*items, *discounts])
    subtotal = {"Amount": sums.subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    obj["Line"] = [*items, subtotal, *discounts]
    if company.is_us:
        if sums.discount and obj.get("ApplyTaxAfterDiscount") and sums.subtotal:
            sums.us_taxable -= sums.us_taxable * sums.discount / sums.subtotal
        total_tax = tax.us_tax(company, obj, sums.us_taxable)
    elif no_tax:
        obj["TxnTaxDetail"], total_tax = {"TotalTax": money.ZERO}, money.ZERO
    else:
        total_tax = tax.global_tax(company, obj, sums.bases, purchase=False)
    inclusive = obj.get("GlobalTaxCalculation") == "TaxInclusive"
    return sums.subtotal - sums.discount + (money.ZERO if inclusive else total_tax)


def _number_lines(lines: list[dict[str, Any]]) -> None:
    for index, line in enumerate(lines, start=1):
        line["Id"] = str(index)
        line["LineNum"] = index


def _expense_lines(company: Company, obj: dict[str, Any]) -> Decimal:
    total = money.ZERO
    bases: dict[str, Decimal] = {}
    no_tax = obj.get("GlobalTaxCalculation") == "NotApplicable"
    lines: list[dict[str, Any]] = []
    for line in obj.get("Line") or ():
        kind = _detail_type(line, EXPENSE_DETAIL_TYPES)
        detail = line.setdefault(kind, {})
        amount = line["Amount"] = _line_amount(line)
        if kind == "AccountBasedExpenseLineDetail" and common.is_blank(detail.get("AccountRef")):
            raise faults.required("Line.AccountBasedExpenseLineDetail.AccountRef")
        if kind == "ItemBasedExpenseLineDetail":
            if common.is_blank(detail.get("ItemRef")):
                raise faults.required("Line.ItemBasedExpenseLineDetail.ItemRef")
            _check_qty_price(detail, amount)
        code = str((detail.get("TaxCodeRef") or {}).get("value") or "")
        if not company.is_us and not no_tax:
            if not code:
                raise tax.missing_code(company)
            bases[code] = bases.get(code, money.ZERO) + amount
        total += amount
        lines.append(line)
    _number_lines(lines)
    obj["Line"] = lines
    if company.is_us or no_tax:
        return total
    total_tax = tax.global_tax(company, obj, bases, purchase=True)
    return total + (money.ZERO if obj.get("GlobalTaxCalculation") == "TaxInclusive" else total_tax)


def void_amounts(obj: dict[str, Any]) -> None:
    """Void keeps the record but zeroes every amount and notes it in PrivateNote."""
    for line in obj.get("Line") or ():
        line["Amount"] = money.ZERO
        for detail in line.values():
            if isinstance(detail, dict) and "Qty" in detail:
                detail["Qty"] = money.ZERO
    for name in (
        "TotalAmt",
        "Amount",
        "Balance",
        "HomeTotalAmt",
        "HomeBalance",
        "UnappliedAmt",
        "RemainingCredit",
    ):
        if name in obj:
            obj[name] = money.ZERO
    if isinstance(obj.get("TxnTaxDetail"), dict):
        obj["TxnTaxDetail"] = {**obj["TxnTaxDetail"], "TotalTax": money.ZERO, "TaxLine": []}
    note = obj.get("PrivateNote")
    obj["PrivateNote"] = f"Voided - {note}" if note else "Voided"
