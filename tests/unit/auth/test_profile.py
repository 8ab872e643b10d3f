"""The company profile read from CompanyInfo and Preferences, and the activation checks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from services.auth import profile
from shared.contracts.internal import CompanyProfile

SUPPORTED = ("US", "GB", "CA", "AU")


def company_info(**overrides: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "CompanyName": "Larry's Landscaping",
        "Country": "US",
        "CompanyAddr": {"Country": "USA"},
        "NameValue": [
            {"Name": "SubscriptionStatus", "Value": "PAID"},
            {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
        ],
    }
    return info | overrides


def preferences(**accounting: Any) -> dict[str, Any]:
    return {
        "AccountingInfoPrefs": {
            "TrackDepartments": True,
            "DepartmentTerminology": "Location",
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": True,
            **accounting,
        },
        "SalesFormsPrefs": {"CustomTxnNumbers": False},
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
    }


def test_profile_of_the_us_sample_company() -> None:
    got = profile.company_profile(company_info(), preferences())
    assert got == CompanyProfile(
        name="Larry's Landscaping",
        country="US",
        home_currency="USD",
        edition="QuickBooks Online Plus",
        multicurrency=False,
        class_tracking="per_line",
        department_tracking=True,
        department_label="Location",
        custom_txn_numbers=False,
        tax_mode="us_sales_tax",
        book_close_date=None,
    )


def test_a_uk_company_reports_vat_and_its_alpha3_address_country() -> None:
    info = company_info(Country=None, CompanyAddr={"Country": "GBR"})
    currency = {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "GBP"}}
    prefs = preferences() | {"CurrencyPrefs": currency}
    got = profile.company_profile(info, prefs)
    assert (got.country, got.tax_mode, got.home_currency, got.multicurrency) == ("GB", "vat_gst", "GBP", True)


@pytest.mark.parametrize(
    ("per_txn", "per_line", "expected"),
    [(False, False, "off"), (True, False, "per_transaction"), (False, True, "per_line")],
)
def test_class_tracking_modes(per_txn: bool, per_line: bool, expected: str) -> None:
    prefs = preferences(ClassTrackingPerTxn=per_txn, ClassTrackingPerTxnLine=per_line)
    assert profile.company_profile(company_info(), prefs).class_tracking == expected


def test_location_label_only_when_locations_are_tracked() -> None:
    renamed = profile.company_profile(company_info(), preferences(DepartmentTerminology="Division"))
    assert renamed.department_label == "Division"
    off = profile.company_profile(company_info(), preferences(TrackDepartments=False))
    assert (off.department_tracking, off.department_label) == (False, None)


def test_book_close_date_and_custom_numbers() -> None:
    prefs = preferences(BookCloseDate="2025-12-31")
    prefs["SalesFormsPrefs"]["CustomTxnNumbers"] = True
    got = profile.company_profile(company_info(), prefs)
    assert got.book_close_date == dt.date(2025, 12, 31)
    assert got.custom_txn_numbers is True


def test_missing_sku_is_reported_as_unknown() -> None:
    assert profile.company_profile(company_info(NameValue=[]), preferences()).edition == "unknown"


def us_profile(**overrides: Any) -> CompanyProfile:
    return profile.company_profile(company_info(), preferences()).model_copy(update=overrides)


def test_a_matching_company_may_activate() -> None:
    for expected in ("USD", "usd", None):
        problem = profile.activation_problem(
            us_profile(), expected_currency=expected, supported_countries=SUPPORTED
        )
        assert problem is None


def test_a_currency_mismatch_blocks_with_both_currencies_named() -> None:
    problem = profile.activation_problem(us_profile(), expected_currency="EUR", supported_countries=SUPPORTED)
    assert problem is not None
    assert "EUR" in problem
    assert "USD" in problem


def test_an_unsupported_country_blocks_with_the_country_named() -> None:
    problem = profile.activation_problem(
        us_profile(country="IN", tax_mode="vat_gst"), expected_currency=None, supported_countries=SUPPORTED
    )
    assert problem is not None
    assert "IN" in problem


def test_profile_changes_name_the_fields() -> None:
    old = us_profile().model_dump(mode="json")
    assert profile.profile_changes(old, us_profile()) == []
    assert profile.profile_changes(old, us_profile(class_tracking="off", multicurrency=True)) == [
        "class_tracking",
        "multicurrency",
    ]
    assert "name" in profile.profile_changes(None, us_profile())


def test_the_profile_lists_the_active_currencies_of_the_currency_list() -> None:
    rows: list[dict[str, Any]] = [
        {"Code": "USD", "Active": True},
        {"Code": "EUR", "Active": True},
        {"Code": "CHF", "Active": False},
        {"Name": "no code"},
    ]
    assert profile.company_profile(company_info(), preferences(), rows).currencies == ["EUR", "USD"]


def test_a_profile_without_a_currency_list_read_has_no_currencies() -> None:
    assert profile.company_profile(company_info(), preferences()).currencies is None
