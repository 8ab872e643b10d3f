"""The sample company's employees, inventory and transactions, booked through the normal rules.

Ids are stable because seeding runs in one order on an empty company (sandbox/README.md lists them).
Dates count back from the day the company is created, and every document is older than CDC's 30-day
window (its MetaData says it was entered on its TxnDate), so a client's first CDC or webhook sees only
its own changes, as in an Intuit sandbox created weeks ago.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox import ops, store
from sandbox.clock import meta_time, today
from sandbox.state import Company

SAMPLE_EMPLOYEES = (("Emily", "Platt"), ("John", "Johnson"))
# (name, sales price, purchase cost, quantity on hand)
SAMPLE_INVENTORY = (("Rock Fountain", "275", "125", 2), ("Pump", "15", "10", 25))
# Item ids of the sample seed (Services 1 and Hours 2 come first in every company).
ITEM = {"Design": "3", "Installation": "5", "Pest Control": "7", "Sprinkler Heads": "11"}
ITEM_INVENTORY = {"Rock Fountain": "13", "Pump": "14"}
# Customer and vendor ids of the sample seed.
CUSTOMER = {"Amy's Bird Sanctuary": "1", "Cool Cars": "3", "Geeta Kalapatapu": "10", "Red Rock Diner": "15"}
VENDOR = {"Bob's Burger Joint": "1", "Hicks Hardware": "8", "Norton Lumber and Building Materials": "10"}
# (DocNumber, customer, days ago, [(item, qty, unit price, taxable)])
INVOICES = (
    ("1001", "Amy's Bird Sanctuary", 50, [("Design", 2, "75", False), ("Rock Fountain", 1, "275", True)]),
    ("1002", "Cool Cars", 42, [("Installation", 4, "50", False)]),
    ("1003", "Red Rock Diner", 35, [("Pest Control", 2, "35", False), ("Sprinkler Heads", 10, "2", True)]),
)
# (customer, days ago, amount, invoice DocNumber it pays, PaymentRefNum)
PAYMENTS = (
    ("Amy's Bird Sanctuary", 40, "447.00", "1001", "1050"),
    ("Cool Cars", 33, "100.00", "1002", "2074"),
)
ESTIMATES = (("1001", "Geeta Kalapatapu", 38, [("Design", 5, "75", False), ("Pump", 2, "15", True)]),)
# (vendor, days ago, expense account, amount)
BILLS = (
    ("Norton Lumber and Building Materials", 45, "Supplies", "205.00"),
    ("Hicks Hardware", 36, "Office Expenses", "86.44"),
)
# (payment type, paying account, vendor, days ago, expense account, amount)
PURCHASES = (
    ("CreditCard", "Mastercard", "Bob's Burger Joint", 34, "Advertising", "18.97"),
    ("Check", "Checking", "Hicks Hardware", 32, "Supplies", "42.50"),
)


SEEDED_TXNS = ("Invoice", "Payment", "Estimate", "Bill", "Purchase")


def add_people_and_stock(company: Company, accounts: dict[str, dict[str, Any]]) -> None:
    for given, family in SAMPLE_EMPLOYEES:
        name = f"{given} {family}"
        store.insert(
            company,
            "Employee",
            {
                "GivenName": given,
                "FamilyName": family,
                "DisplayName": name,
                "PrintOnCheckName": name,
                "Active": True,
                "BillableTime": False,
            },
        )
    if company.edition not in ("plus", "advanced"):
        return
    for name, price, cost, quantity in SAMPLE_INVENTORY:
        body: dict[str, Any] = {
            "Name": name,
            "Type": "Inventory",
            "UnitPrice": Decimal(price),
            "PurchaseCost": Decimal(cost),
            "Active": True,
            "Taxable": True,
            "TrackQtyOnHand": True,
            "QtyOnHand": Decimal(quantity),
            "InvStartDate": (today(company.tz) - timedelta(days=60)).isoformat(),
            "IncomeAccountRef": store.ref(accounts["Sales of Product Income"], "Name"),
            "ExpenseAccountRef": store.ref(accounts["Cost of Goods Sold"], "Name"),
            "AssetAccountRef": store.ref(accounts["Inventory Asset"], "Name"),
        }
        if not company.is_us:
            code = next(iter(company.table("TaxCode").values()))
            body["SalesTaxCodeRef"] = body["PurchaseTaxCodeRef"] = store.ref(code, "Name")
        store.insert(company, "Item", body)


def _day(company: Company, days_ago: int) -> str:
    return (today(company.tz) - timedelta(days=days_ago)).isoformat()


def _tax_code(company: Company, taxable: bool) -> dict[str, str]:
    if company.is_us:
        return {"value": "TAX" if taxable else "NON"}
    return {"value": next(iter(company.table("TaxCode")))}


def _sales(company: Company, entity: str, doc: str, customer: str, days: int, lines: list[Any]) -> None:
    body: dict[str, Any] = {
        "DocNumber": doc,
        "TxnDate": _day(company, days),
        "CustomerRef": {"value": CUSTOMER[customer]},
        "Line": [_sales_line(company, *line) for line in lines],
    }
    if company.is_us:
        body["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": "2"}}
    ops.create(company, entity, body, allow_duplicate=True, changes=[])


def _sales_line(company: Company, name: str, qty: int, price: str, taxable: bool) -> dict[str, Any]:
    item_id = ITEM.get(name) or ITEM_INVENTORY[name]
    if item_id in ITEM_INVENTORY.values() and item_id not in company.table("Item"):
        item_id = ITEM["Design"]  # below Plus there is no inventory; the line sells a service instead
    return {
        "Amount": Decimal(price) * qty,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {
            "ItemRef": {"value": item_id},
            "Qty": qty,
            "UnitPrice": Decimal(price),
            "TaxCodeRef": _tax_code(company, taxable),
        },
    }


def _expense_line(company: Company, account: dict[str, Any], amount: str) -> dict[str, Any]:
    detail: dict[str, Any] = {"AccountRef": store.ref(account, "Name")}
    if not company.is_us:
        detail["TaxCodeRef"] = _tax_code(company, True)
    return {
        "Amount": Decimal(amount),
        "DetailType": "AccountBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail": detail,
    }


def add_transactions(company: Company, accounts: dict[str, dict[str, Any]]) -> None:
    # A company created with a closing date still gets its recent history.
    closed, company.book_close_date = company.book_close_date, None
    try:
        _book(company, accounts)
    finally:
        company.book_close_date = closed
    for entity in SEEDED_TXNS:
        for obj in company.table(entity).values():
            _backdate(company, entity, obj)


def _backdate(company: Company, entity: str, obj: dict[str, Any]) -> None:
    day = date.fromisoformat(obj["TxnDate"])
    entered = datetime(day.year, day.month, day.day, 12, tzinfo=company.tz).timestamp()
    obj["MetaData"] = {
        "CreateTime": meta_time(entered, company.tz),
        "LastUpdatedTime": meta_time(entered, company.tz),
    }
    company.updated_at[(entity, obj["Id"])] = entered


def _book(company: Company, accounts: dict[str, dict[str, Any]]) -> None:
    invoice_ids: dict[str, str] = {}
    for doc, customer, days, lines in INVOICES:
        _sales(company, "Invoice", doc, customer, days, lines)
        invoice_ids[doc] = str(len(invoice_ids) + 1)
    for customer, days, amount, doc, ref_num in PAYMENTS:
        invoice = company.table("Invoice")[invoice_ids[doc]]
        applied = min(Decimal(amount), Decimal(str(invoice["Balance"])))
        body = {
            "CustomerRef": {"value": CUSTOMER[customer]},
            "TotalAmt": applied,
            "TxnDate": _day(company, days),
            "PaymentRefNum": ref_num,
            "Line": [{"Amount": applied, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        }
        ops.create(company, "Payment", body, changes=[])
    for doc, customer, days, lines in ESTIMATES:
        _sales(company, "Estimate", doc, customer, days, lines)
    for vendor, days, account, amount in BILLS:
        body = {
            "VendorRef": {"value": VENDOR[vendor]},
            "TxnDate": _day(company, days),
            "Line": [_expense_line(company, accounts[account], amount)],
        }
        ops.create(company, "Bill", body, changes=[])
    for kind, paid_from, vendor, days, account, amount in PURCHASES:
        body = {
            "PaymentType": kind,
            "AccountRef": store.ref(accounts[paid_from], "Name"),
            "EntityRef": {"value": VENDOR[vendor], "type": "Vendor"},
            "TxnDate": _day(company, days),
            "Line": [_expense_line(company, accounts[account], amount)],
        }
        ops.create(company, "Purchase", body, changes=[])
