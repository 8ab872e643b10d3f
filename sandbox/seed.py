"""Company setup: chart of accounts, tax, terms, payment methods, preferences, sample data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox import store
from sandbox.seed_prefs import seed_preferences
from sandbox.seed_sample import add_sample, item
from sandbox.state import Company

OFFERING_SKU = {
    "simple_start": "QuickBooks Online Simple Start",
    "essentials": "QuickBooks Online Essentials",
    "plus": "QuickBooks Online Plus",
    "advanced": "QuickBooks Online Advanced",
}
ALPHA3 = {"US": "USA", "GB": "GBR", "CA": "CAN", "AU": "AUS"}
HOME_CURRENCY = {"US": "USD", "GB": "GBP", "CA": "CAD", "AU": "AUD"}
TAX_PAYABLE = {
    "US": ("Sales Tax Payable", "SalesTaxPayable"),
    "GB": ("VAT Control", "GlobalTaxPayable"),
    "CA": ("GST/HST Payable", "GlobalTaxPayable"),
    "AU": ("GST Liabilities Payable", "GlobalTaxPayable"),
}
ACCOUNTS = (
    ("Checking", "Bank", "Checking"),
    ("Savings", "Bank", "Savings"),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    ("Inventory Asset", "Other Current Asset", "Inventory"),
    ("Uncategorized Asset", "Other Current Asset", "OtherCurrentAssets"),
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
    ("Mastercard", "Credit Card", "CreditCard"),
    ("Opening Balance Equity", "Equity", "OpeningBalanceEquity"),
    ("Retained Earnings", "Equity", "RetainedEarnings"),
    ("Sales of Product Income", "Income", "SalesOfProductIncome"),
    ("Services", "Income", "ServiceFeeIncome"),
    ("Discounts given", "Income", "DiscountsRefundsGiven"),
    ("Uncategorized Income", "Income", "OtherPrimaryIncome"),
    ("Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("Advertising", "Expense", "AdvertisingPromotional"),
    ("Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses"),
    ("Supplies", "Expense", "SuppliesMaterials"),
    ("Uncategorized Expense", "Expense", "OtherMiscellaneousServiceCost"),
)
CLASSIFICATION = {
    "Bank": "Asset",
    "Other Current Asset": "Asset",
    "Accounts Receivable": "Asset",
    "Accounts Payable": "Liability",
    "Credit Card": "Liability",
    "Other Current Liability": "Liability",
    "Equity": "Equity",
    "Income": "Revenue",
    "Cost of Goods Sold": "Expense",
    "Expense": "Expense",
}
# (code name, rate percent, agency display name); the same rate serves sales and purchases.
TAX_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "GB": (("20.0% S", "20"), ("5.0% R", "5"), ("0.0% Z", "0"), ("Exempt", "0"), ("No VAT", "0")),
    "CA": (
        ("GST", "5"),
        ("HST ON", "13"),
        ("HST NS", "14"),
        ("Zero-rated", "0"),
        ("Exempt", "0"),
        ("Out of Scope", "0"),
        ("PST BC", "7"),
    ),
    "AU": (("GST", "10"), ("GST free", "0"), ("Input taxed", "0"), ("Out of scope", "0")),
}
# Combined codes (a "group rate"): one code applying several of the rates above, as QBO's CA
# "GST/PST BC" applies GST 5 % and British Columbia's PST 7 % to the same line.
TAX_GROUPS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "CA": (("GST/PST BC", ("GST", "PST BC")),),
}
TAX_AGENCY = {
    "US": "California Department of Tax and Fee Administration",
    "GB": "HM Revenue & Customs",
    "CA": "Canada Revenue Agency",
    "AU": "Australian Taxation Office",
}
TERMS = (("Due on receipt", 0), ("Net 15", 15), ("Net 30", 30), ("Net 60", 60))
PAYMENT_METHODS = (
    ("Cash", "NON_CREDIT_CARD"),
    ("Check", "NON_CREDIT_CARD"),
    ("Visa", "CREDIT_CARD"),
    ("MasterCard", "CREDIT_CARD"),
    ("American Express", "CREDIT_CARD"),
    ("Direct Debit", "NON_CREDIT_CARD"),
)


def seed_company(company: Company, *, sample: bool) -> None:
    accounts = _accounts(company)
    _company_info(company)
    seed_preferences(company)
    _tax(company)
    terms = {
        name: store.insert(
            company, "Term", {"Name": name, "Type": "STANDARD", "DueDays": days, "Active": True}
        )
        for name, days in TERMS
    }
    company.prefs()["SalesFormsPrefs"]["DefaultTerms"] = store.ref(terms["Net 30"], "Name")
    for name, kind in PAYMENT_METHODS:
        label = "Cheque" if name == "Check" and company.country != "US" else name
        store.insert(company, "PaymentMethod", {"Name": label, "Type": kind, "Active": True})
    item(company, "Services", "Service", "0", accounts["Services"], accounts)
    item(company, "Hours", "Service", "0", accounts["Services"], accounts)
    if sample:
        add_sample(company, accounts)


def _accounts(company: Company) -> dict[str, dict[str, Any]]:
    out = {}
    tax_name, tax_subtype = TAX_PAYABLE.get(company.country, TAX_PAYABLE["US"])
    for name, kind, subtype in (*ACCOUNTS, (tax_name, "Other Current Liability", tax_subtype)):
        out[name] = store.insert(
            company,
            "Account",
            {
                "Name": name,
                "AccountType": kind,
                "AccountSubType": subtype,
                "Classification": CLASSIFICATION[kind],
                "SubAccount": False,
                "Active": True,
                "CurrentBalance": 0,
                "CurrentBalanceWithSubAccounts": 0,
                "CurrencyRef": {"value": company.home_currency},
            },
        )
    return out


def _company_info(company: Company) -> None:
    address = {
        "Line1": "123 Sierra Way",
        "City": "San Pablo",
        "CountrySubDivisionCode": "CA",
        "PostalCode": "87999",
        "Country": ALPHA3.get(company.country, company.country),
    }
    name_values = [
        {"Name": "NeoEnabled", "Value": "true"},
        {"Name": "IndustryType", "Value": "Landscaping Services"},
        {"Name": "SubscriptionStatus", "Value": "PAID"},
        {"Name": "OfferingSku", "Value": OFFERING_SKU[company.edition]},
        {"Name": "PayrollFeature", "Value": "false"},
        {"Name": "AccountantFeature", "Value": "false"},
        {"Name": "IsQbdtMigrated", "Value": "false"},
    ]
    store.insert(
        company,
        "CompanyInfo",
        {
            "CompanyName": company.name,
            "LegalName": company.name,
            "CompanyAddr": address,
            "CustomerCommunicationAddr": dict(address),
            "LegalAddr": dict(address),
            "Country": company.country,
            "Email": {"Address": "noreply@quickbooks.com"},
            "WebAddr": {},
            "PrimaryPhone": {},
            "FiscalYearStartMonth": "January",
            "CompanyStartDate": "2024-01-01",
            "SupportedLanguages": "en",
            "NameValue": name_values,
        },
        obj_id=company.realm_id,
    )


def _tax(company: Company) -> None:
    agency = store.insert(
        company,
        "TaxAgency",
        {
            "DisplayName": TAX_AGENCY[company.country],
            "TaxTrackedOnSales": True,
            "TaxTrackedOnPurchases": company.country != "US",
        },
    )
    agency_ref = store.ref(agency)
    if company.is_us:
        for pseudo, taxable in (("TAX", True), ("NON", False)):
            store.insert(
                company,
                "TaxCode",
                {
                    "Name": pseudo,
                    "Description": pseudo,
                    "Active": True,
                    "Taxable": taxable,
                    "TaxGroup": False,
                    "Hidden": False,
                },
                obj_id=pseudo,
            )
        rate = store.insert(
            company,
            "TaxRate",
            {"Name": "California", "RateValue": Decimal("8"), "AgencyRef": agency_ref, "Active": True},
            obj_id="3",
        )
        _code(company, "California", rate, obj_id="2", purchase=False)
        company.prefs()["TaxPrefs"]["TaxGroupCodeRef"] = {"value": "2"}
        return
    rates = {}
    for name, percent in TAX_TABLES[company.country]:
        rates[name] = store.insert(
            company,
            "TaxRate",
            {"Name": name, "RateValue": Decimal(percent), "AgencyRef": agency_ref, "Active": True},
        )
        _code(company, name, rates[name], obj_id=None, purchase=True)
    for name, parts in TAX_GROUPS.get(company.country, ()):
        _code(company, name, *(rates[part] for part in parts), obj_id=None, purchase=True)


def _code(company: Company, name: str, *rates: dict[str, Any], obj_id: str | None, purchase: bool) -> None:
    details = {
        "TaxRateDetail": [
            {"TaxRateRef": store.ref(rate, "Name"), "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": order}
            for order, rate in enumerate(rates)
        ]
    }
    store.insert(
        company,
        "TaxCode",
        {
            "Name": name,
            "Description": name,
            "Active": True,
            "Hidden": False,
            "Taxable": True,
            "TaxGroup": True,
            "TaxCodeConfigType": "SYSTEM_GENERATED",
            "SalesTaxRateList": details,
            "PurchaseTaxRateList": details if purchase else {"TaxRateDetail": []},
        },
        obj_id=obj_id,
    )
