"""The QBO reference mirror as the rules see it: lookups by name or id, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# URL kind → QBO entity, for ``GET /v1/connections/{id}/reference/{kind}``.
KINDS: dict[str, str] = {
    "accounts": "Account",
    "tax-codes": "TaxCode",
    "tax-rates": "TaxRate",
    "terms": "Term",
    "payment-methods": "PaymentMethod",
    "classes": "Class",
    "departments": "Department",
    "items": "Item",
    "customers": "Customer",
    "vendors": "Vendor",
}
MIRRORED = frozenset(KINDS.values())
# Small lists a mapping may need any of; customers, items and vendors are looked up by name instead.
SMALL = ("Account", "TaxCode", "TaxRate", "Term", "PaymentMethod", "Class", "Department")


def name_of(entity: str, data: dict[str, Any]) -> str:
    """The name QBO users see: DisplayName for people, FullyQualifiedName for nested lists, else Name."""
    if entity in ("Customer", "Vendor"):
        return str(data.get("DisplayName") or data.get("FullyQualifiedName") or "")
    return str(data.get("FullyQualifiedName") or data.get("Name") or "")


def _key(name: str) -> str:
    return name.strip().casefold()


@dataclass(frozen=True, slots=True)
class RefEntity:
    """One mirrored QBO object."""

    entity: str
    qbo_id: str
    name: str
    active: bool
    data: dict[str, Any]

    @classmethod
    def from_qbo(cls, entity: str, data: dict[str, Any]) -> RefEntity:
        return cls(
            entity,
            str(data.get("Id", "")),
            name_of(entity, data),
            data.get("Active", True) is not False,
            data,
        )

    def ref(self) -> dict[str, str]:
        """A QBO reference ``{"value": id}``."""
        return {"value": self.qbo_id}


@dataclass
class Reference:
    """What the mirror knows of one company; lookups match names case-insensitively, active only."""

    entities: dict[str, list[RefEntity]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[RefEntity]) -> Reference:
        ref = cls()
        for row in rows:
            ref.entities.setdefault(row.entity, []).append(row)
        return ref

    def all(self, entity: str, *, active_only: bool = True) -> list[RefEntity]:
        return [e for e in self.entities.get(entity, []) if e.active or not active_only]

    def find(self, entity: str, name: str | None) -> RefEntity | None:
        """The active ``entity`` called ``name`` (also its leaf name for nested lists), or None."""
        if not name:
            return None
        wanted = _key(name)
        rows = self.all(entity)
        exact = next((e for e in rows if _key(e.name) == wanted), None)
        if exact is not None:
            return exact
        return next((e for e in rows if _key(str(e.data.get("Name", ""))) == wanted), None)

    def get(self, entity: str, qbo_id: str) -> RefEntity | None:
        return next((e for e in self.entities.get(entity, []) if e.qbo_id == qbo_id), None)

    def is_empty(self) -> bool:
        return not any(self.entities.values())

    def tax_rate_percent(self, code: RefEntity, *, purchase: bool = False) -> list[tuple[str, Any]]:
        """``(rate id, percent)`` of every rate a tax code applies, from the mirrored TaxRates."""
        rate_list = code.data.get("PurchaseTaxRateList" if purchase else "SalesTaxRateList") or {}
        out = []
        for detail in rate_list.get("TaxRateDetail") or ():
            rate_id = str((detail.get("TaxRateRef") or {}).get("value", ""))
            rate = self.get("TaxRate", rate_id)
            if rate is not None:
                out.append((rate_id, rate.data.get("RateValue", 0)))
        return out
