"""Intuit's US sample company ("Craig's Design and Landscaping"): people, items and transactions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox import seed_txns, store
from sandbox.state import Company

SAMPLE_CUSTOMERS = (
    "Amy's Bird Sanctuary",
    "Bill's Windsurf Shop",
    "Cool Cars",
    "Diego Rodriguez",
    "Dukes Basketball Camp",
    "Dylan Sollfrank",
    "Freeman Sporting Goods",
    "Geeta Kalapatapu",
    "Gevelber Photography",
    "Jeff's Jalopies",
    "Kookies by Kathy",
    "Pye's Cakes",
    "Red Rock Diner",
    "Sonnenschein Family Store",
    "Shara Barnett",
    "Sushi by Katsuyuki",
    "Travis Waldron",
    "Weiskopf Consulting",
)
SAMPLE_SUB_CUSTOMERS = {"Freeman Sporting Goods": ("0969 Ocean View Road", "55 Twin Lane")}
SAMPLE_VENDORS = (
    "Bob's Burger Joint",
    "Robertson & Associates",
    "Books by Bessie",
    "Brosnahan Insurance Agency",
    "Cal Telephone",
    "Computers by Jenni",
    "Diego's Road Warrior Bodyshop",
    "Hicks Hardware",
    "Lee Advertising",
    "Norton Lumber and Building Materials",
    "PG&E",
    "Tania's Nursery",
)
SAMPLE_SERVICES = (
    ("Design", "75"),
    ("Gardening", "0"),
    ("Installation", "50"),
    ("Maintenance & Repair", "0"),
    ("Pest Control", "35"),
    ("Sprinklers", "0"),
    ("Trimming", "35"),
)
SAMPLE_NON_INVENTORY = (("Concrete", "0"), ("Sprinkler Heads", "2"), ("Sprinkler Pipes", "4"))


def item(
    company: Company,
    name: str,
    kind: str,
    price: str,
    income: dict[str, Any],
    accounts: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Name": name,
        "Type": kind,
        "UnitPrice": Decimal(price),
        "Active": True,
        "Taxable": kind != "Service",
        "IncomeAccountRef": store.ref(income, "Name"),
        "ExpenseAccountRef": store.ref(accounts["Cost of Goods Sold"], "Name"),
        "TrackQtyOnHand": False,
    }
    if not company.is_us:
        code = next(iter(company.table("TaxCode").values()))
        body["SalesTaxCodeRef"] = body["PurchaseTaxCodeRef"] = store.ref(code, "Name")
    return store.insert(company, "Item", body)


def person(company: Company, entity: str, name: str, parent: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "DisplayName": name,
        "PrintOnCheckName": name,
        "CompanyName": name,
        "Active": True,
        "Balance": Decimal("0.00"),
        "CurrencyRef": {"value": company.home_currency},
    }
    if entity == "Customer":
        body.update(
            {
                "BalanceWithJobs": Decimal("0.00"),
                "Job": parent is not None,
                "BillWithParent": False,
                "Taxable": company.is_us,
                "Level": 0 if parent is None else 1,
                "IsProject": False,
            }
        )
        if parent is not None:
            body["ParentRef"] = store.ref(parent)
    return store.insert(company, entity, body)


def add_sample(company: Company, accounts: dict[str, dict[str, Any]]) -> None:
    for name in SAMPLE_CUSTOMERS:
        parent = person(company, "Customer", name)
        for child in SAMPLE_SUB_CUSTOMERS.get(name, ()):
            person(company, "Customer", child, parent)
    for name in SAMPLE_VENDORS:
        person(company, "Vendor", name)
    for name, price in SAMPLE_SERVICES:
        item(company, name, "Service", price, accounts["Services"], accounts)
    for name, price in SAMPLE_NON_INVENTORY:
        item(company, name, "NonInventory", price, accounts["Sales of Product Income"], accounts)
    seed_txns.add_people_and_stock(company, accounts)
    seed_txns.add_transactions(company, accounts)
