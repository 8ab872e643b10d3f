"""``make demo``: the product's moment, narrated — start the stack, connect a GB and a US company
through the real OAuth consent page, send documents, record a payment in QuickBooks, and show
each step's latency. Leaves the stack running until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from scripts import stack
from scripts.journey import (
    DEMO_SETTINGS,
    Endpoints,
    PlatformBus,
    Tenant,
    add_tenant,
    apply_settings,
    connect_tenant,
    create_company,
    event,
    register_platform,
    until_reference_imported,
    wait_for,
)
from shared.contracts.envelope import Envelope

T = TypeVar("T")
RATE = {"US": "California", "GB": "20.0% S"}
OUTCOMES = ("sync.succeeded", "sync.failed", "sync.rejected")


@dataclass
class Timeline:
    rows: list[tuple[str, float, str]] = field(default_factory=list)

    async def step(self, what: str, action: Callable[[], Awaitable[T]], note: Callable[[T], str] = str) -> T:
        started = time.perf_counter()
        result = await action()
        elapsed = (time.perf_counter() - started) * 1000
        self.rows.append((what, elapsed, note(result)))
        print(f"  {elapsed:8.0f} ms  {what}: {note(result)}", flush=True)
        return result


def documents(country: str, code: str) -> list[tuple[str, dict[str, Any]]]:
    rate, n = RATE[country], uuid.uuid4().hex[:6].upper()
    customer = {"customer_id": f"cus_{code}", "code": code, "name": f"{code} Ltd", "email": "ap@example.com"}
    line = {
        "description": "Consulting",
        "quantity": "3",
        "unit_price": "120.00",
        "amount": "360.00",
        "tax_rate": rate,
    }
    return [
        ("customer.upserted", customer),
        (
            "invoice.approved",
            {
                "invoice_id": f"inv_{n}",
                "number": f"INV-{n}",
                "issue_date": "2026-11-20",
                "due_date": "2026-12-20",
                "customer": customer,
                "lines": [line],
            },
        ),
        (
            "credit_note.issued",
            {
                "credit_note_id": f"cn_{n}",
                "number": f"CN-{n}",
                "issue_date": "2026-11-21",
                "customer": customer,
                "lines": [line | {"quantity": "1", "amount": "120.00"}],
            },
        ),
        (
            "payment.recorded",
            {
                "payment_id": f"pay_{n}",
                "date": "2026-11-22",
                "amount": "100.00",
                "customer": {"code": code},
                "applied_to": [{"invoice_id": f"inv_{n}", "amount": "100.00"}],
            },
        ),
    ]


async def sync(bus: PlatformBus, outcomes: Any, envelope: Envelope) -> Envelope | None:
    await bus.publish(envelope)
    object_type = envelope.type.split(".")[0]  # customer, invoice, credit_note, payment
    return await wait_for(
        outcomes,
        lambda e: (
            e.type in OUTCOMES
            and e.data.get("source_event_id") == envelope.id
            and e.data.get("object_type") == object_type
        ),
        timeout=20,
    )


def describe(outcome: Envelope | None) -> str:
    if outcome is None:
        return "no outcome within 20 s (see the sync history)"
    if outcome.type == "sync.succeeded":
        return f"in QuickBooks as {outcome.data['object_type']} {outcome.data['qbo_id']}"
    return f"{outcome.type}: {outcome.data.get('message')}"


async def journey(
    http: httpx.AsyncClient,
    ends: Endpoints,
    bus: PlatformBus,
    country: str,
    tl: Timeline,
    *,
    platform_id: str,
) -> Tenant:
    print(f"\n{country} company", flush=True)
    realm = await tl.step("create a sandbox company", lambda: create_company(http, ends, country=country))
    tenant_id = f"demo-{country.lower()}-{realm}"
    await add_tenant(http, ends, platform_id=platform_id, tenant_id=tenant_id)
    tenant = await tl.step(
        "connect through the OAuth consent page",
        lambda: connect_tenant(http, ends, tenant_id=tenant_id, realm_id=realm),
        lambda t: f"connection {t.connection_id} ({t.connection.get('status')})",
    )
    await tl.step(
        "import of the company's lists",
        lambda: until_reference_imported(http, ends, tenant),
        lambda _: "accounts, tax codes, terms, items, customers, vendors mirrored",
    )
    await tl.step(
        "apply settings (default accounts)",
        lambda: apply_settings(http, ends, tenant, DEMO_SETTINGS),
        lambda version: f"settings version {version}",
    )
    await tl.step("readiness report", lambda: readiness(http, ends, tenant), summary)
    outcomes = await bus.listen(*OUTCOMES)
    code = f"ACME-{country}"
    for type_, data in documents(country, code):
        sent = event(type_, data, tenant=tenant)
        await tl.step(f"publish {type_}", lambda sent=sent: sync(bus, outcomes, sent), describe)  # type: ignore[misc]
    return tenant


async def readiness(http: httpx.AsyncClient, ends: Endpoints, tenant: Tenant) -> dict[str, Any]:
    report: dict[str, Any] = (
        await http.get(
            f"{ends.mapper}/v1/connections/{tenant.connection_id}/readiness", headers=tenant.auth_header
        )
    ).json()
    return report


def summary(report: dict[str, Any]) -> str:
    checks = report.get("checks", [])
    worst = [f"{c['name']}: {c['message']}" for c in checks if c["status"] != "ok"]
    return f"{report.get('status')} ({len(checks)} checks){'; ' + '; '.join(worst[:3]) if worst else ''}"


async def payment_in_qbo(
    http: httpx.AsyncClient, ends: Endpoints, bus: PlatformBus, tenant: Tenant, tl: Timeline
) -> None:
    received = await bus.listen("qbo.payment.received")
    invoices = (await http.get(f"{ends.sandbox}/admin/companies/{tenant.realm_id}/entities/Invoice")).json()
    open_invoice = next(i for i in invoices if float(i.get("Balance", 0)) > 0)
    body = {
        "CustomerRef": open_invoice["CustomerRef"],
        "TotalAmt": float(open_invoice["Balance"]),
        "Line": [
            {
                "Amount": float(open_invoice["Balance"]),
                "LinkedTxn": [{"TxnId": open_invoice["Id"], "TxnType": "Invoice"}],
            }
        ],
    }

    async def record_and_wait() -> Envelope | None:
        act = f"{ends.sandbox}/admin/companies/{tenant.realm_id}/act/Payment"
        (await http.post(act, json={"operation": "create", "body": body})).raise_for_status()
        return await wait_for(received, lambda e: True, timeout=60)

    await tl.step(
        "a person records a payment in QuickBooks → qbo.payment.received",
        record_and_wait,
        lambda e: "not received" if e is None else f"{e.data['amount']} applied to {e.data['applied_to']}",
    )


async def run(ends: Endpoints) -> None:
    tl = Timeline()
    async with httpx.AsyncClient(timeout=30) as http:
        platform = await tl.step(
            "register the demo platform (its own RabbitMQ user, confined to its prefix)",
            lambda: register_platform(http, ends, platform_id=f"demo-{uuid.uuid4().hex[:8]}", tenants=[]),
            lambda p: (
                f"{p['platform_id']}: publishes to {p['amqp']['ingress_exchange']} as "
                f"{p['amqp']['routing_key_prefix']}<type>, reads {p['amqp']['egress_exchange']}"
            ),
        )
    bus = await PlatformBus.open(platform["amqp"])
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            tenants = [
                await journey(http, ends, bus, country, tl, platform_id=platform["platform_id"])
                for country in ("GB", "US")
            ]
            print("", flush=True)
            await payment_in_qbo(http, ends, bus, tenants[0], tl)
    finally:
        await bus.close()
    print("\nLook for yourself:", flush=True)
    print(f"  what landed in 'QuickBooks':  {ends.sandbox}/", flush=True)
    for t in tenants:
        print(
            f"  sync history ({t.tenant_id}):  {ends.exporter}/v1/connections/{t.connection_id}/jobs"
            f"  (Authorization: Bearer {t.key})",
            flush=True,
        )
    print(
        f"  API docs: {ends.auth}/docs {ends.mapper}/docs {ends.exporter}/docs {ends.webhooks}/docs",
        flush=True,
    )


def main() -> None:
    infra = stack.find_infra()
    asyncio.run(stack.ensure_database(infra.database.url))
    asyncio.run(stack.migrate_all(infra.database.url))
    if busy := stack.busy_ports():
        raise SystemExit(f"make demo: ports {busy} are in use; stop what runs there (an earlier `make run`?)")
    env = {
        **stack.DEV_DEFAULTS,
        **os.environ,
        "QBB_DATABASE_URL": infra.database.url,
        "QBB_AMQP_URL": infra.broker.url,
    }
    supervisor = stack.Supervisor()
    stack.run_stack(env, supervisor=supervisor)
    stack.print_urls()
    ends = Endpoints(
        sandbox=f"http://127.0.0.1:{stack.SANDBOX_PORT}",
        **{n: f"http://127.0.0.1:{p}" for n, p in stack.SERVICES.items()},
    )
    try:
        asyncio.run(run(ends))
    finally:
        print("\nThe stack keeps running; Ctrl-C stops it.", flush=True)
        stack.supervise(supervisor)


if __name__ == "__main__":
    main()
