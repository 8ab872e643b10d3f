"""Reversals mapped by the mapper's rules and written by the exporter: payments and refunds voided."""

from __future__ import annotations

from typing import Any

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from services.mapper import service
from services.mapper.mapping import Target
from shared.contracts import CATALOGUE
from shared.contracts.envelope import Envelope
from tests.helpers.broker import bind_probe, envelopes, publish
from tests.integration.exporter.kit import (
    Conn,
    FakeAuth,
    connect_realm,
    entities,
    serving_exporter,
    settings_for,
    uid,
    wait_for_jobs,
)
from tests.integration.mapper.qbo_writer import mirror_of
from tests.unit.mapper import companies as c
from tests.unit.mapper.events import golden_events


async def mapped(
    sandbox: httpx.AsyncClient, conn: Conn, event_type: str, data: dict[str, Any]
) -> list[Envelope]:
    """The ``qbo.export.requested`` envelopes the mapper would publish for one platform event."""
    commands = service.plan(
        event_type,
        CATALOGUE[event_type].model.model_validate(data),
        target=Target(conn.connection_id, conn.realm_id, c.company("US")),
        settings=c.settings(),
        reference=await mirror_of(sandbox, conn.realm_id),
        source_event_id=uid("evt"),
    )
    return [
        Envelope.new("qbo.export.requested", cmd, tenant_id=conn.tenant_id, realm_id=conn.realm_id)
        for cmd in commands
    ]


async def send(channel: AbstractChannel, namespace: str, envelopes: list[Envelope]) -> None:
    for envelope in envelopes:
        await publish(channel, namespace, envelope)


async def test_a_voided_payment_is_voided_in_qbo_and_a_void_of_one_never_synced_is_reported_skipped(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    probe = await bind_probe(channel, namespace, ["sync.succeeded", "sync.failed"])
    settings = settings_for(database_url, amqp_url, namespace, auth_url=auth.url, wait_limit_seconds=2.0)
    async with serving_exporter(settings):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine, seed="sample")
        customer_code = uid("C")
        payment = {
            "payment_id": "pay_v",
            "date": "2026-11-10",
            "amount": "40.00",
            "customer": {"code": customer_code},
        }
        await send(channel, namespace, await mapped(sandbox, conn, "payment.recorded", payment))
        await wait_for_jobs(engine, conn.connection_id, count=2)
        voided = await mapped(sandbox, conn, "payment.voided", {"payment_id": "pay_v"})
        never = await mapped(sandbox, conn, "payment.voided", {"payment_id": "pay_never"})
        await send(channel, namespace, voided + voided + never)  # the void delivered twice
        jobs = await wait_for_jobs(engine, conn.connection_id, count=4)
        events = await envelopes(probe, count=4, timeout=10)

    # Separately published messages become jobs in the order they are consumed, not published.
    assert sorted((j["entity"], j["platform_id"], j["operation"], j["status"]) for j in jobs) == [
        ("Customer", customer_code, "create", "succeeded"),
        ("Payment", "pay_never", "void", "skipped"),
        ("Payment", "pay_v", "create", "succeeded"),
        ("Payment", "pay_v", "void", "succeeded"),
    ]
    paid = next(j for j in jobs if j["entity"] == "Payment" and j["operation"] == "create")
    stored = next(p for p in await entities(sandbox, conn.realm_id, "Payment") if p["Id"] == paid["qbo_id"])
    assert float(stored["TotalAmt"]) == 0
    by_platform_id = {(e.data["platform_id"], e.data["operation"]): e for e in events}
    assert set(by_platform_id) == {
        (customer_code, "create"),
        ("pay_v", "create"),
        ("pay_v", "void"),
        ("pay_never", "skipped"),
    }
    assert by_platform_id[("pay_never", "skipped")].data["reason"]


async def test_a_voided_refund_is_voided_in_qbo(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    refund = golden_events("US")["refund.issued"] | {"refund_id": "ref_v", "customer": {"code": uid("C")}}
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        await send(channel, namespace, await mapped(sandbox, conn, "refund.issued", refund))
        await wait_for_jobs(engine, conn.connection_id, count=2)
        await send(channel, namespace, await mapped(sandbox, conn, "refund.voided", {"refund_id": "ref_v"}))
        jobs = await wait_for_jobs(engine, conn.connection_id, count=3)

    # Separately published messages become jobs in the order they are consumed, not published.
    assert sorted((j["entity"], j["operation"], j["status"]) for j in jobs) == [
        ("Customer", "create", "succeeded"),
        ("RefundReceipt", "create", "succeeded"),
        ("RefundReceipt", "void", "succeeded"),
    ]
    made = next(j for j in jobs if j["entity"] == "RefundReceipt" and j["operation"] == "create")
    receipts = await entities(sandbox, conn.realm_id, "RefundReceipt")
    stored = next(r for r in receipts if r["Id"] == made["qbo_id"])
    assert float(stored["TotalAmt"]) == 0
