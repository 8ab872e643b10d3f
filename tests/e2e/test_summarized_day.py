"""A day in summarized journal mode, end to end: the day's documents become one JournalEntry whose
lines are the day's totals, and no Customer or Invoice of theirs is created in QuickBooks."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from scripts.journey import Bus, connect_tenant, create_company, event, until_reference_imported
from tests.e2e.conftest import Stack
from tests.e2e.test_journeys import OUTCOMES, entities, outcome, uid

pytestmark = pytest.mark.e2e

MASTER = "Daily Sales"
DAY = "2026-11-20"


def _document(kind: str, doc_id: str, code: str, amount: str) -> dict[str, Any]:
    line = {
        "description": "Plan",
        "quantity": "1",
        "unit_price": amount,
        "amount": amount,
        "tax_rate": "California",
    }
    return {
        f"{kind}_id": doc_id,
        "number": doc_id[:21],
        "issue_date": DAY,
        "customer": {"customer_id": f"cus_{code}", "code": code, "name": f"{code} Ltd"},
        "lines": [line],
    }


async def _summarized_tenant(http: httpx.AsyncClient, stack: Stack) -> Any:
    realm = await create_company(http, stack.ends, country="US")
    made = await http.post(
        f"{stack.ends.sandbox}/admin/companies/{realm}/act/Customer",
        json={"operation": "create", "body": {"DisplayName": MASTER}},
    )
    made.raise_for_status()
    tenant = await connect_tenant(http, stack.ends, tenant_id=uid("tenant"), realm_id=realm)
    await until_reference_imported(http, stack.ends, tenant)
    url = f"{stack.ends.mapper}/v1/connections/{tenant.connection_id}/settings"
    settings = (await http.get(url, headers=tenant.auth_header)).json()["settings"]
    settings["posting"] = {"mode": "summarized_journal", "master_customer": MASTER}
    settings["accounts"] |= {
        "income": "Services",
        "accounts_receivable": "Accounts Receivable (A/R)",
        "sales_tax": "Sales Tax Payable",
    }
    saved = await http.put(url, json=settings, headers=tenant.auth_header)
    assert saved.status_code == 200, saved.text
    # The master customer reaches the mirror with the company's lists; readiness says when it is there.
    async with asyncio.timeout(120):
        while True:
            ready = await http.get(
                f"{stack.ends.mapper}/v1/connections/{tenant.connection_id}/readiness",
                headers=tenant.auth_header,
            )
            posting = [c for c in ready.json()["checks"] if c["name"] == "posting"]
            if [c["status"] for c in posting] == ["ok"]:
                break
            await asyncio.sleep(0.5)
    return tenant


async def test_a_summarized_day_is_one_journal_entry_with_the_days_totals(stack: Stack, bus: Bus) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        tenant = await _summarized_tenant(http, stack)
        outcomes = await bus.listen(*OUTCOMES)
        codes = [uid("A").upper(), uid("B").upper(), uid("C").upper()]
        invoices = [
            _document("invoice", uid("inv"), codes[n % 3], amount)
            for n, amount in enumerate(["100.00", "200.00", "300.00", "400.00", "500.00"])
        ]
        sent = [event("invoice.approved", doc, tenant=tenant) for doc in invoices]
        sent.append(
            event("credit_note.issued", _document("credit_note", uid("cn"), codes[0], "50.00"), tenant=tenant)
        )
        sent.append(event("invoice.voided", {"invoice_id": invoices[4]["invoice_id"]}, tenant=tenant))
        answers = []
        for envelope in sent:  # one at a time: each answer says the entry includes that event
            await bus.publish(envelope)
            answers.append(await outcome(outcomes, envelope, "journal_entry", timeout=60))
        entries = await entities(http, stack, tenant.realm_id, "JournalEntry")
        made_customers = [
            c for c in await entities(http, stack, tenant.realm_id, "Customer") if c["DisplayName"] in codes
        ]
        numbers = {doc["number"] for doc in invoices} | {sent[5].data["number"]}
        made_invoices = [
            d
            for kind in ("Invoice", "CreditMemo")
            for d in await entities(http, stack, tenant.realm_id, kind)
            if d.get("DocNumber") in numbers
        ]

    assert [a.type for a in answers] == ["sync.succeeded"] * len(sent), [a.data for a in answers]
    assert len({a.data["qbo_id"] for a in answers}) == 1
    (entry,) = [e for e in entries if e.get("DocNumber") == "QBB-20261120"]
    lines = {ln["Description"].split(":")[0]: ln for ln in entry["Line"]}
    # 100+200+300+400 invoiced, 50 credited, the 500 voided; California 8 % on each document.
    assert Decimal(str(lines["Receivables"]["Amount"])) == Decimal("1026.00")
    assert lines["Receivables"]["JournalEntryLineDetail"]["PostingType"] == "Debit"
    assert lines["Receivables"]["JournalEntryLineDetail"]["Entity"]["Type"] == "Customer"
    assert Decimal(str(lines["Income"]["Amount"])) == Decimal("950.00")
    assert Decimal(str(lines["Tax California"]["Amount"])) == Decimal("76.00")
    assert len(entry["Line"]) == 3
    assert made_customers == []
    assert made_invoices == []
