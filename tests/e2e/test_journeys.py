"""The product's promise, end to end: platform events in, exactly one correct QBO record out, and
payments made in QuickBooks back out — through the real broker, database, services and sandbox."""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from scripts.journey import (
    Bus,
    Tenant,
    connect_tenant,
    create_company,
    event,
    until_reference_imported,
    wait_for,
)
from shared.contracts.envelope import Envelope
from tests.e2e.conftest import Stack
from tests.helpers.otlp import CLIENT, CONSUMER, PRODUCER

pytestmark = pytest.mark.e2e

OUTCOMES = ("sync.succeeded", "sync.failed", "sync.rejected")
RATE = {"US": "California", "GB": "20.0% S"}
SPAN_BOUND = 30.0  # spans leave a service every 100 ms (OTEL_BSP_SCHEDULE_DELAY); a loaded machine is slower


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def customer(code: str) -> dict[str, Any]:
    return {"customer_id": f"cus_{code}", "code": code, "name": f"{code} Ltd", "email": "ap@example.com"}


def invoice(country: str, *, invoice_id: str, number: str, code: str, **overrides: Any) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "number": number,
        "issue_date": "2026-11-20",
        "due_date": "2026-12-20",
        "customer": customer(code),
        "memo": "Thank you",
        "lines": [
            {
                "description": "Consulting",
                "quantity": "3",
                "unit_price": "120.00",
                "amount": "360.00",
                "tax_rate": RATE[country],
            },
            {
                "description": "Travel",
                "quantity": "1",
                "unit_price": "45.50",
                "amount": "45.50",
                "tax_rate": RATE[country],
            },
        ],
    } | overrides


async def connected(http: httpx.AsyncClient, stack: Stack, country: str, **company: Any) -> Tenant:
    realm = await create_company(http, stack.ends, country=country, **company)
    tenant = await connect_tenant(http, stack.ends, tenant_id=uid("tenant"), realm_id=realm)
    await until_reference_imported(http, stack.ends, tenant)
    return tenant


async def outcome(queue: Any, sent: Envelope, object_type: str, *, timeout: float = 20) -> Envelope:
    found = await wait_for(
        queue,
        lambda e: (
            e.type in OUTCOMES
            and e.data.get("source_event_id") == sent.id
            and e.data.get("object_type") == object_type
        ),
        timeout=timeout,
    )
    assert found is not None, f"no outcome for {sent.type} ({object_type}) within {timeout} s"
    return found


async def entities(http: httpx.AsyncClient, stack: Stack, realm: str, entity: str) -> list[dict[str, Any]]:
    answer = await http.get(f"{stack.ends.sandbox}/admin/companies/{realm}/entities/{entity}")
    answer.raise_for_status()
    body = answer.json()
    return list(body if isinstance(body, list) else body.get("entities", body.get(entity, [])))


@pytest.mark.parametrize("country", ["US", "GB"])
async def test_an_approved_invoice_lands_once_and_a_payment_made_in_qbo_comes_back(
    stack: Stack, bus: Bus, country: str
) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        tenant = await connected(http, stack, country)
        outcomes = await bus.listen(*OUTCOMES)
        payments = await bus.listen("qbo.payment.received")
        code, number = uid("C").upper(), uid("INV")[:21]
        sent = event(
            "invoice.approved",
            invoice(country, invoice_id=uid("inv"), number=number, code=code),
            tenant=tenant,
        )
        await bus.publish(sent)
        done = await outcome(outcomes, sent, "invoice")
        await bus.publish(sent)  # the platform re-sends the very same event
        resent = Envelope.new(sent.type, sent.data, tenant_id=tenant.tenant_id, source="demo-platform")
        await bus.publish(resent)  # ...and once more under a new event id
        again = await outcome(outcomes, resent, "invoice")
        assert done.type == "sync.succeeded", done.data
        assert again.type == "sync.succeeded", again.data

        invoices = [
            i for i in await entities(http, stack, tenant.realm_id, "Invoice") if i.get("DocNumber") == number
        ]
        customers = [
            c for c in await entities(http, stack, tenant.realm_id, "Customer") if c["DisplayName"] == code
        ]
        act = await http.post(
            f"{stack.ends.sandbox}/admin/companies/{tenant.realm_id}/act/Payment",
            json={
                "operation": "create",
                "body": {
                    "CustomerRef": {"value": customers[0]["Id"]},
                    "TotalAmt": float(invoices[0]["Balance"]),
                    "Line": [
                        {
                            "Amount": float(invoices[0]["Balance"]),
                            "LinkedTxn": [{"TxnId": invoices[0]["Id"], "TxnType": "Invoice"}],
                        }
                    ],
                },
            },
        )
        act.raise_for_status()
        received = await wait_for(payments, lambda e: e.realmid in (None, tenant.realm_id), timeout=30)

    assert again.data["qbo_id"] == done.data["qbo_id"]
    assert len(invoices) == 1
    assert len(customers) == 1
    expected_net = Decimal("405.50")
    assert Decimal(str(invoices[0]["TotalAmt"])) >= expected_net
    assert received is not None, "the payment recorded in QBO did not come back"
    applied = received.data["applied_to"]
    assert [a["platform_invoice_id"] for a in applied] == [sent.data["invoice_id"]]


async def test_a_category_switched_off_rejects_its_events_with_a_reason(stack: Stack, bus: Bus) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        tenant = await connected(http, stack, "US")
        url = f"{stack.ends.mapper}/v1/connections/{tenant.connection_id}/settings"
        current = (await http.get(url, headers=tenant.auth_header)).json()
        settings = current["settings"]
        settings["categories"]["invoices"]["enabled"] = False
        saved = await http.put(url, json=settings, headers=tenant.auth_header)
        assert saved.status_code == 200, saved.text
        outcomes = await bus.listen(*OUTCOMES)
        sent = event(
            "invoice.approved",
            invoice("US", invoice_id=uid("inv"), number=uid("N")[:21], code=uid("C")),
            tenant=tenant,
        )
        await bus.publish(sent)
        rejected = await outcome(outcomes, sent, "invoice")
        invoices = await entities(http, stack, tenant.realm_id, "Invoice")

    assert rejected.type == "sync.rejected"
    assert "invoices" in rejected.data["message"].lower()
    assert all(i.get("DocNumber") != sent.data["number"] for i in invoices)


async def test_a_blocked_connection_refuses_documents_until_fixed(stack: Stack, bus: Bus) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        realm = await create_company(http, stack.ends, country="GB")
        tenant = await connect_tenant(
            http, stack.ends, tenant_id=uid("tenant"), realm_id=realm, expected_currency="USD"
        )
        outcomes = await bus.listen(*OUTCOMES)
        sent = event("customer.upserted", customer(uid("C")), tenant=tenant)
        await bus.publish(sent)
        rejected = await outcome(outcomes, sent, "customer")

    assert tenant.connection["status"] == "blocked"
    assert "GBP" in (tenant.connection["blocked_reason"] or "")
    assert rejected.type == "sync.rejected"


async def test_a_vendor_edited_in_qbo_reaches_the_platform_but_our_own_writes_do_not(
    stack: Stack, bus: Bus
) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        tenant = await connected(http, stack, "US")
        outcomes = await bus.listen(*OUTCOMES)
        changes = await bus.listen("qbo.vendor.changed")
        sent = event("vendor.upserted", {"vendor_id": uid("ven"), "name": uid("Paper Co")}, tenant=tenant)
        await bus.publish(sent)
        written = await outcome(outcomes, sent, "vendor")
        seen: list[Envelope] = []
        echo = await wait_for(
            changes, lambda e: e.data.get("qbo_id") == written.data["qbo_id"], timeout=4, seen=seen
        )
        vendor = next(
            v
            for v in await entities(http, stack, tenant.realm_id, "Vendor")
            if v["Id"] == written.data["qbo_id"]
        )
        edit = {
            "Id": vendor["Id"],
            "SyncToken": vendor["SyncToken"],
            "sparse": True,
            "PrimaryPhone": {"FreeFormNumber": "0113 496 0000"},
        }
        act = await http.post(
            f"{stack.ends.sandbox}/admin/companies/{tenant.realm_id}/act/Vendor",
            json={"operation": "update", "body": edit},
        )
        act.raise_for_status()
        changed = await wait_for(changes, lambda e: e.data.get("qbo_id") == vendor["Id"], timeout=30)

    assert written.type == "sync.succeeded"
    assert echo is None, "our own write came back as someone else's change"
    assert changed is not None, "the edit made in QBO did not reach the platform"
    assert changed.data["operation"] == "Update"
    assert changed.data["entity_data"]["PrimaryPhone"]["FreeFormNumber"] == "0113 496 0000"


async def test_one_trace_follows_an_approved_invoice_from_the_platform_to_its_qbo_write_and_outcome(
    stack: Stack, bus: Bus
) -> None:
    trace_id, platform_span = secrets.token_hex(16), secrets.token_hex(8)
    async with httpx.AsyncClient(timeout=20) as http:
        tenant = await connected(http, stack, "US")
        outcomes = await bus.listen(*OUTCOMES)
        sent = event(
            "invoice.approved",
            invoice("US", invoice_id=uid("inv"), number=uid("INV")[:21], code=uid("C").upper()),
            tenant=tenant,
        ).model_copy(update={"traceparent": f"00-{trace_id}-{platform_span}-01"})
        await bus.publish(sent)
        done = await outcome(outcomes, sent, "invoice")
    spans = stack.spans
    consumed = await spans.wait_for(
        lambda s: s.kind == CONSUMER and s.attr("messaging.message.id") == sent.id, timeout=SPAN_BOUND
    )
    write = await spans.wait_for(  # the realm is this test's own: its one invoice create
        lambda s: (
            s.kind == CLIENT
            and s.attr("qbo.realm_id") == tenant.realm_id
            and s.attr("qbo.endpoint") == "invoice"
            and s.attr("http.request.method") == "POST"
        ),
        timeout=SPAN_BOUND,
    )
    published = await spans.wait_for(
        lambda s: s.kind == PRODUCER and s.attr("messaging.message.id") == done.id, timeout=SPAN_BOUND
    )
    to_write = await spans.ancestry(write, root=platform_span, timeout=SPAN_BOUND)
    to_outcome = await spans.ancestry(published, root=platform_span, timeout=SPAN_BOUND)

    assert done.type == "sync.succeeded", done.data
    assert {s.trace_id for s in [consumed, *to_write, *to_outcome]} == {trace_id}
    assert (done.traceparent or "").split("-")[1:2] == [trace_id]
    assert consumed.service == "qbb-mapper"
    assert consumed.parent_id == platform_span
    # One tree under the platform's span: the mapper (consuming the event, or taking it up once the
    # company's lists are in) → the exporter consuming the export request → the QBO write, and the
    # sync.succeeded publish under that same exporter span.
    assert (to_write[1].service, to_write[1].kind) == ("qbb-exporter", CONSUMER)
    assert to_write[1].attr("cloudevents.event_type") == "qbo.export.requested"
    assert {s.service for s in to_write[2:]} == {"qbb-mapper"}
    assert to_outcome[1:] == to_write[1:]
    assert (published.service, published.attr("cloudevents.event_type")) == ("qbb-exporter", "sync.succeeded")
