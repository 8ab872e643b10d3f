"""The Preferences a new company starts with: every section QBO returns (reference §8.2)."""

from __future__ import annotations

from typing import Any

from sandbox import store
from sandbox.state import Company


def _accounting_prefs(company: Company) -> dict[str, Any]:
    prefs: dict[str, Any] = {
        "TrackDepartments": company.track_departments,
        "DepartmentTerminology": "Location",
        "ClassTrackingPerTxn": company.class_tracking == "per_transaction",
        "ClassTrackingPerTxnLine": company.class_tracking == "per_line",
        "UseAccountNumbers": False,
        "FirstMonthOfFiscalYear": "January",
        "CustomerTerminology": "Customers",
    }
    if company.book_close_date is not None:
        prefs["BookCloseDate"] = company.book_close_date.isoformat()
    return prefs


def seed_preferences(company: Company) -> None:
    store.insert(
        company,
        "Preferences",
        {
            "AccountingInfoPrefs": _accounting_prefs(company),
            "SalesFormsPrefs": {
                "CustomTxnNumbers": company.custom_txn_numbers,
                "AllowDiscount": True,
                "AllowShipping": False,
                "AllowDeposit": False,
                "AutoApplyCredit": True,
                "AutoApplyPayments": True,
                "UsingPriceLevels": False,
            },
            "VendorAndPurchasesPrefs": {"BillableExpenseTracking": True, "TrackingByCustomer": True},
            "ProductAndServicesPrefs": {
                "ForSales": True,
                "ForPurchase": True,
                "QuantityOnHand": company.edition in ("plus", "advanced"),
            },
            "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": False},
            "CurrencyPrefs": {
                "MultiCurrencyEnabled": company.multicurrency,
                "HomeCurrency": {"value": company.home_currency},
            },
            "OtherPrefs": {
                "NameValue": [
                    {"Name": "SalesFormsPrefs.DefaultItem", "Value": "1"},
                    {
                        "Name": "ProjectsEnabled",
                        "Value": str(company.edition in ("plus", "advanced")).lower(),
                    },
                    {"Name": "DateFormatMnemonic", "Value": "MMDDYYYY_SEP_SLASH"},
                ]
            },
        },
        obj_id="1",
    )
