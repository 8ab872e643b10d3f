"""RecurringTransaction, the sample seed, Preferences sections, sales line order, invoice links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sandbox import recurring, services
from sandbox.faults import QboError
from sandbox.ops import Change
from tests.unit.sandbox.factories import customer, invoice, make_company, sales_line


def template(customer_id: str, name: str = "Monthly care", **info: Any) -> dict[str, Any]:
    schedule = {"IntervalType": "Monthly", "NumInterval": 1, "DayOfMonth": 1, "StartDate": "2026-12-01"}
    return {
        "Invoice": {
            "CustomerRef": {"value": customer_id},
            "Line": [sales_line(60, tax="NON")],
            "RecurringInfo": {"Name": name, "RecurType": "Automated", "ScheduleInfo": schedule, **info},
        }
    }


def test_recurring_invoice_is_validated_but_books_nothing() -> None:
    company = make_company()
    cust = customer(company)
    changes: list[Change] = []

    saved = recurring.create(company, template(cust["Id"]), changes)["Invoice"]

    assert saved["TotalAmt"] == Decimal("60.00")
    assert "DocNumber" not in saved
    assert saved["RecurringInfo"]["ScheduleInfo"]["NextDate"] == "2026-12-01"
    assert cust["Balance"] == 0
    assert company.last_doc_number.get("Invoice") == 1003  # the sample seed's, untouched
    assert changes == [Change("RecurringTransaction", saved["Id"], "Create")]


def test_recurring_template_obeys_its_transaction_rules() -> None:
    company = make_company()
    body = template("999")

    with pytest.raises(QboError) as caught:
        recurring.create(company, body, [])

    assert caught.value.code == "2500"


def test_recurring_info_needs_a_unique_name_and_a_schedule() -> None:
    company = make_company()
    cust = customer(company)["Id"]
    recurring.create(company, template(cust), [])

    bodies: list[dict[str, Any]] = [
        template(cust),
        template(cust, "Other", ScheduleInfo=None),
        {"Bill": {}, "Invoice": {}},
    ]
    for body in bodies:
        with pytest.raises(QboError):
            recurring.create(company, body, [])
    unscheduled = recurring.create(
        company, template(cust, "Ad hoc", RecurType="UnScheduled", ScheduleInfo=None), []
    )
    assert unscheduled["Invoice"]["RecurringInfo"]["RecurType"] == "UnScheduled"


def test_recurring_update_checks_sync_token_and_delete_removes_it() -> None:
    company = make_company()
    saved = recurring.create(company, template(customer(company)["Id"]), [])["Invoice"]
    body = {"Invoice": {**saved, "PrivateNote": "changed"}}

    updated = recurring.update(company, body, [])["Invoice"]
    with pytest.raises(QboError) as stale:
        recurring.update(company, body, [])
    answer = recurring.delete(
        company, {"Invoice": {"Id": saved["Id"], "SyncToken": updated["SyncToken"]}}, []
    )

    assert (updated["SyncToken"], updated["PrivateNote"]) == ("1", "changed")
    assert stale.value.code == "5010"
    assert answer == {"Invoice": {"status": "Deleted", "domain": "QBO", "Id": saved["Id"]}}
    assert company.table("RecurringTransaction") == {}


def test_recurring_transactions_are_queried_by_type() -> None:
    company = make_company()
    invoice_id = recurring.create(company, template(customer(company)["Id"]), [])["Invoice"]["Id"]
    line = {
        "Amount": 9,
        "DetailType": "AccountBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "18"}},
    }
    info = {
        "Name": "Rent",
        "RecurType": "Reminded",
        "ScheduleInfo": {"IntervalType": "Monthly", "StartDate": "2026-12-01"},
    }
    recurring.create(
        company, {"Bill": {"VendorRef": {"value": "1"}, "Line": [line], "RecurringInfo": info}}, []
    )

    bills = services.run_query(company, "select * from RecurringTransaction where Type = 'Bill'")
    invoices = services.run_query(company, f"select * from RecurringTransaction where Id = '{invoice_id}'")

    assert [list(row) for row in bills["RecurringTransaction"]] == [["Bill"]]
    assert [row["Invoice"]["Id"] for row in invoices["RecurringTransaction"]] == [invoice_id]


def test_simple_start_has_no_recurring_transactions() -> None:
    company = make_company(edition="simple_start")

    with pytest.raises(QboError):
        recurring.create(company, template(customer(company)["Id"]), [])


def test_sample_seed_has_transactions_people_and_stock_with_stable_ids() -> None:
    company = make_company()

    assert [i["DocNumber"] for i in company.table("Invoice").values()] == ["1001", "1002", "1003"]
    assert company.table("Invoice")["1"]["Balance"] == 0  # paid by payment 1
    assert company.table("Invoice")["2"]["Balance"] == Decimal("100.00")  # paid in part by payment 2
    assert len(company.table("Payment")) == 2
    assert len(company.table("Bill")) == 2
    assert company.table("Estimate")["1"]["CustomerRef"]["value"] == "10"
    assert [p["PaymentType"] for p in company.table("Purchase").values()] == ["CreditCard", "Check"]
    assert company.table("Employee")["1"]["DisplayName"] == "Emily Platt"
    assert company.table("Item")["13"]["Type"] == "Inventory"
    assert company.table("Customer")["3"]["Balance"] == Decimal("100.00")


def test_sample_transactions_are_older_than_cdc_reaches() -> None:
    company = make_company()
    since = (datetime.now(UTC) - timedelta(days=29)).isoformat(timespec="seconds")

    reply = services.cdc(company, entities="Invoice,Payment,Bill,Estimate,Purchase", since=since)

    assert reply["CDCResponse"][0]["QueryResponse"] == [{}]


def test_sample_seed_keeps_working_in_other_countries_and_editions() -> None:
    company = make_company(
        country="GB", edition="essentials", custom_txn_numbers=True, book_close_date="2099-01-01"
    )

    assert len(company.table("Invoice")) == 3
    assert "13" not in company.table("Item")  # no inventory below Plus


def test_preferences_carry_the_sections_qbo_returns() -> None:
    prefs = make_company().prefs()

    for section in (
        "EmailMessagesPrefs",
        "TimeTrackingPrefs",
        "ReportPrefs",
        "VendorAndPurchasesPrefs",
        "OtherPrefs",
    ):
        assert prefs[section], section
    assert prefs["SalesFormsPrefs"]["DefaultDiscountAccount"] == "13"
    assert prefs["EmailMessagesPrefs"]["InvoiceMessage"]["Subject"].startswith("Invoice from")


def test_preferences_update_merges_writable_sections_and_ignores_read_only_fields() -> None:
    company = make_company()
    body = {
        "SyncToken": "0",
        "ReportPrefs": {"ReportBasis": "Cash"},
        "TaxPrefs": {"UsingSalesTax": False},
        "CurrencyPrefs": {"MultiCurrencyEnabled": True},
    }

    saved = services.update_singleton(company, "Preferences", body, [])

    assert saved["ReportPrefs"] == {"ReportBasis": "Cash", "CalcAgingReportFromTxnDate": False}
    assert saved["TaxPrefs"]["UsingSalesTax"] is True
    assert saved["CurrencyPrefs"]["MultiCurrencyEnabled"] is False


def discount(percent: str) -> dict[str, Any]:
    detail = {"PercentBased": True, "DiscountPercent": percent, "DiscountAccountRef": {"value": "13"}}
    return {"Amount": 0, "DetailType": "DiscountLineDetail", "DiscountLineDetail": detail}


def test_sales_lines_come_back_as_items_then_subtotal_then_discount() -> None:
    company = make_company()
    subtotal = {"Amount": 0, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}

    saved = invoice(
        company, lines=[discount("10"), sales_line(100, tax="NON"), subtotal, sales_line(50, tax="NON")]
    )

    kinds = [line["DetailType"] for line in saved["Line"]]
    assert kinds == ["SalesItemLineDetail", "SalesItemLineDetail", "SubTotalLineDetail", "DiscountLineDetail"]
    assert saved["Line"][3]["Amount"] == Decimal("15.00")  # 10 % of the whole subtotal
    assert saved["TotalAmt"] == Decimal("135.00")


def test_invoice_link_is_included_only_when_asked_and_the_invoice_can_be_sent() -> None:
    company = make_company()
    emailed = invoice(company, BillEmail={"Address": "pay@example.com"})
    silent = invoice(company)

    linked = services.read(company, "Invoice", emailed["Id"], include="invoiceLink")["Invoice"]
    plain = services.read(company, "Invoice", emailed["Id"])["Invoice"]
    no_email = services.read(company, "Invoice", silent["Id"], include="invoiceLink")["Invoice"]

    assert linked["InvoiceLink"].startswith("https://connect.intuit.com/")
    assert "InvoiceLink" not in plain
    assert "InvoiceLink" not in no_email
    assert "InvoiceLink" not in company.table("Invoice")[emailed["Id"]]  # computed, never stored
    queried = services.run_query(
        company, f"select * from Invoice where Id = '{emailed['Id']}'", include="invoicelink"
    )
    assert queried["Invoice"][0]["InvoiceLink"] == linked["InvoiceLink"]


def test_every_emulated_entity_can_be_queried() -> None:
    company = make_company(multicurrency=True)

    for entity in sorted(services.QUERYABLE):
        assert "totalCount" in services.run_query(company, f"select count(*) from {entity}"), entity
