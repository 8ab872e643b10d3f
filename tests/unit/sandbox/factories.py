"""Plain factories for sandbox rule tests: a seeded in-memory company and common bodies."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sandbox import ops
from sandbox.seed import HOME_CURRENCY, seed_company
from sandbox.state import Company


def make_company(**overrides: Any) -> Company:
    country = overrides.pop("country", "US")
    sample = overrides.pop("sample", True)
    values: dict[str, Any] = {
        "realm_id": f"9341{uuid.uuid4().int % 10**12:012d}",
        "name": "Test Co",
        "country": country,
        "home_currency": HOME_CURRENCY[country],
        "edition": "plus",
        "multicurrency": False,
        "class_tracking": "off",
        "track_departments": False,
        "custom_txn_numbers": False,
        "book_close_date": None,
        **overrides,
    }
    if isinstance(values["book_close_date"], str):
        values["book_close_date"] = date.fromisoformat(values["book_close_date"])
    company = Company(**values)
    seed_company(company, sample=sample)
    return company


def create(company: Company, entity: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return ops.create(company, entity, body, changes=[], **kwargs)


def first(company: Company, entity: str, **match: Any) -> dict[str, Any]:
    for obj in company.table(entity).values():
        if all(obj.get(k) == v for k, v in match.items()):
            return obj
    raise LookupError(f"no {entity} matching {match}")


def customer(company: Company, name: str | None = None) -> dict[str, Any]:
    return create(company, "Customer", {"DisplayName": name or f"Cust {uuid.uuid4().hex[:8]}"})


def sales_line(
    amount: Any, *, item: str = "1", tax: str | None = None, qty: Any = None, price: Any = None
) -> dict[str, Any]:
    detail: dict[str, Any] = {"ItemRef": {"value": item}}
    if tax is not None:
        detail["TaxCodeRef"] = {"value": tax}
    if qty is not None:
        detail["Qty"] = qty
    if price is not None:
        detail["UnitPrice"] = price
    return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}


def invoice(
    company: Company,
    *,
    customer_id: str | None = None,
    lines: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    cid = customer_id or customer(company)["Id"]
    return create(
        company, "Invoice", {"CustomerRef": {"value": cid}, "Line": lines or [sales_line(100)], **extra}
    )
