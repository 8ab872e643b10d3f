"""Plain factories for mapper unit tests: companies, reference mirrors and platform events."""

from __future__ import annotations

import uuid
from typing import Any

from services.mapper.mapping import MapContext, Target
from services.mapper.reference import RefEntity, Reference
from services.mapper.sync_settings import SyncSettings
from shared.contracts.internal import CompanyProfile

ACCOUNTS = (
    ("30", "Undeposited Funds", "Other Current Asset"),
    ("31", "Checking", "Bank"),
    ("32", "Accounts Receivable (A/R)", "Accounts Receivable"),
    ("33", "Accounts Payable (A/P)", "Accounts Payable"),
    ("34", "Services", "Income"),
    ("35", "Office Expenses", "Expense"),
    ("36", "Cost of Goods Sold", "Cost of Goods Sold"),
    ("37", "Inventory Asset", "Other Current Asset"),
)
TERMS = (("40", "Due on receipt", 0), ("41", "Net 15", 15), ("42", "Net 30", 30), ("43", "Net 60", 60))
METHODS = (("50", "Cash"), ("51", "Check"), ("52", "Visa"))
GB_RATES = (("20.0% S", "20"), ("5.0% R", "5"), ("0.0% Z", "0"), ("Exempt", "0"), ("No VAT", "0"))
CA_RATES = (("GST", "5"), ("HST ON", "13"), ("Zero-rated", "0"), ("Exempt", "0"), ("PST BC", "7"))
AU_RATES = (("GST", "10"), ("GST free", "0"), ("Input taxed", "0"), ("Out of scope", "0"))
RATES = {"GB": GB_RATES, "CA": CA_RATES, "AU": AU_RATES}
# A combined code applying several rates at once (CA's "GST/PST BC" = GST 5 % + PST BC 7 %).
GROUPS = {"CA": (("GST/PST BC", ("GST", "PST BC")),)}
# The tax rate name each country's golden documents carry on their lines.
LINE_RATE = {"US": "California", "GB": "20.0% S", "CA": "GST/PST BC", "AU": "GST"}


def company(country: str = "US", **overrides: Any) -> CompanyProfile:
    base: dict[str, Any] = {
        "name": f"{country} Co",
        "country": country,
        "home_currency": {"US": "USD", "GB": "GBP", "CA": "CAD", "AU": "AUD"}.get(country, "USD"),
        "edition": "QuickBooks Online Plus",
        "custom_txn_numbers": True,
        "tax_mode": "us_sales_tax" if country == "US" else "vat_gst",
    }
    return CompanyProfile.model_validate(base | overrides)


def _e(entity: str, data: dict[str, Any]) -> RefEntity:
    return RefEntity.from_qbo(entity, {"Active": True} | data)


def _tax(country: str) -> list[RefEntity]:
    if country == "US":
        return [
            _e("TaxCode", {"Id": "TAX", "Name": "TAX", "TaxGroup": False}),
            _e("TaxCode", {"Id": "NON", "Name": "NON", "TaxGroup": False}),
            _e("TaxRate", {"Id": "3", "Name": "California", "RateValue": 8}),
            _e(
                "TaxCode",
                {
                    "Id": "2",
                    "Name": "California",
                    "TaxGroup": True,
                    "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "3"}}]},
                },
            ),
        ]
    out, rate_ids = [], {}
    for n, (name, pct) in enumerate(RATES[country], start=1):
        rate_ids[name] = str(100 + n)
        out.append(_e("TaxRate", {"Id": rate_ids[name], "Name": name, "RateValue": pct}))
        out.append(_code(str(n), name, [rate_ids[name]]))
    for n, (name, parts) in enumerate(GROUPS.get(country, ()), start=len(out) // 2 + 1):
        out.append(_code(str(n), name, [rate_ids[part] for part in parts]))
    return out


def _code(qbo_id: str, name: str, rate_ids: list[str]) -> RefEntity:
    rate_list = {"TaxRateDetail": [{"TaxRateRef": {"value": rid}} for rid in rate_ids]}
    return _e(
        "TaxCode",
        {
            "Id": qbo_id,
            "Name": name,
            "TaxGroup": True,
            "SalesTaxRateList": rate_list,
            "PurchaseTaxRateList": rate_list,
        },
    )


def reference(country: str = "US", *extra: RefEntity) -> Reference:
    rows = [_e("Account", {"Id": i, "Name": n, "AccountType": t}) for i, n, t in ACCOUNTS]
    rows += [_e("Term", {"Id": i, "Name": n, "DueDays": d}) for i, n, d in TERMS]
    rows += [_e("PaymentMethod", {"Id": i, "Name": n}) for i, n in METHODS]
    rows += [
        _e("Item", {"Id": "1", "Name": "Services", "Type": "Service"}),
        _e("Item", {"Id": "7", "Name": "Design", "Type": "Service"}),
    ]
    rows += [_e("Class", {"Id": "60", "Name": "Retail"}), _e("Department", {"Id": "70", "Name": "London"})]
    rows += [_e("Customer", {"Id": "58", "DisplayName": "Paper Co"})]
    rows += _tax(country)
    return Reference.of([*rows, *extra])


def entity(kind: str, data: dict[str, Any]) -> RefEntity:
    return _e(kind, data)


def settings(**overrides: Any) -> SyncSettings:
    base: dict[str, Any] = {
        "accounts": {
            "income": "Services",
            "expense": "Office Expenses",
            "deposit": "Undeposited Funds",
            "refund_from": "Checking",
            "accounts_payable": "Accounts Payable (A/P)",
            "inventory_asset": "Inventory Asset",
            "cost_of_goods_sold": "Cost of Goods Sold",
        },
    }
    return SyncSettings.model_validate(base | overrides)


def context(
    country: str = "US",
    *,
    company_overrides: dict[str, Any] | None = None,
    ref: Reference | None = None,
    **setting_overrides: Any,
) -> MapContext:
    return MapContext(
        target=Target("conn-1", "9130", company(country, **(company_overrides or {}))),
        settings=settings(**setting_overrides),
        reference=ref or reference(country),
        source_event_id="evt-1",
    )


def customer(**overrides: Any) -> dict[str, Any]:
    return {
        "customer_id": "cus_1",
        "code": "ACME",
        "name": "Acme Ltd",
        "company_name": "Acme Ltd",
        "email": "ap@acme.example",
        "billing_address": {"line1": "1 High St", "city": "Leeds", "postal_code": "LS1 1AA", "country": "GB"},
    } | overrides


def sales_line(**overrides: Any) -> dict[str, Any]:
    return {
        "description": "Design work",
        "item_code": "Design",
        "quantity": "3",
        "unit_price": "75.00",
        "amount": "225.00",
    } | overrides


def invoice(country: str = "US", **overrides: Any) -> dict[str, Any]:
    rate = LINE_RATE[country]
    return {
        "invoice_id": f"inv_{uuid.uuid4().hex[:6]}" if overrides.pop("random_id", False) else "inv_1",
        "number": "INV-1001",
        "issue_date": "2026-11-02",
        "due_date": "2026-12-02",
        "customer": customer(),
        "lines": [
            sales_line(tax_rate=rate),
            sales_line(
                description="Hosting",
                item_code="HOST",
                quantity="1",
                unit_price="20.00",
                amount="20.00",
                tax_rate=rate,
            ),
            {"description": "Thank you for your business", "amount": "0"},
        ],
        "memo": "Order 77",
    } | overrides


def purchase(kind: str = "bill", country: str = "US", **overrides: Any) -> dict[str, Any]:
    rate = None if country == "US" else LINE_RATE[country]
    return {
        f"{kind}_id": f"{kind}_1",
        "number": "B-77",
        "issue_date": "2026-11-03",
        "due_date": "2026-12-03",
        "vendor": {"vendor_id": "ven_1", "name": "Paper Co", "email": "sales@paper.example"},
        "lines": [
            {
                "description": "Printer paper",
                "item_code": "Design",
                "quantity": "2",
                "unit_price": "12.50",
                "amount": "25.00",
                "tax_rate": rate,
            },
            {"description": "Couriers", "account": "Office Expenses", "amount": "9.99", "tax_rate": rate},
            {"description": "Sundries", "item_code": "UNSYNCED", "amount": "5.00", "tax_rate": rate},
        ],
    } | overrides
