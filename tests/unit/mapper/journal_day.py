"""A summarized-mode day for the mapper's unit tests: company, settings and the day's documents."""

from __future__ import annotations

from typing import Any

from services.mapper.mapping import MapContext
from tests.unit.mapper import companies as c

MASTER = "Daily Sales"
DAY = "2026-11-02"


def context(country: str, **overrides: Any) -> MapContext:
    ref = c.reference(
        country,
        c.entity("Customer", {"Id": "90", "DisplayName": MASTER}),
        c.entity(
            "Account", {"Id": "38", "Name": "Sales Tax Payable", "AccountType": "Other Current Liability"}
        ),
        c.entity("Account", {"Id": "39", "Name": "Product Sales", "AccountType": "Income"}),
        c.entity("Item", {"Id": "8", "Name": "HOST", "Type": "Service", "IncomeAccountRef": {"value": "39"}}),
    )
    accounts = c.settings().accounts.model_dump() | {
        "accounts_receivable": "Accounts Receivable (A/R)",
        "sales_tax": "Sales Tax Payable",
    }
    settings: dict[str, Any] = {
        "posting": {"mode": "summarized_journal", "master_customer": MASTER},
        "accounts": accounts,
    } | overrides
    return c.context(country, ref=ref, **settings)


def documents(country: str) -> list[tuple[str, dict[str, Any]]]:
    """Three invoices for two customers (two items with their own income accounts) and a credit note."""
    rate = c.LINE_RATE[country]
    second = c.customer(customer_id="cus_2", code="BETA", name="Beta plc")
    return [
        ("invoice.approved", c.invoice(country, issue_date=DAY)),
        (
            "invoice.approved",
            c.invoice(
                country,
                invoice_id="inv_2",
                number="INV-1002",
                issue_date=DAY,
                customer=second,
                lines=[c.sales_line(quantity="2", unit_price="33.33", amount="66.66", tax_rate=rate)],
            ),
        ),
        (
            "invoice.approved",
            c.invoice(
                country,
                invoice_id="inv_3",
                number="INV-1003",
                issue_date=DAY,
                lines=[
                    c.sales_line(
                        item_code="HOST", quantity="1", unit_price="19.99", amount="19.99", tax_rate=rate
                    )
                ],
            ),
        ),
        (
            "credit_note.issued",
            {
                "credit_note_id": "cn_1",
                "number": "CN-1",
                "issue_date": DAY,
                "customer": c.customer(),
                "lines": [c.sales_line(quantity="1", unit_price="75.00", amount="75.00", tax_rate=rate)],
            },
        ),
    ]
