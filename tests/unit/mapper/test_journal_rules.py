"""Summarized journal mode: a day's documents → one balanced JournalEntry, golden per country."""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.mapper import service
from services.mapper.mapping import Rejection, totals
from services.mapper.mapping.sales import sales_payload
from shared.contracts import CATALOGUE
from shared.contracts.platform import SalesDocument
from tests.unit.mapper import journal_day as j

GOLDEN = Path(__file__).parent / "golden"
COUNTRIES = ("US", "GB", "CA", "AU")
REVISED = dt.datetime(2026, 11, 2, 18, 0, tzinfo=dt.UTC)


def _shares(country: str, docs: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    ctx = j.context(country)
    out = []
    for event_type, raw in docs:
        data = CATALOGUE[event_type].model.model_validate(raw)
        share = service.journal_share(
            event_type,
            data,
            target=ctx.target,
            settings=ctx.settings,
            reference=ctx.reference,
            source_event_id="e",
        )
        assert share is not None
        kind = event_type.split(".")[0]
        out.append((f"{kind}:{raw[f'{kind}_id']}", share))
    return out


def _day(country: str, shares: list[tuple[str, dict[str, Any]]], generation: int = 0) -> list[Any]:
    ctx = j.context(country)
    return service.journal_day(
        dt.date.fromisoformat(j.DAY),
        shares,
        generation=generation,
        target=ctx.target,
        settings=ctx.settings,
        reference=ctx.reference,
        source_event_id="evt-1",
        revised_at=REVISED,
    )


def _side(payload: dict[str, Any], posting: str) -> Decimal:
    """A side's total as QBO posts it: outside the US a line's TaxAmount goes to the tax account on
    the line's own side."""
    return sum(
        (
            Decimal(str(ln["Amount"])) + Decimal(str(ln["JournalEntryLineDetail"].get("TaxAmount", 0)))
            for ln in payload["Line"]
            if ln["JournalEntryLineDetail"]["PostingType"] == posting
        ),
        Decimal(0),
    )


def _document_total(country: str, event_type: str, raw: dict[str, Any]) -> Decimal:
    """What QBO would total the document at in documents mode (the same rules, another path)."""
    ctx = j.context(country)
    data = CATALOGUE[event_type].model.model_validate(raw)
    assert isinstance(data, SalesDocument)
    payload = sales_payload(ctx, data)
    return totals.document_total(
        ctx.reference, json.loads(json.dumps(payload, default=str)), us=ctx.target.us, purchase=False
    )


@pytest.mark.parametrize("country", COUNTRIES)
def test_a_days_documents_map_to_the_golden_journal_entry(country: str) -> None:
    commands = _day(country, _shares(country, j.documents(country)))

    produced = [cmd.model_dump(mode="json", exclude_none=True) for cmd in commands]
    path = GOLDEN / f"{country.lower()}_summarized_journal_day.json"
    if os.environ.get("QBB_UPDATE_GOLDEN"):
        path.write_text(json.dumps(produced, indent=2, sort_keys=True) + "\n")
    assert produced == json.loads(path.read_text())


@pytest.mark.parametrize("country", COUNTRIES)
def test_the_days_entry_balances_and_its_receivable_is_the_documents_totals(country: str) -> None:
    docs = j.documents(country)
    (command,) = _day(country, _shares(country, docs))
    payload = command.payload

    expected = sum(
        (_document_total(country, t, raw) * (-1 if t.startswith("credit_note") else 1) for t, raw in docs),
        Decimal(0),
    )
    ar = [ln for ln in payload["Line"] if ln["JournalEntryLineDetail"].get("Entity")]
    assert _side(payload, "Debit") == _side(payload, "Credit")
    assert len(ar) == 1
    assert Decimal(str(ar[0]["Amount"])) == expected
    assert ar[0]["JournalEntryLineDetail"]["Entity"] == {"Type": "Customer", "EntityRef": {"value": "90"}}
    assert command.entity == "JournalEntry"
    assert command.operation == "create"
    assert command.match is not None
    assert command.match.value == "QBB-20261102"


def test_us_income_is_one_line_per_income_account_and_tax_one_line_per_code() -> None:
    (command,) = _day("US", _shares("US", j.documents("US")))
    lines = [ln["JournalEntryLineDetail"] for ln in command.payload["Line"]]

    income = [d["AccountRef"]["value"] for d in lines if d["AccountRef"]["value"] in ("34", "39")]
    tax = [d for d in lines if d["AccountRef"]["value"] == "38"]
    assert sorted(income) == ["34", "39"]
    assert len(tax) == 1


@pytest.mark.parametrize("country", ["GB", "CA", "AU"])
def test_outside_the_us_the_tax_rides_on_the_income_lines_and_is_counted_once(country: str) -> None:
    docs = j.documents(country)
    (command,) = _day(country, _shares(country, docs))
    payload = command.payload
    lines = [ln["JournalEntryLineDetail"] for ln in payload["Line"]]

    ar = next(
        Decimal(str(ln["Amount"])) for ln in payload["Line"] if ln["JournalEntryLineDetail"].get("Entity")
    )
    income = [d for d in lines if d["AccountRef"]["value"] in ("34", "39")]
    net = sum((Decimal(str(ln["Amount"])) for ln in payload["Line"][1:]), Decimal(0))
    tax = sum((Decimal(str(d["TaxAmount"])) for d in income), Decimal(0))
    assert [d for d in lines if d["AccountRef"]["value"] == "38"] == []
    assert len(income) == len(lines) - 1
    assert all(d["TaxApplicableOn"] == "Sales" and d["TaxCodeRef"] for d in income)
    assert ar == net + tax
    assert payload["GlobalTaxCalculation"] == "TaxExcluded"


def test_a_voided_document_no_longer_counts_for_its_day() -> None:
    shares = _shares("US", j.documents("US"))
    without = [s for s in shares if s[0] != "invoice:inv_2"]

    before, after = _day("US", shares)[0].payload, _day("US", without)[0].payload
    assert _side(after, "Debit") < _side(before, "Debit")
    assert (
        service.journal_share(
            "invoice.voided",
            CATALOGUE["invoice.voided"].model.model_validate({"invoice_id": "inv_2"}),
            target=j.context("US").target,
            settings=j.context("US").settings,
            reference=j.context("US").reference,
            source_event_id="e",
        )
        is None
    )


def test_a_day_with_nothing_left_deletes_its_entry_and_the_next_one_is_a_new_generation() -> None:
    (gone,) = _day("AU", [])
    assert gone.operation == "delete"
    assert gone.platform_id == "journal-2026-11-02"

    (again,) = _day("AU", _shares("AU", j.documents("AU")[:1]), generation=1)
    assert again.platform_id == "journal-2026-11-02-g1"
    assert again.payload["DocNumber"] == "QBB-20261102-1"


def test_a_document_in_a_foreign_currency_is_refused_in_summarized_mode() -> None:
    ctx = j.context("GB")
    raw = j.documents("GB")[0][1] | {"currency": "EUR"}
    data = CATALOGUE["invoice.approved"].model.model_validate(raw)
    with pytest.raises(Rejection) as refused:
        service.journal_share(
            "invoice.approved",
            data,
            target=ctx.target,
            settings=ctx.settings,
            reference=ctx.reference,
            source_event_id="e",
        )
    assert refused.value.problems[0].path == "$.data.currency"


def test_without_a_master_customer_in_qbo_the_document_is_refused() -> None:
    ctx = j.context("US", posting={"mode": "summarized_journal", "master_customer": "Nobody"})
    data = CATALOGUE["invoice.approved"].model.model_validate(j.documents("US")[0][1])
    with pytest.raises(Rejection) as refused:
        service.journal_share(
            "invoice.approved",
            data,
            target=ctx.target,
            settings=ctx.settings,
            reference=ctx.reference,
            source_event_id="e",
        )
    assert "master customer 'Nobody'" in refused.value.message


def test_a_payment_in_summarized_mode_goes_to_the_master_customer_unapplied() -> None:
    ctx = j.context("US")
    raw = {
        "payment_id": "pay_1",
        "date": j.DAY,
        "amount": "100.00",
        "customer": {"code": "ACME"},
        "applied_to": [{"invoice_id": "inv_1", "amount": "100.00"}],
    }
    data = CATALOGUE["payment.recorded"].model.model_validate(raw)
    commands = service.plan(
        "payment.recorded",
        data,
        target=ctx.target,
        settings=ctx.settings,
        reference=ctx.reference,
        source_event_id="e",
    )
    assert [c.entity for c in commands] == ["Payment"]
    assert commands[0].payload["CustomerRef"]["value"] == "90"
    assert commands[0].payload["Line"] == []


def test_the_revision_time_always_moves_forward() -> None:
    earlier = REVISED - dt.timedelta(seconds=5)
    assert service.journal_revision(REVISED, earlier) > REVISED
    assert service.journal_revision(None, earlier) == earlier


def test_a_refund_in_summarized_mode_goes_to_the_master_customer() -> None:
    ctx = j.context("US")
    raw = {
        "refund_id": "ref_1",
        "date": j.DAY,
        "amount": "19.99",
        "customer": {"code": "ACME"},
        "lines": [
            {
                "description": "Hosting",
                "item_code": "HOST",
                "quantity": "1",
                "unit_price": "19.99",
                "amount": "19.99",
            }
        ],
    }
    data = CATALOGUE["refund.issued"].model.model_validate(raw)
    commands = service.plan(
        "refund.issued",
        data,
        target=ctx.target,
        settings=ctx.settings,
        reference=ctx.reference,
        source_event_id="e",
    )
    assert [c.entity for c in commands] == ["RefundReceipt"]  # no Customer ensured for ACME
    assert commands[0].payload["CustomerRef"]["value"] == "90"


def test_a_cent_of_tax_left_by_rounding_keeps_its_line_and_the_entry_balanced() -> None:
    # Two invoices of 0.02 (no tax each once rounded) and a credit note of 0.03 (0.01 of tax): the
    # income nets to +0.01 while the tax nets to -0.01, and an income line with no net keeps its tax.
    code = j.context("GB").reference.find("TaxCode", "20.0% S")
    assert code is not None
    cid = code.data["Id"]
    shares = [
        ("invoice:a", {"ar": "0.02", "income": [["34", cid, "0.02", "0.00"]], "tax": []}),
        ("invoice:b", {"ar": "0.02", "income": [["34", cid, "0.02", "0.00"]], "tax": []}),
        (
            "credit_note:c",
            {"ar": "-0.04", "income": [["34", cid, "-0.03", "-0.01"]], "tax": [[cid, "-0.01"]]},
        ),
        ("invoice:d", {"ar": "0.01", "income": [["39", cid, "0.00", "0.01"]], "tax": [[cid, "0.01"]]}),
    ]

    (command,) = _day("GB", shares)

    lines = {ln["JournalEntryLineDetail"]["AccountRef"]["value"]: ln for ln in command.payload["Line"]}
    tax = {a: Decimal(str(ln["JournalEntryLineDetail"]["TaxAmount"])) for a, ln in lines.items() if a != "32"}
    assert tax == {"34": Decimal("-0.01"), "39": Decimal("0.01")}
    assert Decimal(str(lines["39"]["Amount"])) == 0
    assert lines["39"]["JournalEntryLineDetail"]["PostingType"] == "Credit"
    assert _side(command.payload, "Debit") == _side(command.payload, "Credit")
