"""Time, attachments and currencies: TimeActivity, Attachable, CompanyCurrency."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox import faults, money
from sandbox.clock import today
from sandbox.rules import common
from sandbox.specs import SPECS, Spec
from sandbox.state import Company

# ISO 4217 codes a QBO company can add, with the names QBO shows (the common ones).
CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "CAD": "Canadian Dollar",
    "GBP": "British Pound Sterling",
    "EUR": "Euro",
    "AUD": "Australian Dollar",
    "NZD": "New Zealand Dollar",
    "JPY": "Japanese Yen",
    "CHF": "Swiss Franc",
    "INR": "Indian Rupee",
    "MXN": "Mexican Peso",
    "SEK": "Swedish Krona",
    "CNY": "Chinese Yuan Renminbi",
}
# [U] wording for rules Intuit documents without quoting the message.
MULTICURRENCY_NEEDED_TEXT = "Multicurrency is not turned on for this company, so currencies cannot be added."
HOME_CURRENCY_TEXT = "The home currency {code} is always available and cannot be added."
CODE_FIXED_TEXT = "A currency's code cannot be changed."
TIME_ORDER_TEXT = "The end time must be after the start time."
DURATION_NEEDED = "Hours"  # [U] the element QBO names when neither Hours/Minutes nor Start/EndTime is given
BILLABLE_NEEDS_CUSTOMER_TEXT = "A billable time activity needs a customer."
NOTE_OR_FILE_TEXT = "An attachment needs a Note or a file."
# [U] An attachment may be linked to any emulated entity (QBO: transactions, items, people).
ATTACHABLE_TARGETS = frozenset(SPECS) - {"Attachable", "Preferences", "CompanyInfo", "ExchangeRate"}


def prepare_time(company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Hours an employee or vendor worked, optionally billable to a customer."""
    if not obj.get("TxnDate"):
        obj["TxnDate"] = (old or {}).get("TxnDate") or today(company.tz).isoformat()
    common.validate_common(company, spec, obj)
    common.check_period(company, obj["TxnDate"])
    worker = "EmployeeRef" if obj["NameOf"] == "Employee" else "VendorRef"
    if common.is_blank(obj.get(worker)) or obj.get(worker) is None:
        raise faults.required(worker)
    obj.pop("VendorRef" if worker == "EmployeeRef" else "EmployeeRef", None)
    timed = obj.get("StartTime") and obj.get("EndTime")
    if timed:
        start, end = _moment(obj["StartTime"], "StartTime"), _moment(obj["EndTime"], "EndTime")
        if end <= start:
            raise faults.business(TIME_ORDER_TEXT, "EndTime")
    elif obj.get("Hours") in (None, "") and obj.get("Minutes") in (None, ""):
        raise faults.required(DURATION_NEEDED)
    for name in ("Hours", "Minutes", "BreakHours", "BreakMinutes"):
        if obj.get(name) not in (None, ""):
            obj[name] = int(money.parse(obj[name], name) or 0)
    obj.setdefault("BillableStatus", "NotBillable")
    if obj["BillableStatus"] == "Billable" and common.is_blank(obj.get("CustomerRef") or {"value": ""}):
        raise faults.business(BILLABLE_NEEDS_CUSTOMER_TEXT, "CustomerRef")
    for name in ("HourlyRate", "CostRate"):
        if obj.get(name) not in (None, ""):
            obj[name] = money.parse(obj[name], name) or Decimal(0)
    obj.setdefault("Taxable", False)


def _moment(value: object, element: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise faults.invalid_property(element, f"Invalid date/time: {value}") from None


def prepare_attachable(company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """A note or a file's metadata, linked to the objects it documents."""
    for name in ("FileAccessUri", "TempDownloadUri", "Size", "ThumbnailFileAccessUri"):
        obj.pop(name, None)
    if old is not None:
        for name in ("FileAccessUri", "TempDownloadUri", "Size", "ContentType", "FileName"):
            if name in old and not obj.get(name):
                obj[name] = old[name]
    common.check_lengths(spec, obj)
    if not obj.get("Note") and not obj.get("FileName"):
        raise faults.business(NOTE_OR_FILE_TEXT, "Note")
    refs = obj.get("AttachableRef") or []
    if not isinstance(refs, list):
        raise faults.invalid_property("AttachableRef", "AttachableRef must be a list.")
    for ref in refs:
        entity = (ref or {}).get("EntityRef") or {}
        kind = str(entity.get("type") or "")
        if kind not in ATTACHABLE_TARGETS:
            raise faults.invalid_ref("AttachableRef.EntityRef.type")
        if company.table(kind).get(str(entity.get("value"))) is None:
            raise faults.invalid_ref("AttachableRef.EntityRef.value")
        ref.setdefault("IncludeOnSend", False)


def prepare_currency(company: Company, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """A foreign currency a multicurrency company trades in; the Name follows the code."""
    if not company.multicurrency:
        raise faults.business(MULTICURRENCY_NEEDED_TEXT, "Code")
    code = str(obj.get("Code") or "").upper()
    if not code:
        raise faults.required("Code")
    if code not in CURRENCY_NAMES:
        raise faults.invalid_enum("Code", code)
    if code == company.home_currency:
        raise faults.business(HOME_CURRENCY_TEXT.format(code=code), "Code")
    if old is not None and old.get("Code") != code:
        raise faults.business(CODE_FIXED_TEXT, "Code")
    obj["Code"], obj["Name"] = code, CURRENCY_NAMES[code]
