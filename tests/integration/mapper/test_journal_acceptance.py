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

TAX_ACCOUNT = {
    "US": "Sales Tax Payable",
    "GB": "VAT Control",
    "CA": "GST/HST Payable",
    "AU": "GST Liabilities Payable",
}


@pytest.fixture
async def sandbox(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


def _settings(country: str) -> SyncSettings:
    return c.settings(
        posting={"mode": "summarized_journal", "master_customer": j.MASTER},
        accounts=c.settings().accounts.model_dump()
        | {"accounts_receivable": "Accounts Receivable (A/R)", "sales_tax": TAX_ACCOUNT[country]},
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
    out = {"Debit": Decimal(0), "Credit": Decimal(0)}
    for line in entry["Line"]:
        out[line["JournalEntryLineDetail"]["PostingType"]] += Decimal(str(line["Amount"]))
    return out


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
