"""Sales tax: US (TAX/NON lines + a transaction tax code) and non-US (a tax code per line)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox import faults, money
from sandbox.state import Company

MISSING_CODE_TEXT = {
    "GB": "Make sure all your transactions have a VAT rate before you save.",
    "CA": "Make sure all your transactions have a GST/HST rate before you save.",
    "AU": "Make sure all your transactions have a GST rate before you save.",
}
MISSING_CODE_FALLBACK = (
    "One or more transaction lines do not have a tax code associated with it. "
    "Please assign a tax code for those lines"
)


def missing_code(company: Company) -> faults.QboError:
    return faults.business(MISSING_CODE_TEXT.get(company.country, MISSING_CODE_FALLBACK), "TaxCodeRef")


def rates_of(company: Company, code_id: str, *, purchase: bool) -> list[tuple[str, Decimal]]:
    code = company.table("TaxCode").get(code_id)
    if code is None:
        return []
    rate_list = code.get("PurchaseTaxRateList" if purchase else "SalesTaxRateList") or {}
    out = []
    for detail in rate_list.get("TaxRateDetail") or ():
        rate_id = str(detail.get("TaxRateRef", {}).get("value"))
        rate = company.table("TaxRate").get(rate_id)
        if rate is not None:
            out.append((rate_id, Decimal(str(rate.get("RateValue", 0)))))
    return out


def tax_lines(taxed: dict[str, tuple[Decimal, Decimal]]) -> list[dict[str, Any]]:
    return [
        {
            "Amount": money.q2(amount),
            "DetailType": "TaxLineDetail",
            "TaxLineDetail": {
                "TaxRateRef": {"value": rate_id},
                "PercentBased": True,
                "TaxPercent": percent,
                "NetAmountTaxable": money.q2(base),
            },
        }
        for rate_id, (percent, base, amount) in (
            (k, (v[0], v[1], v[1] * v[0] / 100)) for k, v in taxed.items()
        )
    ]


def us_tax(company: Company, obj: dict[str, Any], taxable_base: Decimal) -> Decimal:
    """Tax from TxnTaxDetail.TxnTaxCodeRef's rates over the TAX lines."""
    detail = obj.get("TxnTaxDetail") if isinstance(obj.get("TxnTaxDetail"), dict) else {}
    code_ref = (detail or {}).get("TxnTaxCodeRef") or {}
    code_id = str(code_ref.get("value") or "")
    if not code_id or taxable_base == 0:
        obj["TxnTaxDetail"] = ({"TxnTaxCodeRef": code_ref} if code_id else {}) | {"TotalTax": money.ZERO}
        return money.ZERO
    per_rate = {rate_id: (pct, taxable_base) for rate_id, pct in rates_of(company, code_id, purchase=False)}
    lines = tax_lines(per_rate)
    total = sum((line["Amount"] for line in lines), money.ZERO)
    obj["TxnTaxDetail"] = {"TxnTaxCodeRef": code_ref, "TotalTax": total, "TaxLine": lines}
    return total


def global_tax(
    company: Company, obj: dict[str, Any], bases: dict[str, Decimal], *, purchase: bool
) -> Decimal:
    """Non-US: per line tax code; TaxInclusive amounts already contain the tax."""
    inclusive = obj.get("GlobalTaxCalculation") == "TaxInclusive"
    per_rate: dict[str, tuple[Decimal, Decimal]] = {}
    total = money.ZERO
    for code_id, base in bases.items():
        rates = rates_of(company, code_id, purchase=purchase)
        combined = sum((pct for _, pct in rates), money.ZERO)
        net = base * 100 / (100 + combined) if inclusive and combined else base
        for rate_id, pct in rates:
            prev = per_rate.get(rate_id, (pct, money.ZERO))
            per_rate[rate_id] = (pct, prev[1] + net)
    lines = tax_lines(per_rate)
    total = sum((line["Amount"] for line in lines), money.ZERO)
    obj["TxnTaxDetail"] = {"TotalTax": total, "TaxLine": lines}
    return total


def journal_tax(
    company: Company,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    lines: list[tuple[Decimal, dict[str, Any]]],
) -> Decimal:
    """Non-US JournalEntry: the TxnTaxDetail its tax-coded lines post, per rate; returns how far tax lines
    the client sent (kept as sent, as QBO documents) are from the lines' own TaxAmount.

    A line's tax is signed by its side: a Sales line credited, or a Purchase line debited, adds to the
    tax; the other side takes it back. [U] A combined code splits a line's TaxAmount over its rates in
    proportion to their percents (the last rate takes the rounding).
    """
    per_rate: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    for amount, detail in lines:
        purchase = detail["TaxApplicableOn"] == "Purchase"
        natural = "Debit" if purchase else "Credit"
        sign = Decimal(1) if detail["PostingType"] == natural else Decimal(-1)
        rates = rates_of(company, str(detail["TaxCodeRef"].get("value")), purchase=purchase)
        for (rate_id, pct), share in zip(rates, _split(detail["TaxAmount"], rates), strict=True):
            prev = per_rate.get(rate_id, (pct, money.ZERO, money.ZERO))
            per_rate[rate_id] = (pct, prev[1] + sign * amount, prev[2] + sign * share)
    derived = money.q2(sum((tax for _, _, tax in per_rate.values()), money.ZERO))
    sent = obj.get("TxnTaxDetail")
    # A sparse update that leaves TxnTaxDetail out carries the stored one along: that one is ours to
    # recompute, not the client's to keep.
    if isinstance(sent, dict) and sent.get("TaxLine") and sent is not (old or {}).get("TxnTaxDetail"):
        kept = [_sent_line(line) for line in sent["TaxLine"]]
        total = sum((line["Amount"] for line in kept), money.ZERO)
        obj["TxnTaxDetail"] = {**sent, "TotalTax": total, "TaxLine": kept}
        return total - derived
    obj["TxnTaxDetail"] = {
        "TotalTax": derived,
        "TaxLine": [
            _tax_line(rate_id, pct, base, tax)
            for rate_id, (pct, base, tax) in per_rate.items()
            if tax or base
        ],
    }
    return money.ZERO


def _split(tax: Decimal, rates: list[tuple[str, Decimal]]) -> list[Decimal]:
    combined = sum((pct for _, pct in rates), money.ZERO)
    if not rates:
        return []
    if not combined:
        return [tax] + [money.ZERO] * (len(rates) - 1)
    shares = [money.q2(tax * pct / combined) for _, pct in rates[:-1]]
    return [*shares, tax - sum(shares, money.ZERO)]


def _tax_line(rate_id: str, pct: Decimal, base: Decimal, tax: Decimal) -> dict[str, Any]:
    return {
        "Amount": money.q2(tax),
        "DetailType": "TaxLineDetail",
        "TaxLineDetail": {
            "TaxRateRef": {"value": rate_id},
            "PercentBased": True,
            "TaxPercent": pct,
            "NetAmountTaxable": money.q2(base),
        },
    }


def _sent_line(line: Any) -> dict[str, Any]:
    if not isinstance(line, dict):
        raise faults.required("TxnTaxDetail.TaxLine")
    out = dict(line)
    out["Amount"] = money.q2(money.parse(line.get("Amount"), "TxnTaxDetail.TaxLine.Amount") or money.ZERO)
    detail = line.get("TaxLineDetail")
    if isinstance(detail, dict) and "NetAmountTaxable" in detail:
        net = money.parse(detail["NetAmountTaxable"], "TxnTaxDetail.TaxLine.TaxLineDetail.NetAmountTaxable")
        out["TaxLineDetail"] = detail | {"NetAmountTaxable": money.q2(net or money.ZERO)}
    return out
