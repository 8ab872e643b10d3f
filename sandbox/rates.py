"""Exchange rates of a multicurrency company: read by currency and date, set by the client."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from sandbox import faults, money
from sandbox.clock import meta_time, today
from sandbox.state import Company

# [U] The market rate QBO would supply, as units of the home currency per unit of the source
# currency, for a USD home currency; other home currencies divide through USD.
USD_PER_UNIT: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "CAD": Decimal("0.72"),
    "GBP": Decimal("1.27"),
    "EUR": Decimal("1.08"),
    "AUD": Decimal("0.66"),
    "NZD": Decimal("0.60"),
    "JPY": Decimal("0.0067"),
    "CHF": Decimal("1.13"),
    "INR": Decimal("0.012"),
    "MXN": Decimal("0.058"),
    "SEK": Decimal("0.095"),
    "CNY": Decimal("0.14"),
}
RATE_PLACES = Decimal("0.0000001")
TABLE = "ExchangeRate"
# [U] wording for rules Intuit documents without quoting the message.
RATE_POSITIVE_TEXT = "The exchange rate must be greater than zero."
TARGET_HOME_TEXT = "Exchange rates are kept against the home currency {home}."
MULTICURRENCY_OFF_TEXT = "Multicurrency is not turned on for this company; it has no exchange rates."


def _multicurrency(company: Company) -> None:
    if not company.multicurrency:
        raise faults.business(MULTICURRENCY_OFF_TEXT)


def _key(source: str, as_of: str) -> str:
    return f"{source}:{as_of}"


def market_rate(company: Company, source: str) -> Decimal:
    home = USD_PER_UNIT.get(company.home_currency)
    unit = USD_PER_UNIT.get(source)
    if home is None or unit is None:
        raise faults.invalid_enum("SourceCurrencyCode", source)
    return (unit / home).quantize(RATE_PLACES)


def _row(company: Company, source: str, as_of: str, rate: Decimal, token: str) -> dict[str, Any]:
    return {
        "SourceCurrencyCode": source,
        "TargetCurrencyCode": company.home_currency,
        "Rate": rate,
        "AsOfDate": as_of,
        "SyncToken": token,
        "domain": "QBO",
        "sparse": False,
        "MetaData": {"LastUpdatedTime": meta_time(time.time(), company.tz)},
    }


def rate_on(company: Company, source: str, as_of: str | None = None) -> dict[str, Any]:
    """The rate in force on `as_of` (default today): the latest stored on or before it, else the market's."""
    day = (as_of or today(company.tz).isoformat())[:10]
    stored = [
        row
        for row in company.table(TABLE).values()
        if row["SourceCurrencyCode"] == source and row["AsOfDate"] <= day
    ]
    if stored:
        return max(stored, key=lambda row: str(row["AsOfDate"]))
    return _row(company, source, day, market_rate(company, source), "0")


def record_market_rate(company: Company, source: str) -> None:
    """Today's market rate, stored when a currency is added so a query lists it."""
    row = rate_on(company, source)
    company.table(TABLE).setdefault(_key(source, str(row["AsOfDate"])), row)
    company.updated_at[(TABLE, _key(source, str(row["AsOfDate"])))] = time.time()


def read(company: Company, params: dict[str, str]) -> dict[str, Any]:
    """GET /exchangerate?sourcecurrencycode=EUR[&asofdate=YYYY-MM-DD]."""
    _multicurrency(company)
    lowered = {k.lower(): v for k, v in params.items()}
    source = lowered.get("sourcecurrencycode", "").upper()
    if not source:
        raise faults.required("sourcecurrencycode")
    return rate_on(company, source, lowered.get("asofdate") or None)


def update(company: Company, payload: dict[str, Any]) -> dict[str, Any]:
    """POST /exchangerate: set the rate of one currency on one date (SyncToken checked when sent)."""
    _multicurrency(company)
    source = str(payload.get("SourceCurrencyCode") or "").upper()
    if not source:
        raise faults.required("SourceCurrencyCode")
    market_rate(company, source)  # an unknown code is an invalid enumeration
    target = str(payload.get("TargetCurrencyCode") or company.home_currency).upper()
    if target != company.home_currency:
        raise faults.business(TARGET_HOME_TEXT.format(home=company.home_currency), "TargetCurrencyCode")
    rate = money.parse(payload.get("Rate"), "Rate")
    if rate is None:
        raise faults.required("Rate")
    if rate <= 0:
        raise faults.business(RATE_POSITIVE_TEXT, "Rate")
    as_of = str(payload.get("AsOfDate") or today(company.tz).isoformat())[:10]
    key = _key(source, as_of)
    old = company.table(TABLE).get(key)
    token = payload.get("SyncToken")
    if old is not None and token not in (None, "") and str(token) != old["SyncToken"]:
        raise faults.stale()
    new_token = "0" if old is None else str(int(old["SyncToken"]) + 1)
    row = _row(company, source, as_of, rate, new_token)
    company.table(TABLE)[key] = row
    company.updated_at[(TABLE, key)] = time.time()
    return row


def ensure_listed(company: Company) -> None:
    """Every active currency has at least today's market rate, as a QBO query lists them."""
    if not company.multicurrency:
        return
    for currency in company.table("CompanyCurrency").values():
        if currency.get("Active", True):
            record_market_rate(company, str(currency["Code"]))
