"""TimeActivity, Attachable, CompanyCurrency, ExchangeRate and foreign-currency transactions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sandbox import ops, rates, services
from sandbox.faults import QboError
from sandbox.state import Company
from tests.unit.sandbox.factories import create, customer, invoice, make_company, sales_line


def refused(company: Company, entity: str, body: dict[str, Any]) -> QboError:
    with pytest.raises(QboError) as caught:
        create(company, entity, body)
    return caught.value


def test_time_activity_of_an_employee_defaults_to_not_billable() -> None:
    company = make_company()

    saved = create(
        company,
        "TimeActivity",
        {"NameOf": "Employee", "EmployeeRef": {"value": "1"}, "Hours": 3, "Minutes": "30"},
    )

    assert (saved["Hours"], saved["Minutes"], saved["BillableStatus"]) == (3, 30, "NotBillable")
    assert saved["TxnDate"]


def test_time_activity_names_its_worker_and_a_duration() -> None:
    company = make_company()

    assert refused(company, "TimeActivity", {"Hours": 1}).element == "NameOf"
    assert refused(company, "TimeActivity", {"NameOf": "Vendor", "Hours": 1}).element == "VendorRef"
    assert (
        refused(company, "TimeActivity", {"NameOf": "Employee", "EmployeeRef": {"value": "1"}}).code == "2020"
    )
    assert refused(company, "TimeActivity", {"NameOf": "Robot", "Hours": 1}).code == "2170"


def test_time_activity_start_must_precede_end() -> None:
    company = make_company()
    body = {"NameOf": "Employee", "EmployeeRef": {"value": "1"}}

    ok = create(
        company,
        "TimeActivity",
        {**body, "StartTime": "2026-11-02T08:00:00-08:00", "EndTime": "2026-11-02T12:00:00-08:00"},
    )
    error = refused(
        company,
        "TimeActivity",
        {**body, "StartTime": "2026-11-02T12:00:00-08:00", "EndTime": "2026-11-02T08:00:00-08:00"},
    )

    assert ok["StartTime"]
    assert error.element == "EndTime"


def test_billable_time_needs_a_customer() -> None:
    company = make_company()
    body = {"NameOf": "Employee", "EmployeeRef": {"value": "1"}, "Hours": 2, "BillableStatus": "Billable"}

    assert refused(company, "TimeActivity", body).element == "CustomerRef"
    saved = create(
        company,
        "TimeActivity",
        {**body, "CustomerRef": {"value": customer(company)["Id"]}, "HourlyRate": "75"},
    )
    assert saved["HourlyRate"] == Decimal("75")


def test_attachable_note_links_to_an_existing_object() -> None:
    company = make_company()
    inv = invoice(company)

    saved = create(
        company,
        "Attachable",
        {"Note": "signed", "AttachableRef": [{"EntityRef": {"type": "Invoice", "value": inv["Id"]}}]},
    )

    assert saved["AttachableRef"][0]["IncludeOnSend"] is False
    missing = {"Note": "x", "AttachableRef": [{"EntityRef": {"type": "Invoice", "value": "999"}}]}
    assert refused(company, "Attachable", missing).code == "2500"


def test_attachable_needs_a_note_or_a_file() -> None:
    company = make_company()

    assert refused(company, "Attachable", {"AttachableRef": []}).code == "6000"
    assert refused(company, "Attachable", {"Note": "n" * 2001}).code == "2050"


def multicurrency() -> Company:
    return make_company(multicurrency=True)


def test_company_currency_needs_multicurrency_and_a_known_foreign_code() -> None:
    assert refused(make_company(), "CompanyCurrency", {"Code": "EUR"}).code == "6000"
    company = multicurrency()

    saved = create(company, "CompanyCurrency", {"Code": "eur"})

    assert (saved["Code"], saved["Name"], saved["Active"]) == ("EUR", "Euro", True)
    assert refused(company, "CompanyCurrency", {"Code": "EUR"}).code == "6240"
    assert refused(company, "CompanyCurrency", {"Code": "USD"}).code == "6000"
    assert refused(company, "CompanyCurrency", {"Code": "XYZ"}).code == "2170"


def test_company_currencies_are_deactivated_not_deleted() -> None:
    company = multicurrency()
    saved = create(company, "CompanyCurrency", {"Code": "CAD"})

    with pytest.raises(QboError):
        ops.delete(company, "CompanyCurrency", {"Id": saved["Id"], "SyncToken": "0"}, changes=[])


def test_exchange_rate_reads_the_latest_rate_on_or_before_a_date() -> None:
    company = multicurrency()
    create(company, "CompanyCurrency", {"Code": "EUR"})
    rates.update(company, {"SourceCurrencyCode": "EUR", "Rate": "1.2", "AsOfDate": "2026-01-10"})

    assert rates.read(company, {"sourcecurrencycode": "EUR", "asofdate": "2026-02-01"})["Rate"] == Decimal(
        "1.2"
    )
    assert rates.read(company, {"sourcecurrencycode": "EUR", "asofdate": "2026-01-09"})["Rate"] == Decimal(
        "1.0800000"
    )
    updated = rates.update(
        company, {"SourceCurrencyCode": "EUR", "Rate": "1.3", "AsOfDate": "2026-01-10", "SyncToken": "0"}
    )
    assert (updated["Rate"], updated["SyncToken"], updated["TargetCurrencyCode"]) == (
        Decimal("1.3"),
        "1",
        "USD",
    )


def test_exchange_rate_update_checks_sync_token_and_rate() -> None:
    company = multicurrency()
    rates.update(company, {"SourceCurrencyCode": "EUR", "Rate": "1.2", "AsOfDate": "2026-01-10"})

    with pytest.raises(QboError) as stale:
        rates.update(
            company, {"SourceCurrencyCode": "EUR", "Rate": "1.4", "AsOfDate": "2026-01-10", "SyncToken": "7"}
        )
    with pytest.raises(QboError) as zero:
        rates.update(company, {"SourceCurrencyCode": "EUR", "Rate": "0"})
    assert (stale.value.code, zero.value.code) == ("5010", "6000")


def test_exchange_rates_need_a_multicurrency_company() -> None:
    with pytest.raises(QboError):
        rates.read(make_company(), {"sourcecurrencycode": "EUR"})


def test_a_query_lists_todays_rate_of_every_added_currency() -> None:
    company = multicurrency()
    create(company, "CompanyCurrency", {"Code": "GBP"})

    rows = services.run_query(company, "select * from ExchangeRate where SourceCurrencyCode = 'GBP'")[
        "ExchangeRate"
    ]

    assert [row["Rate"] for row in rows] == [Decimal("1.2700000")]


def test_foreign_invoice_needs_the_currency_added_and_gets_home_amounts() -> None:
    company = multicurrency()
    cust = create(company, "Customer", {"DisplayName": "Euro Co", "CurrencyRef": {"value": "EUR"}})["Id"]
    body: dict[str, Any] = {"CurrencyRef": {"value": "EUR"}, "TxnDate": "2026-03-01"}

    with pytest.raises(QboError) as caught:
        invoice(company, customer_id=cust, **body)
    assert caught.value.element == "CurrencyRef"
    create(company, "CompanyCurrency", {"Code": "EUR"})
    rates.update(company, {"SourceCurrencyCode": "EUR", "Rate": "1.5", "AsOfDate": "2026-02-01"})
    saved = invoice(company, customer_id=cust, lines=[sales_line(100, tax="NON")], **body)
    assert (saved["ExchangeRate"], saved["HomeTotalAmt"]) == (Decimal("1.5"), Decimal("150.00"))
    chosen = invoice(company, customer_id=cust, lines=[sales_line(100, tax="NON")], ExchangeRate="2", **body)
    assert chosen["HomeTotalAmt"] == Decimal("200.00")


def test_inactive_currencies_are_hidden_from_queries_unless_asked_for() -> None:
    company = multicurrency()
    saved = create(company, "CompanyCurrency", {"Code": "CAD"})
    ops.update(
        company,
        "CompanyCurrency",
        {"Id": saved["Id"], "SyncToken": "0", "sparse": True, "Active": False},
        changes=[],
    )

    assert services.run_query(company, "select * from CompanyCurrency") == {}
    listed = services.run_query(company, "select * from CompanyCurrency where Active = false")
    assert [c["Code"] for c in listed["CompanyCurrency"]] == ["CAD"]
