"""The totals QBO will compute for a mapped document, from the same rules it applies (reference §9)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.mapper.mapping.base import ZERO, q2
from services.mapper.reference import Reference

LINE_DETAILS = ("SalesItemLineDetail", "ItemBasedExpenseLineDetail", "AccountBasedExpenseLineDetail")


def _percents(reference: Reference, code_id: str, *, purchase: bool) -> list[tuple[str, Decimal]]:
    code = reference.get("TaxCode", code_id)
    if code is None:
        return []
    return [(rid, Decimal(str(pct))) for rid, pct in reference.tax_rate_percent(code, purchase=purchase)]


def _taxed_lines(payload: dict[str, Any]) -> list[tuple[Decimal, str]]:
    out = []
    for line in payload.get("Line", []):
        kind = line.get("DetailType")
        if kind in LINE_DETAILS:
            code = str((line[kind].get("TaxCodeRef") or {}).get("value", ""))
            out.append((Decimal(str(line["Amount"])), code))
    return out


def document_total(reference: Reference, payload: dict[str, Any], *, us: bool, purchase: bool) -> Decimal:
    """Subtotal plus tax (tax-exclusive) or the subtotal itself (tax-inclusive), to the cent."""
    lines = _taxed_lines(payload)
    subtotal = sum((amount for amount, _ in lines), ZERO)
    return subtotal + (
        ZERO
        if payload.get("GlobalTaxCalculation") == "TaxInclusive"
        else tax(reference, payload, us=us, purchase=purchase)
    )


def tax(reference: Reference, payload: dict[str, Any], *, us: bool, purchase: bool) -> Decimal:
    """The tax QBO computes: per rate, over the summed bases, rounded once per rate."""
    lines = _taxed_lines(payload)
    per_rate: dict[str, tuple[Decimal, Decimal]] = {}
    if us:
        if purchase:
            return ZERO
        code = str(((payload.get("TxnTaxDetail") or {}).get("TxnTaxCodeRef") or {}).get("value", ""))
        base = sum((amount for amount, c in lines if c == "TAX"), ZERO)
        for rid, pct in _percents(reference, code, purchase=False) if code and base else ():
            per_rate[rid] = (pct, base)
    else:
        inclusive = payload.get("GlobalTaxCalculation") == "TaxInclusive"
        for amount, code in lines:
            rates = _percents(reference, code, purchase=purchase)
            combined = sum((pct for _, pct in rates), ZERO)
            net = amount * 100 / (100 + combined) if inclusive and combined else amount
            for rid, pct in rates:
                prev = per_rate.get(rid, (pct, ZERO))
                per_rate[rid] = (pct, prev[1] + net)
    return sum((q2(base * pct / 100) for pct, base in per_rate.values()), ZERO)
