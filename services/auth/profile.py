"""Rules about the QBO company behind a connection: its profile and whether it may be activated.

Pure functions over CompanyInfo and Preferences JSON (reference §8.1, §8.2, §10); no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from shared.contracts.internal import CompanyProfile

# CompanyInfo gives the country as ISO alpha-3 in addresses since late 2025, alpha-2 before.
_ALPHA3 = {"USA": "US", "GBR": "GB", "CAN": "CA", "AUS": "AU", "IND": "IN", "FRA": "FR", "NZL": "NZ"}
_COUNTRY_NAMES = {"US": "the United States", "GB": "the United Kingdom", "CA": "Canada", "AU": "Australia"}
UNKNOWN = "unknown"


def company_profile(
    company_info: dict[str, Any],
    preferences: dict[str, Any],
    currencies: list[dict[str, Any]] | None = None,
) -> CompanyProfile:
    """The profile the other services need, read from CompanyInfo, Preferences and the currency list."""
    accounting = preferences.get("AccountingInfoPrefs") or {}
    currency = preferences.get("CurrencyPrefs") or {}
    tracks_departments = bool(accounting.get("TrackDepartments"))
    country = country_of(company_info)
    return CompanyProfile(
        name=str(company_info.get("CompanyName") or company_info.get("LegalName") or ""),
        country=country,
        home_currency=str((currency.get("HomeCurrency") or {}).get("value") or UNKNOWN),
        edition=name_value(company_info, "OfferingSku") or UNKNOWN,
        multicurrency=bool(currency.get("MultiCurrencyEnabled")),
        currencies=active_currencies(currencies),
        class_tracking=_class_tracking(accounting),
        department_tracking=tracks_departments,
        department_label=(accounting.get("DepartmentTerminology") or "Location")
        if tracks_departments
        else None,
        custom_txn_numbers=bool((preferences.get("SalesFormsPrefs") or {}).get("CustomTxnNumbers")),
        tax_mode="us_sales_tax" if country == "US" else "vat_gst",
        book_close_date=_date(accounting.get("BookCloseDate")),
    )


def active_currencies(rows: list[dict[str, Any]] | None) -> list[str] | None:
    """The codes of the active CompanyCurrency rows, sorted; None when the list was not read."""
    if rows is None:
        return None
    return sorted({str(r["Code"]) for r in rows if r.get("Code") and r.get("Active", True) is not False})


def country_of(company_info: dict[str, Any]) -> str:
    """The company's ISO alpha-2 country from the top-level field or, failing that, its address."""
    for raw in (company_info.get("Country"), (company_info.get("CompanyAddr") or {}).get("Country")):
        if isinstance(raw, str) and raw.strip():
            code = raw.strip().upper()
            return _ALPHA3.get(code, code)
    return UNKNOWN


def name_value(company_info: dict[str, Any], name: str) -> str | None:
    """One entry of CompanyInfo's ``NameValue`` list (e.g. ``OfferingSku``)."""
    for entry in company_info.get("NameValue") or []:
        if isinstance(entry, dict) and entry.get("Name") == name:
            value = entry.get("Value")
            return str(value) if value is not None else None
    return None


def _class_tracking(accounting: dict[str, Any]) -> str:
    if accounting.get("ClassTrackingPerTxnLine"):
        return "per_line"
    if accounting.get("ClassTrackingPerTxn"):
        return "per_transaction"
    return "off"


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def activation_problem(
    profile: CompanyProfile, *, expected_currency: str | None, supported_countries: Iterable[str]
) -> str | None:
    """Why the connection must stay blocked, in words a person can act on; None when it may activate."""
    supported = sorted(supported_countries)
    if profile.country not in supported:
        names = ", ".join(supported)
        return (
            f"The QuickBooks company is in a country qbo-bridge does not support ({profile.country}); "
            f"supported countries are {names}. Connect a company from one of them."
        )
    if expected_currency and expected_currency.upper() != profile.home_currency.upper():
        where = _COUNTRY_NAMES.get(profile.country, profile.country)
        return (
            f"The platform invoices in {expected_currency.upper()} but the QuickBooks company "
            f"(in {where}) keeps its books in {profile.home_currency}. Connect a company whose home "
            f"currency is {expected_currency.upper()}, or change the expected currency, then reconnect."
        )
    return None


def profile_changes(old: dict[str, Any] | None, new: CompanyProfile) -> list[str]:
    """The profile fields that differ between the stored profile (JSON) and a fresh one."""
    fresh = new.model_dump(mode="json")
    if old is None:
        return sorted(fresh)
    return sorted(key for key, value in fresh.items() if old.get(key) != value)
