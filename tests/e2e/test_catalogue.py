"""Every platform document type of the catalogue, in order, through the whole pipeline into QBO:
creates, updates, a payment and a refund, voids and cancellations."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from scripts.journey import (
    Bus,
    apply_settings,
    connect_tenant,
    create_company,
    event,
    until_reference_imported,
)
from tests.e2e.conftest import Stack
from tests.e2e.test_journeys import OUTCOMES, entities, outcome, uid
from tests.unit.mapper.events import golden_events

pytestmark = pytest.mark.e2e

# A platform's life: create, update, settle, then cancel. The invoice that is paid is not voided
# (QBO refuses to void an invoice with a payment applied); a second invoice is.
ORDER = (
    "customer.upserted",
    "vendor.upserted",
    "item.upserted",
    "invoice.approved",
    "invoice.updated",
    "credit_note.issued",
    "payment.recorded",
    "refund.issued",
    "bill.approved",
    "bill.updated",
    "purchase_order.approved",
    "purchase_order.updated",
    "purchase_order.cancelled",
    "bill.cancelled",
    "credit_note.voided",
)
ACCOUNTS = {
    "accounts": {
        "income": "Services",
        "expense": "Office Expenses",
        "deposit": "Undeposited Funds",
        "refund_from": "Checking",
    }
}


@pytest.mark.parametrize("country", ["US", "GB"])
async def test_every_document_type_reaches_qbo_in_order(stack: Stack, bus: Bus, country: str) -> None:
    events = golden_events(country)
    second = events["invoice.approved"] | {"invoice_id": "inv_2", "number": "INV-1002"}
    sequence: list[tuple[str, dict[str, Any]]] = [(t, events[t]) for t in ORDER]
    sequence += [
        ("invoice.approved", second),
        ("invoice.voided", {"invoice_id": "inv_2", "number": "INV-1002"}),
    ]
    async with httpx.AsyncClient(timeout=20) as http:
        realm = await create_company(http, stack.ends, country=country, seed="sample")
        tenant = await connect_tenant(http, stack.ends, tenant_id=uid("tenant"), realm_id=realm)
        await until_reference_imported(http, stack.ends, tenant)
        # A UK company calls it "Cheque": the setting a person makes after reading the readiness report.
        methods = {"payment_methods": {"names": {"Check": "Cheque"}}} if country == "GB" else {}
        await apply_settings(http, stack.ends, tenant, ACCOUNTS | methods)
        outcomes = await bus.listen(*OUTCOMES)
        results: dict[str, str] = {}
        for type_, data in sequence:
            sent = event(type_, data, tenant=tenant)
            await bus.publish(sent)
            # Generous: a step may wait out one retry delay (5 s, then 30 s) of a dependency.
            got = await outcome(outcomes, sent, type_.split(".")[0], timeout=90)
            results[f"{type_} {data.get('number', '')}".strip()] = (
                "ok" if got.type == "sync.succeeded" else f"{got.type}: {got.data.get('message')}"
            )
        invoices = {i.get("DocNumber"): i for i in await entities(http, stack, realm, "Invoice")}
        orders = {p.get("DocNumber"): p for p in await entities(http, stack, realm, "PurchaseOrder")}
        bills = [b for b in await entities(http, stack, realm, "Bill") if b.get("DocNumber") == "B-77"]

    assert {k: v for k, v in results.items() if v != "ok"} == {}
    assert float(invoices["INV-1002"]["TotalAmt"]) == 0  # voided
    assert float(invoices["INV-1001"]["Balance"]) < float(invoices["INV-1001"]["TotalAmt"])  # paid in part
    assert orders["PO-5"]["POStatus"] == "Closed"
    assert bills == []  # cancelled bills are deleted


async def test_a_voided_credit_note_that_was_applied_is_voided_in_qbo(stack: Stack, bus: Bus) -> None:
    events = golden_events("US")
    async with httpx.AsyncClient(timeout=20) as http:
        realm = await create_company(http, stack.ends, country="US", seed="sample")
        tenant = await connect_tenant(http, stack.ends, tenant_id=uid("tenant"), realm_id=realm)
        await until_reference_imported(http, stack.ends, tenant)
        await apply_settings(http, stack.ends, tenant, ACCOUNTS)
        outcomes = await bus.listen(*OUTCOMES)
        results = []
        for type_ in ("customer.upserted", "invoice.approved", "credit_note.issued", "credit_note.voided"):
            sent = event(type_, events[type_], tenant=tenant)
            await bus.publish(sent)
            results.append((await outcome(outcomes, sent, type_.split(".")[0], timeout=30)).type)

    assert results == ["sync.succeeded"] * 4
