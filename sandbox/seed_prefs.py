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
        "TaxYearMonth": "January",
        "TaxForm": "6",
        "CustomerTerminology": "Customers",
    }
    if company.book_close_date is not None:
        prefs["BookCloseDate"] = company.book_close_date.isoformat()
    return prefs


EMAIL_MESSAGES = (
    ("InvoiceMessage", "Invoice"),
    ("EstimateMessage", "Estimate"),
    ("SalesReceiptMessage", "Sales Receipt"),
    ("StatementMessage", "Statement"),
)
EMAIL_BODY = "Dear customer,\n\nPlease find your {label} attached. Thank you for your business."


def _account_id(company: Company, name: str) -> str:
    return next((a["Id"] for a in company.table("Account").values() if a.get("Name") == name), "")


def _custom_fields(prefix: str) -> list[dict[str, Any]]:
    return [{"Name": f"{prefix}{slot}", "Type": "BooleanType", "BooleanValue": False} for slot in (1, 2, 3)]


def _sales_form_extras(company: Company) -> dict[str, Any]:
    return {
        "AllowServiceDate": False,
        "AllowEstimates": True,
        "DefaultDiscountAccount": _account_id(company, "Discounts given"),
        "DefaultCustomerMessage": "Thank you for your business and have a great day!",
        "EstimateMessage": "Please review the estimate below. Contact us if you have any questions.",
        "ETransactionEnabledStatus": "NotApplicable",
        "ETransactionPaymentEnabled": False,
        "IPNSupportEnabled": False,
        "CustomField": [{"CustomField": _custom_fields("SalesFormsPrefs.UseSalesCustom")}],
    }


def _purchase_time_and_report_prefs(company: Company) -> dict[str, Any]:
    return {
        "VendorAndPurchasesPrefs": {
            "BillableExpenseTracking": True,
            "TrackingByCustomer": True,
            "DefaultMarkup": 0,
            "POCustomField": [{"CustomField": _custom_fields("PurchasePrefs.UsePurchaseCustom")}],
        },
        "EmailMessagesPrefs": {
            kind: {"Subject": f"{label} from {company.name}", "Message": EMAIL_BODY.format(label=label)}
            for kind, label in EMAIL_MESSAGES
        },
        "TimeTrackingPrefs": {
            "UseServices": True,
            "BillCustomers": True,
            "ShowBillRateToAll": False,
            "WorkWeekStartDate": "Monday",
            "MarkTimeEntriesBillable": True,
        },
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
    }


def _other_prefs(company: Company) -> dict[str, Any]:
    return {
        "NameValue": [
            {
                "Name": "SalesFormsPrefs.DefaultCustomerMessage",
                "Value": "Thank you for your business and have a great day!",
            },
            {"Name": "SalesFormsPrefs.DefaultItem", "Value": "1"},
            {
                "Name": "ProjectsEnabled",
                "Value": str(company.edition in ("plus", "advanced")).lower(),
            },
            {"Name": "DateFormatMnemonic", "Value": "MMDDYYYY_SEP_SLASH"},
            {"Name": "NumberFormatMnemonic", "Value": "US_NB"},
            {
                "Name": "UncategorizedAssetAccountId",
                "Value": _account_id(company, "Uncategorized Asset"),
            },
            {
                "Name": "UncategorizedIncomeAccountId",
                "Value": _account_id(company, "Uncategorized Income"),
            },
            {
                "Name": "UncategorizedExpenseAccountId",
                "Value": _account_id(company, "Uncategorized Expense"),
            },
            {"Name": "Vendor1099Enabled", "Value": "true"},
            {"Name": "WarnDuplicateCheckNumber", "Value": "true"},
            {"Name": "WarnDuplicateBillNumber", "Value": "false"},
        ]
    }


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
                **_sales_form_extras(company),
            },
            **_purchase_time_and_report_prefs(company),
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
            "OtherPrefs": _other_prefs(company),
        },
        obj_id="1",
    )
