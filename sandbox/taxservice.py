"""POST /taxservice/taxcode: a new tax code over new or existing tax rates."""

from __future__ import annotations

from typing import Any

from sandbox import faults, money, store
from sandbox.state import Company


def tax_service(company: Company, payload: dict[str, Any]) -> dict[str, Any]:
    """POST /taxservice/taxcode: a new tax code over new or existing rates (answered unwrapped)."""
    name = payload.get("TaxCode")
    if not name:
        raise faults.required("TaxCode")
    if store.name_key(str(name)) in company.name_index("TaxCode"):
        raise faults.duplicate_item_name("tax code")
    details = payload.get("TaxRateDetails")
    if not isinstance(details, list) or not details:
        raise faults.required("TaxRateDetails")
    rates = [_tax_rate(company, detail) for detail in details]
    if len({rate["TaxRateId"] for rate in rates}) != len(rates):
        raise faults.business("A tax rate can only be used once in a tax code.", "TaxRateDetails")
    lists: dict[str, list[dict[str, Any]]] = {"Sales": [], "Purchase": []}
    for order, rate in enumerate(rates):
        lists[rate["TaxApplicableOn"]].append(
            {
                "TaxRateRef": {"value": rate["TaxRateId"]},
                "TaxTypeApplicable": "TaxOnAmount",
                "TaxOrder": order,
            }
        )
    code = store.insert(
        company,
        "TaxCode",
        {
            "Name": name,
            "Description": name,
            "Active": True,
            "Hidden": False,
            "Taxable": True,
            "TaxGroup": True,
            "TaxCodeConfigType": "USER_DEFINED",
            "SalesTaxRateList": {"TaxRateDetail": lists["Sales"]},
            "PurchaseTaxRateList": {"TaxRateDetail": lists["Purchase"]},
        },
    )
    return {"TaxCode": name, "TaxCodeId": code["Id"], "TaxRateDetails": rates}


def _tax_rate(company: Company, detail: dict[str, Any]) -> dict[str, Any]:
    applies = detail.get("TaxApplicableOn") or "Sales"
    if applies not in ("Sales", "Purchase"):
        raise faults.invalid_enum("TaxApplicableOn", applies)
    if detail.get("TaxRateId"):
        rate = company.table("TaxRate").get(str(detail["TaxRateId"]))
        if rate is None:
            raise faults.invalid_ref("TaxRateDetails.TaxRateId")
        return {
            "TaxRateName": rate["Name"],
            "TaxRateId": rate["Id"],
            "RateValue": rate["RateValue"],
            "TaxApplicableOn": applies,
        }
    for field in ("TaxRateName", "RateValue", "TaxAgencyId"):
        if detail.get(field) in (None, ""):
            raise faults.required(f"TaxRateDetails.{field}")
    value = money.parse(detail["RateValue"], "RateValue") or money.ZERO
    if not 0 <= value <= 100:
        raise faults.business("The tax rate must be between 0 and 100.", "RateValue")
    agency = company.table("TaxAgency").get(str(detail["TaxAgencyId"]))
    if agency is None:
        raise faults.invalid_ref("TaxRateDetails.TaxAgencyId")
    rate = store.insert(
        company,
        "TaxRate",
        {"Name": detail["TaxRateName"], "RateValue": value, "Active": True, "AgencyRef": store.ref(agency)},
    )
    return {
        "TaxRateName": rate["Name"],
        "TaxRateId": rate["Id"],
        "RateValue": value,
        "TaxAgencyId": agency["Id"],
        "TaxApplicableOn": applies,
    }
