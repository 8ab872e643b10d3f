"""One representative platform event per catalogue type, for golden and sandbox tests."""

from __future__ import annotations

from typing import Any

from tests.unit.mapper import companies as c

# 75.00 taxed at each country's line rate (US 8 %, GB 20 %, CA 5 % + 7 %, AU 10 %).
REFUND_TOTAL = {"US": "81.00", "GB": "90.00", "CA": "84.00", "AU": "82.50"}


def golden_events(country: str) -> dict[str, dict[str, Any]]:
    """Event type → data; every platform event of the catalogue appears once."""
    rate = c.LINE_RATE[country]
    return {
        "customer.upserted": c.customer(payment_terms_days=30, payment_method="Visa", phone="0113 496 0000"),
        "vendor.upserted": {
            "vendor_id": "ven_1",
            "name": "Paper Co",
            "account_number": "AC-9",
            "address": {"line1": "2 Mill Rd", "city": "York"},
        },
        "item.upserted": {
            "item_id": "itm_1",
            "code": "WIDGET",
            "type": "non_inventory",
            "description": "A widget",
            "unit_price": "9.99",
        },
        "invoice.approved": c.invoice(country),
        "invoice.updated": c.invoice(country, memo="Order 77 (amended)"),
        "invoice.voided": {"invoice_id": "inv_1", "number": "INV-1001"},
        "credit_note.issued": {
            "credit_note_id": "cn_1",
            "number": "CN-1",
            "issue_date": "2026-11-05",
            "customer": c.customer(),
            "lines": [c.sales_line(quantity="1", unit_price="75.00", amount="75.00", tax_rate=rate)],
            "applies_to_invoice_number": "INV-1001",
        },
        "credit_note.voided": {"credit_note_id": "cn_1", "number": "CN-1"},
        "payment.recorded": {
            "payment_id": "pay_1",
            "date": "2026-11-10",
            "amount": "100.00",
            "customer": {"code": "ACME"},
            "payment_method": "Check",
            "reference": "CHQ-1",
            "applied_to": [{"invoice_id": "inv_1", "amount": "100.00"}],
        },
        "refund.issued": {
            "refund_id": "ref_1",
            "date": "2026-11-12",
            "amount": REFUND_TOTAL[country],
            "customer": {"code": "ACME"},
            "payment_method": "Cash",
            "lines": [c.sales_line(quantity="1", unit_price="75.00", amount="75.00", tax_rate=rate)],
        },
        "bill.approved": c.purchase("bill", country),
        "bill.updated": c.purchase("bill", country, memo="amended"),
        "bill.cancelled": {"bill_id": "bill_1", "number": "B-77"},
        "purchase_order.approved": c.purchase("purchase_order", country, number="PO-5"),
        "purchase_order.updated": c.purchase("purchase_order", country, number="PO-5", memo="amended"),
        "purchase_order.cancelled": {"purchase_order_id": "purchase_order_1", "number": "PO-5"},
        **reversal_events(country),
    }


def reversal_events(country: str) -> dict[str, dict[str, Any]]:
    """The reversals: voids, deactivations, a credit note changed and bills paid."""
    rate = c.LINE_RATE[country]
    return {
        "credit_note.updated": {
            "credit_note_id": "cn_1",
            "number": "CN-1",
            "issue_date": "2026-11-05",
            "customer": c.customer(),
            "lines": [
                c.sales_line(
                    description="Design work (corrected)",
                    quantity="1",
                    unit_price="75.00",
                    amount="75.00",
                    tax_rate=rate,
                )
            ],
            "applies_to_invoice_number": "INV-1001",
            "memo": "corrected",
        },
        "payment.voided": {"payment_id": "pay_1"},
        "refund.voided": {"refund_id": "ref_1"},
        "customer.deactivated": {"customer_id": "cus_1"},
        "vendor.deactivated": {"vendor_id": "ven_1"},
        "item.deactivated": {"item_id": "itm_1"},
        "bill_payment.recorded": {
            "bill_payment_id": "bp_1",
            "date": "2026-11-20",
            "amount": "50.00",
            "vendor": {"vendor_id": "ven_1", "name": "Paper Co"},
            "payment_account": "Checking",
            "reference": "CHK-204",
            "applied_to": [
                {"bill_id": "bill_1", "amount": "30.00"},
                {"bill_number": "B-12", "amount": "20.00"},
            ],
        },
    }


def inventory_item(**overrides: Any) -> dict[str, Any]:
    return {
        "item_id": "itm_2",
        "code": "GADGET",
        "type": "inventory",
        "description": "A gadget",
        "unit_price": "25.00",
        "purchase_cost": "11.50",
        "quantity_on_hand": "40",
        "inventory_start_date": "2026-11-01",
    } | overrides


def variant_events(country: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Modes of an event beyond its representative case: golden name → (event type, data)."""
    return {"item.upserted.inventory": ("item.upserted", inventory_item())}
