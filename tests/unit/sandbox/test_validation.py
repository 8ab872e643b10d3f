"""Each QBO validation code the sandbox reproduces, raised by the rules themselves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox import ops
from sandbox.faults import QboError
from tests.unit.sandbox.factories import create, customer, first, invoice, make_company, sales_line


def test_missing_customer_ref_on_invoice_is_2020_with_element() -> None:
    company = make_company()
    with pytest.raises(QboError) as err:
        create(company, "Invoice", {"Line": [sales_line(10)]})
    assert (err.value.code, err.value.element, err.value.status) == ("2020", "CustomerRef", 400)


def test_customer_without_any_name_is_2020_display_name() -> None:
    company = make_company()
    with pytest.raises(QboError) as err:
        create(company, "Customer", {"DisplayName": "", "GivenName": ""})
    assert (err.value.code, err.value.element) == ("2020", "DisplayName")


def test_display_name_is_built_from_name_parts() -> None:
    company = make_company()
    saved = create(company, "Customer", {"GivenName": "Ada", "FamilyName": "Lovelace"})
    assert saved["DisplayName"] == "Ada Lovelace"
    assert saved["PrintOnCheckName"] == "Ada Lovelace"


def test_unknown_item_reference_is_2500_naming_the_element() -> None:
    company = make_company()
    with pytest.raises(QboError) as err:
        invoice(company, lines=[sales_line(10, item="99999")])
    assert err.value.code == "2500"
    assert err.value.element == "Line.SalesItemLineDetail.ItemRef"


def test_inactive_customer_reference_is_610() -> None:
    company = make_company()
    cust = customer(company)
    ops.update(
        company, "Customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Active": False}, changes=[]
    )
    with pytest.raises(QboError) as err:
        invoice(company, customer_id=cust["Id"])
    assert err.value.code == "610"


def test_category_item_cannot_be_used_on_a_line() -> None:
    company = make_company()
    category = create(company, "Item", {"Name": "Cat A", "Type": "Category"})
    with pytest.raises(QboError) as err:
        invoice(company, lines=[sales_line(10, item=category["Id"])])
    assert err.value.code == "2500"
    assert "Categories cannot be used" in err.value.detail


def test_too_long_display_name_is_2050() -> None:
    company = make_company()
    with pytest.raises(QboError) as err:
        create(company, "Customer", {"DisplayName": "x" * 501})
    assert (err.value.code, err.value.element) == ("2050", "DisplayName")
    assert "Max:500" in err.value.detail


def test_too_long_doc_number_is_2050() -> None:
    company = make_company()
    with pytest.raises(QboError) as err:
        invoice(company, DocNumber="1" * 22)
    assert (err.value.code, err.value.element) == ("2050", "DocNumber")


def test_bad_enumeration_is_2170() -> None:
    company = make_company()
    with pytest.raises(QboError) as err:
        invoice(company, PrintStatus="Sometimes")
    assert (err.value.code, err.value.element) == ("2170", "PrintStatus")


def test_display_name_shared_between_customer_and_vendor_is_6240() -> None:
    company = make_company()
    create(company, "Vendor", {"DisplayName": "Shared Name Ltd"})
    with pytest.raises(QboError) as err:
        create(company, "Customer", {"DisplayName": "shared name ltd"})
    assert err.value.code == "6240"


def test_item_names_are_unique_among_items_only() -> None:
    company = make_company()
    create(company, "Customer", {"DisplayName": "Widget"})
    create(company, "Item", {"Name": "Widget", "Type": "Service", "IncomeAccountRef": {"value": "12"}})
    with pytest.raises(QboError) as err:
        create(company, "Item", {"Name": "WIDGET", "Type": "Service", "IncomeAccountRef": {"value": "12"}})
    assert err.value.code == "6240"


def test_duplicate_doc_number_is_6140_unless_allowed() -> None:
    company = make_company()
    invoice(company, DocNumber="INV-7")
    with pytest.raises(QboError) as err:
        invoice(company, DocNumber="INV-7")
    assert (err.value.code, err.value.element) == ("6140", "DocNumber")
    allowed = create(
        company,
        "Invoice",
        {"CustomerRef": {"value": customer(company)["Id"]}, "Line": [sales_line(1)], "DocNumber": "INV-7"},
        allow_duplicate=True,
    )
    assert allowed["DocNumber"] == "INV-7"


def test_stale_sync_token_is_5010() -> None:
    company = make_company()
    cust = customer(company)
    ops.update(
        company, "Customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Notes": "a"}, changes=[]
    )
    with pytest.raises(QboError) as err:
        ops.update(
            company,
            "Customer",
            {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Notes": "b"},
            changes=[],
        )
    assert err.value.code == "5010"


def test_write_in_closed_period_is_6210() -> None:
    company = make_company(book_close_date="2025-12-31")
    with pytest.raises(QboError) as err:
        invoice(company, TxnDate="2025-06-30")
    assert err.value.code == "6210"
    assert invoice(company, TxnDate="2026-01-01")["TxnDate"] == "2026-01-01"


def test_missing_vat_code_in_uk_is_6000_with_vat_wording() -> None:
    company = make_company(country="GB")
    with pytest.raises(QboError) as err:
        invoice(company, lines=[sales_line(10)])
    assert err.value.code == "6000"
    assert "VAT rate" in err.value.detail


def test_missing_gst_code_in_canada_is_6000_with_gst_hst_wording() -> None:
    company = make_company(country="CA")
    with pytest.raises(QboError) as err:
        invoice(company, lines=[sales_line(10)])
    assert err.value.code == "6000"
    assert "GST/HST" in err.value.detail


def test_amount_not_qty_times_unit_price_is_6000() -> None:
    company = make_company()
    with pytest.raises(QboError) as err:
        invoice(company, lines=[sales_line(25, qty=2, price=10)])
    assert err.value.code == "6000"
    assert "UnitPrice * Qty" in err.value.detail


def test_unbalanced_journal_entry_is_6000() -> None:
    company = make_company()
    checking = first(company, "Account", Name="Checking")["Id"]
    income = first(company, "Account", Name="Services")["Id"]
    lines = [
        {
            "Amount": 100,
            "DetailType": "JournalEntryLineDetail",
            "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": {"value": checking}},
        },
        {
            "Amount": 90,
            "DetailType": "JournalEntryLineDetail",
            "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": {"value": income}},
        },
    ]
    with pytest.raises(QboError) as err:
        create(company, "JournalEntry", {"Line": lines})
    assert err.value.code == "6000"
    lines[1]["Amount"] = 100
    assert create(company, "JournalEntry", {"Line": lines})["TotalAmt"] == Decimal("0")


def test_purchase_order_below_plus_is_rejected() -> None:
    company = make_company(edition="essentials")
    vendor = create(company, "Vendor", {"DisplayName": "PO Vendor"})
    expense = first(company, "Account", Name="Supplies")["Id"]
    body = {
        "VendorRef": {"value": vendor["Id"]},
        "Line": [
            {
                "Amount": 5,
                "DetailType": "AccountBasedExpenseLineDetail",
                "AccountBasedExpenseLineDetail": {"AccountRef": {"value": expense}},
            }
        ],
    }
    with pytest.raises(QboError) as err:
        create(company, "PurchaseOrder", body)
    assert err.value.code == "6000"


def test_class_ref_when_class_tracking_is_off_is_rejected() -> None:
    company = make_company(class_tracking="off")
    line = sales_line(10)
    line["SalesItemLineDetail"]["ClassRef"] = {"value": "1"}
    with pytest.raises(QboError) as err:
        invoice(company, lines=[line])
    assert err.value.code == "6000"


def test_department_ref_when_location_tracking_is_off_is_rejected() -> None:
    company = make_company(track_departments=False)
    with pytest.raises(QboError) as err:
        invoice(company, DepartmentRef={"value": "1"})
    assert err.value.code == "6000"


def test_class_tracking_per_line_accepts_a_line_class() -> None:
    company = make_company(class_tracking="per_line")
    klass = create(company, "Class", {"Name": "East"})
    line = sales_line(10)
    line["SalesItemLineDetail"]["ClassRef"] = {"value": klass["Id"]}
    assert invoice(company, lines=[line])["TotalAmt"] == Decimal("10.00")


def test_customers_cannot_be_deleted() -> None:
    company = make_company()
    cust = customer(company)
    with pytest.raises(QboError) as err:
        ops.delete(company, "Customer", {"Id": cust["Id"], "SyncToken": "0"}, changes=[])
    assert err.value.code == "500"


def test_update_of_missing_object_is_610() -> None:
    company = make_company()
    with pytest.raises(QboError) as err:
        ops.update(company, "Invoice", {"Id": "424242", "SyncToken": "0"}, changes=[])
    assert err.value.code == "610"


def test_estimate_cannot_be_voided() -> None:
    company = make_company()
    est = create(
        company, "Estimate", {"CustomerRef": {"value": customer(company)["Id"]}, "Line": [sales_line(5)]}
    )
    with pytest.raises(QboError):
        ops.void(
            company,
            "Estimate",
            {"Id": est["Id"], "SyncToken": est["SyncToken"]},
            style="operation",
            changes=[],
        )


def test_inactive_customer_is_renamed_and_frees_the_name() -> None:
    company = make_company()
    cust = customer(company, "Gone Ltd")
    inactive = ops.update(
        company, "Customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Active": False}, changes=[]
    )
    assert inactive["DisplayName"] == "Gone Ltd (deleted)"
    assert customer(company, "Gone Ltd")["DisplayName"] == "Gone Ltd"


def test_a_non_us_journal_line_with_a_tax_code_needs_what_the_tax_applies_on_and_its_amount() -> None:
    company = make_company(country="GB")
    receivable = first(company, "Account", AccountType="Accounts Receivable")["Id"]
    income = first(company, "Account", AccountType="Income")["Id"]
    code = next(c["Id"] for c in company.table("TaxCode").values() if c.get("Name") == "20.0% S")
    who = create(company, "Customer", {"DisplayName": "Daily Sales"})["Id"]
    debit = {
        "Amount": 120,
        "DetailType": "JournalEntryLineDetail",
        "JournalEntryLineDetail": {
            "PostingType": "Debit",
            "AccountRef": {"value": receivable},
            "Entity": {"Type": "Customer", "EntityRef": {"value": who}},
        },
    }
    credit: dict[str, object] = {
        "PostingType": "Credit",
        "AccountRef": {"value": income},
        "TaxCodeRef": {"value": code},
    }
    # The line is net: its tax posts by itself, so the receivable is the net plus the tax.
    lines = [debit, {"Amount": 100, "DetailType": "JournalEntryLineDetail", "JournalEntryLineDetail": credit}]
    with pytest.raises(QboError) as err:
        create(company, "JournalEntry", {"Line": lines})
    assert err.value.code == "2020"
    assert "TaxApplicableOn" in str(err.value.element)
    credit |= {"TaxApplicableOn": "Sales", "TaxAmount": "20.00"}
    saved = create(company, "JournalEntry", {"Line": lines})
    assert saved["Line"][1]["JournalEntryLineDetail"]["TaxAmount"] == Decimal("20.00")
