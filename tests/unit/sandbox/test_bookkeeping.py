"""Computed totals, tax, balances, DocNumbers, payments, voids and deletes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sandbox import ops
from sandbox.faults import QboError
from sandbox.state import Company
from tests.unit.sandbox.factories import create, customer, first, invoice, make_company, sales_line


def pay(company: Company, cust_id: str, total: str, links: list[tuple[str, str, str]]) -> dict[str, Any]:
    lines = [
        {"Amount": amount, "LinkedTxn": [{"TxnId": txn_id, "TxnType": kind}]}
        for kind, txn_id, amount in links
    ]
    return create(company, "Payment", {"CustomerRef": {"value": cust_id}, "TotalAmt": total, "Line": lines})


def test_us_invoice_totals_match_intuits_worked_example() -> None:
    company = make_company()
    saved = invoice(
        company,
        lines=[sales_line(275, tax="TAX"), sales_line("12.75", tax="TAX"), sales_line("47.50", tax="TAX")],
        TxnTaxDetail={"TxnTaxCodeRef": {"value": "2"}},
        SalesTermRef={"value": "3"},
        TxnDate="2026-03-01",
    )
    assert saved["Line"][-1] == {
        "Amount": Decimal("335.25"),
        "DetailType": "SubTotalLineDetail",
        "SubTotalLineDetail": {},
    }
    assert saved["TxnTaxDetail"]["TotalTax"] == Decimal("26.82")
    assert saved["TotalAmt"] == saved["Balance"] == Decimal("362.07")
    assert saved["DueDate"] == "2026-03-31"


def test_non_taxable_lines_are_not_taxed() -> None:
    company = make_company()
    saved = invoice(
        company, lines=[sales_line(100, tax="NON")], TxnTaxDetail={"TxnTaxCodeRef": {"value": "2"}}
    )
    assert saved["TotalAmt"] == Decimal("100.00")


def test_uk_standard_rate_adds_twenty_percent_vat() -> None:
    company = make_company(country="GB")
    code = first(company, "TaxCode", Name="20.0% S")["Id"]
    saved = invoice(company, lines=[sales_line(100, tax=code)])
    assert saved["TxnTaxDetail"]["TotalTax"] == Decimal("20.00")
    assert saved["TotalAmt"] == Decimal("120.00")


def test_uk_tax_inclusive_amounts_already_contain_vat() -> None:
    company = make_company(country="GB")
    code = first(company, "TaxCode", Name="20.0% S")["Id"]
    saved = invoice(company, lines=[sales_line(120, tax=code)], GlobalTaxCalculation="TaxInclusive")
    assert saved["TxnTaxDetail"]["TotalTax"] == Decimal("20.00")
    assert saved["TotalAmt"] == Decimal("120.00")


def test_uk_seeded_tax_code_names_are_qbos() -> None:
    names = {c["Name"] for c in make_company(country="GB").table("TaxCode").values()}
    assert {"20.0% S", "5.0% R", "0.0% Z", "Exempt", "No VAT"} <= names


def test_doc_numbers_auto_increment_when_custom_numbers_are_off() -> None:
    company = make_company()
    first_doc = invoice(company)["DocNumber"]
    assert invoice(company)["DocNumber"] == str(int(first_doc) + 1)


def test_no_doc_number_is_invented_when_custom_numbers_are_on() -> None:
    company = make_company(custom_txn_numbers=True)
    assert "DocNumber" not in invoice(company)
    assert invoice(company, DocNumber="A-1")["DocNumber"] == "A-1"


def test_payment_reduces_invoice_balance_and_links_it() -> None:
    company = make_company()
    cust = customer(company)
    inv = invoice(company, customer_id=cust["Id"], lines=[sales_line(100)])
    payment = pay(company, cust["Id"], "60", [("Invoice", inv["Id"], "60")])
    stored = company.table("Invoice")[inv["Id"]]
    assert stored["Balance"] == Decimal("40.00")
    assert stored["SyncToken"] == "1"
    assert stored["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    assert company.table("Customer")[cust["Id"]]["Balance"] == Decimal("40.00")


def test_credit_memo_and_payment_together_settle_an_invoice() -> None:
    company = make_company()
    cust = customer(company)
    inv = invoice(company, customer_id=cust["Id"], lines=[sales_line(100)])
    memo = create(company, "CreditMemo", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(30)]})
    pay(company, cust["Id"], "0", [("Invoice", inv["Id"], "30"), ("CreditMemo", memo["Id"], "30")])
    assert company.table("Invoice")[inv["Id"]]["Balance"] == Decimal("70.00")
    assert company.table("CreditMemo")[memo["Id"]]["RemainingCredit"] == Decimal("0.00")


def test_overpaying_an_invoice_is_rejected() -> None:
    company = make_company()
    cust = customer(company)
    inv = invoice(company, customer_id=cust["Id"], lines=[sales_line(10)])
    with pytest.raises(QboError) as err:
        pay(company, cust["Id"], "50", [("Invoice", inv["Id"], "50")])
    assert err.value.code == "6000"


def test_deleting_a_payment_restores_the_invoice_balance() -> None:
    company = make_company()
    cust = customer(company)
    inv = invoice(company, customer_id=cust["Id"], lines=[sales_line(100)])
    payment = pay(company, cust["Id"], "100", [("Invoice", inv["Id"], "100")])
    assert company.table("Invoice")[inv["Id"]]["Balance"] == Decimal("0.00")
    ops.delete(company, "Payment", {"Id": payment["Id"], "SyncToken": "0"}, changes=[])
    assert company.table("Invoice")[inv["Id"]]["Balance"] == Decimal("100.00")
    assert "LinkedTxn" not in company.table("Invoice")[inv["Id"]]


def test_invoice_with_payment_cannot_be_voided_or_deleted() -> None:
    company = make_company()
    cust = customer(company)
    inv = invoice(company, customer_id=cust["Id"], lines=[sales_line(100)])
    pay(company, cust["Id"], "10", [("Invoice", inv["Id"], "10")])
    token = company.table("Invoice")[inv["Id"]]["SyncToken"]
    with pytest.raises(QboError):
        ops.void(company, "Invoice", {"Id": inv["Id"], "SyncToken": token}, style="operation", changes=[])
    with pytest.raises(QboError):
        ops.delete(company, "Invoice", {"Id": inv["Id"], "SyncToken": token}, changes=[])


def test_void_zeroes_amounts_and_notes_it() -> None:
    company = make_company()
    inv = invoice(company, lines=[sales_line(100)], PrivateNote="hello")
    voided = ops.void(company, "Invoice", {"Id": inv["Id"], "SyncToken": "0"}, style="operation", changes=[])
    assert voided["TotalAmt"] == voided["Balance"] == Decimal("0")
    assert voided["PrivateNote"].startswith("Voided")
    assert voided["SyncToken"] == "1"


def test_payment_void_uses_the_include_style_only() -> None:
    company = make_company()
    cust = customer(company)
    inv = invoice(company, customer_id=cust["Id"], lines=[sales_line(100)])
    payment = pay(company, cust["Id"], "100", [("Invoice", inv["Id"], "100")])
    with pytest.raises(QboError):
        ops.void(company, "Payment", {"Id": payment["Id"], "SyncToken": "0"}, style="operation", changes=[])
    ops.void(company, "Payment", {"Id": payment["Id"], "SyncToken": "0"}, style="include", changes=[])
    assert company.table("Invoice")[inv["Id"]]["Balance"] == Decimal("100.00")


def test_sparse_update_keeps_unsent_fields_and_full_update_clears_them() -> None:
    company = make_company()
    cust = create(company, "Customer", {"DisplayName": "Sparse Co", "Notes": "keep me"})
    sparse = ops.update(
        company,
        "Customer",
        {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "SC"},
        changes=[],
    )
    assert sparse["Notes"] == "keep me"
    full = ops.update(
        company, "Customer", {"Id": cust["Id"], "SyncToken": "1", "DisplayName": "Sparse Co"}, changes=[]
    )
    assert "Notes" not in full
    assert full["SyncToken"] == "2"


def test_sub_customer_gets_fully_qualified_name_and_job_flag() -> None:
    company = make_company()
    parent = customer(company, "Parent Co")
    child = create(company, "Customer", {"DisplayName": "Site 1", "ParentRef": {"value": parent["Id"]}})
    assert child["FullyQualifiedName"] == "Parent Co:Site 1"
    assert child["Job"] is True
    assert child["Level"] == 1


def test_bill_payment_reduces_bill_balance() -> None:
    company = make_company()
    vendor = create(company, "Vendor", {"DisplayName": "Supplier Z"})
    expense = first(company, "Account", Name="Supplies")["Id"]
    bank = first(company, "Account", Name="Checking")["Id"]
    bill = create(
        company,
        "Bill",
        {
            "VendorRef": {"value": vendor["Id"]},
            "Line": [
                {
                    "Amount": 80,
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {"AccountRef": {"value": expense}},
                }
            ],
        },
    )
    create(
        company,
        "BillPayment",
        {
            "VendorRef": {"value": vendor["Id"]},
            "PayType": "Check",
            "TotalAmt": 80,
            "CheckPayment": {"BankAccountRef": {"value": bank}},
            "Line": [{"Amount": 80, "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}],
        },
    )
    assert company.table("Bill")[bill["Id"]]["Balance"] == Decimal("0.00")


def test_changes_are_reported_for_webhooks() -> None:
    company = make_company()
    cust = customer(company)
    changes: list[ops.Change] = []
    inv = ops.create(
        company, "Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(5)]}, changes=changes
    )
    assert changes == [ops.Change("Invoice", inv["Id"], "Create")]
