"""Summarized journal mode through the sandbox: the day's entry is accepted, and updated in place."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.mapper import service
from services.mapper.mapping import Target
from services.mapper.sync_settings import SyncSettings
from shared.contracts import CATALOGUE
from tests.integration.mapper.qbo_writer import SandboxWriter, entities, mirror_of, sandbox_company
from tests.unit.mapper import companies as c
from tests.unit.mapper import journal_day as j

pytestmark = pytest.mark.integration


@pytest.fixture
async def sandbox(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


def _settings(country: str) -> SyncSettings:
    # Only a US entry has a line of its own for the tax; elsewhere QBO posts each line's tax itself.
    tax = {"sales_tax": "Sales Tax Payable"} if country == "US" else {}
    return c.settings(
        posting={"mode": "summarized_journal", "master_customer": j.MASTER},
        accounts=c.settings().accounts.model_dump()
        | {"accounts_receivable": "Accounts Receivable (A/R)"}
        | tax,
    )


async def _day(
    writer: SandboxWriter, realm: str, country: str, docs: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """The day's entry for ``docs``, planned against the company's mirror and written as the exporter
    would (a create, then sparse updates with the latest SyncToken)."""
    target = Target("conn-journal", realm, c.company(country))
    settings, reference = _settings(country), await mirror_of(writer.client, realm)
    shares: list[tuple[str, dict[str, Any]]] = []
    for event_type, raw in docs:
        share = service.journal_share(
            event_type,
            CATALOGUE[event_type].model.model_validate(raw),
            target=target,
            settings=settings,
            reference=reference,
            source_event_id="e",
        )
        assert share is not None
        shares.append((f"{event_type}:{len(shares)}", share))
    (command,) = service.journal_day(
        dt.date.fromisoformat(j.DAY),
        shares,
        generation=0,
        target=target,
        settings=settings,
        reference=reference,
        source_event_id="e",
        revised_at=dt.datetime.now(dt.UTC),
    )
    existing = await writer.query_one("JournalEntry", "DocNumber", command.payload["DocNumber"])
    if existing is None:
        return await writer.apply(command)
    # As the exporter sends a create of an object it has linked: a sparse update, latest SyncToken.
    keys = {"Id": existing["Id"], "SyncToken": existing["SyncToken"], "sparse": True}
    return await writer._post("JournalEntry", command.payload | keys)


def _sides(entry: dict[str, Any]) -> dict[str, Decimal]:
    """Each side as QBO posts it: a line's TaxAmount goes to the tax agency's account on its side."""
    out = {"Debit": Decimal(0), "Credit": Decimal(0)}
    for line in entry["Line"]:
        detail = line["JournalEntryLineDetail"]
        out[detail["PostingType"]] += Decimal(str(line["Amount"])) + Decimal(str(detail.get("TaxAmount", 0)))
    return out


def _line_tax(entry: dict[str, Any]) -> Decimal:
    return sum(
        (Decimal(str(ln["JournalEntryLineDetail"].get("TaxAmount", 0))) for ln in entry["Line"]), Decimal(0)
    )


@pytest.mark.parametrize("country", ["US", "GB", "CA", "AU"])
async def test_the_days_journal_entry_is_accepted_and_updated_when_a_document_is_voided(
    sandbox: httpx.AsyncClient, country: str
) -> None:
    realm, token = await sandbox_company(sandbox, country=country, custom_txn_numbers=True)
    writer = SandboxWriter(sandbox, realm, token)
    await writer._post("Customer", {"DisplayName": j.MASTER})
    docs = j.documents(country)

    first = await _day(writer, realm, country, docs)
    second = await _day(writer, realm, country, docs[:1] + docs[2:])  # the second invoice voided

    assert second["Id"] == first["Id"]
    assert int(second["SyncToken"]) > int(first["SyncToken"])
    assert _sides(second)["Debit"] == _sides(second)["Credit"] < _sides(first)["Debit"]
    assert len(await entities(sandbox, realm, "JournalEntry")) == 1
    assert not [
        i for i in await entities(sandbox, realm, "Invoice") if i.get("DocNumber", "").startswith("INV-100")
    ]


@pytest.mark.parametrize("country", ["GB", "CA", "AU"])
async def test_outside_the_us_the_days_tax_is_posted_once_by_qbo_from_the_income_lines(
    sandbox: httpx.AsyncClient, country: str
) -> None:
    realm, token = await sandbox_company(sandbox, country=country, custom_txn_numbers=True)
    writer = SandboxWriter(sandbox, realm, token)
    await writer._post("Customer", {"DisplayName": j.MASTER})

    entry = await _day(writer, realm, country, j.documents(country))

    tax_accounts = {
        a["Id"]
        for a in await entities(sandbox, realm, "Account")
        if a.get("AccountSubType") == "GlobalTaxPayable"
    }
    assert not [
        ln for ln in entry["Line"] if ln["JournalEntryLineDetail"]["AccountRef"]["value"] in tax_accounts
    ]
    assert Decimal(str(entry["TxnTaxDetail"]["TotalTax"])) == _line_tax(entry) > 0
    assert _sides(entry)["Debit"] == _sides(entry)["Credit"]
