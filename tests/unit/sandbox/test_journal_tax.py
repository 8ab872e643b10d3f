"""Outside the US a journal line's tax posts by itself: the entry balances with it, and says it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sandbox import ops
from sandbox.faults import QboError
from sandbox.state import Company
from tests.unit.sandbox.factories import create, first, make_company


def _code(company: Company, name: str) -> str:
    return str(next(c["Id"] for c in company.table("TaxCode").values() if c.get("Name") == name))


def _line(amount: str, posting: str, account: str, **detail: Any) -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "JournalEntryLineDetail",
        "JournalEntryLineDetail": {"PostingType": posting, "AccountRef": {"value": account}} | detail,
    }


def _sale(company: Company, *, gross: str, net: str, tax: str, code: str = "20.0% S") -> list[dict[str, Any]]:
    """A receivable debited ``gross``; income credited ``net`` with its tax code and ``tax``."""
    receivable = first(company, "Account", AccountType="Accounts Receivable")["Id"]
    income = first(company, "Account", AccountType="Income")["Id"]
    who = create(company, "Customer", {"DisplayName": "Daily Sales"})["Id"]
    entity = {"Type": "Customer", "EntityRef": {"value": who}}
    taxed = {"TaxCodeRef": {"value": _code(company, code)}, "TaxApplicableOn": "Sales", "TaxAmount": tax}
    return [_line(gross, "Debit", receivable, Entity=entity), _line(net, "Credit", income, **taxed)]


def test_a_gb_entry_balances_with_its_lines_tax_and_carries_the_tax_per_rate() -> None:
    company = make_company(country="GB")

    saved = create(company, "JournalEntry", {"Line": _sale(company, gross="120", net="100", tax="20")})

    detail = saved["TxnTaxDetail"]
    assert detail["TotalTax"] == Decimal("20.00")
    (line,) = detail["TaxLine"]
    assert line["Amount"] == Decimal("20.00")
    assert line["TaxLineDetail"]["NetAmountTaxable"] == Decimal("100.00")
    assert line["TaxLineDetail"]["TaxPercent"] == Decimal("20")


def test_a_separate_line_to_the_vat_account_counts_the_tax_twice_and_is_refused() -> None:
    company = make_company(country="GB")
    lines = _sale(company, gross="120", net="100", tax="20")
    vat = first(company, "Account", Name="VAT Control")["Id"]

    with pytest.raises(QboError) as err:
        create(company, "JournalEntry", {"Line": [*lines, _line("20", "Credit", vat)]})

    assert err.value.code == "6000"
    assert "Debits: 120.00, Credits: 140.00" in err.value.detail


def test_a_combined_code_splits_the_lines_tax_over_its_rates() -> None:
    company = make_company(country="CA")

    saved = create(
        company, "JournalEntry", {"Line": _sale(company, gross="112", net="100", tax="12", code="GST/PST BC")}
    )

    amounts = sorted(line["Amount"] for line in saved["TxnTaxDetail"]["TaxLine"])
    assert amounts == [Decimal("5.00"), Decimal("7.00")]


def test_tax_lines_sent_with_the_entry_are_kept_and_must_agree_with_the_lines() -> None:
    company = make_company(country="GB")
    lines = _sale(company, gross="120", net="100", tax="20")
    rate = first(company, "TaxRate", Name="20.0% S")["Id"]
    sent = {
        "Amount": "19.00",
        "DetailType": "TaxLineDetail",
        "TaxLineDetail": {"TaxRateRef": {"value": rate}, "PercentBased": True, "NetAmountTaxable": "100"},
    }

    with pytest.raises(QboError) as err:
        create(company, "JournalEntry", {"Line": lines, "TxnTaxDetail": {"TaxLine": [sent]}})
    assert err.value.code == "6000"

    kept = create(
        company, "JournalEntry", {"Line": lines, "TxnTaxDetail": {"TaxLine": [sent | {"Amount": "20"}]}}
    )
    assert kept["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["NetAmountTaxable"] == Decimal("100.00")
    assert kept["TxnTaxDetail"]["TotalTax"] == Decimal("20.00")


def test_an_update_of_the_lines_recomputes_the_tax_it_derived() -> None:
    company = make_company(country="GB")
    saved = create(company, "JournalEntry", {"Line": _sale(company, gross="120", net="100", tax="20")})
    lines = saved["Line"]
    lines[0]["Amount"], lines[1]["Amount"] = "60", "50"
    lines[1]["JournalEntryLineDetail"]["TaxAmount"] = "10"

    body = {"Id": saved["Id"], "SyncToken": saved["SyncToken"], "sparse": True, "Line": lines}
    updated = ops.update(company, "JournalEntry", body, changes=[])

    assert updated["TxnTaxDetail"]["TotalTax"] == Decimal("10.00")


def test_an_au_tax_inclusive_entry_needs_the_lines_tax_inclusive_amount() -> None:
    company = make_company(country="AU")
    lines = _sale(company, gross="110", net="100", tax="10", code="GST")

    with pytest.raises(QboError) as err:
        create(company, "JournalEntry", {"Line": lines, "GlobalTaxCalculation": "TaxInclusive"})
    assert (err.value.code, err.value.element) == ("2020", "Line.JournalEntryLineDetail.TaxInclusiveAmt")

    lines[1]["JournalEntryLineDetail"]["TaxInclusiveAmt"] = "110"
    saved = create(company, "JournalEntry", {"Line": lines, "GlobalTaxCalculation": "TaxInclusive"})
    assert saved["TxnTaxDetail"]["TotalTax"] == Decimal("10.00")
