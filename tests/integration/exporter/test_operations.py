"""Voids, deletes and retried server errors, as QBO allows them per entity."""

from __future__ import annotations

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts.envelope import Envelope
from tests.helpers.broker import publish
from tests.integration.exporter.kit import (
    Conn,
    FakeAuth,
    connect_realm,
    customer,
    entities,
    export,
    serving_exporter,
    settings_for,
    uid,
    wait_for_jobs,
)


def invoice(conn: Conn, *, item_id: str, number: str, platform_id: str) -> Envelope:
    line = {
        "Amount": 20.0,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": 2, "UnitPrice": 10.0},
    }
    payload = {
        "DocNumber": number,
        "CustomerRef": {"$link": {"entity": "Customer", "platform_id": f"{platform_id}-cus"}},
        "Line": [line],
    }
    return export(
        conn, entity="Invoice", platform_id=platform_id, match=("DocNumber", number), payload=payload
    )


async def test_an_invoice_is_voided_a_customer_deactivated_and_an_unknown_void_skipped(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    # A void of what never reached QBO waits (bounded) for its create, then ends as skipped.
    settings = settings_for(database_url, amqp_url, namespace, auth_url=auth.url, wait_limit_seconds=2.0)
    async with serving_exporter(settings):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine, custom_txn_numbers=True)
        item = (await entities(sandbox, conn.realm_id, "Item"))[0]
        number = uid("V")[:20]
        await publish(channel, namespace, customer(conn, platform_id="inv_v-cus"))
        await publish(
            channel, namespace, invoice(conn, item_id=item["Id"], number=number, platform_id="inv_v")
        )
        await wait_for_jobs(engine, conn.connection_id, count=2)
        await publish(
            channel, namespace, export(conn, entity="Invoice", platform_id="inv_v", operation="void")
        )
        await publish(channel, namespace, export(conn, platform_id="inv_v-cus", operation="delete"))
        await publish(
            channel, namespace, export(conn, entity="Invoice", platform_id="never", operation="void")
        )
        jobs = await wait_for_jobs(engine, conn.connection_id, count=5)
    # The jobs of separately published messages are numbered as they are consumed, not as they
    # were published: name each by what it is, never by its position (the sandbox numbers ids per
    # entity, so the invoice's id can be a seeded customer's).
    outcomes = {(j["entity"], j["platform_id"], j["operation"]): j for j in jobs}
    assert {key: j["status"] for key, j in outcomes.items()} == {
        ("Customer", "inv_v-cus", "create"): "succeeded",
        ("Invoice", "inv_v", "create"): "succeeded",
        ("Invoice", "inv_v", "void"): "succeeded",
        ("Customer", "inv_v-cus", "delete"): "succeeded",
        ("Invoice", "never", "void"): "skipped",
    }
    stored = next(
        i for i in await entities(sandbox, conn.realm_id, "Invoice") if i.get("DocNumber") == number
    )
    assert float(stored["TotalAmt"]) == 0
    customer_id = outcomes[("Customer", "inv_v-cus", "create")]["qbo_id"]
    gone = next(c for c in await entities(sandbox, conn.realm_id, "Customer") if c["Id"] == customer_id)
    assert gone["Active"] is False


async def test_server_errors_are_retried_with_backoff_and_the_write_lands_once(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    settings = settings_for(database_url, amqp_url, namespace, auth_url=auth.url, retry_delays=(0.2,) * 20)
    async with serving_exporter(settings):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        outage = {"realm_id": conn.realm_id, "error_rate": 1.0, "error_status": 503}
        (await sandbox.put("/admin/faults", json=outage)).raise_for_status()
        name = uid("Outage")
        await publish(channel, namespace, customer(conn, name))
        retrying = await wait_for_jobs(engine, conn.connection_id, count=1, done=lambda j: j["attempts"] >= 2)
        (await sandbox.delete("/admin/faults", params={"realm_id": conn.realm_id})).raise_for_status()
        jobs = await wait_for_jobs(engine, conn.connection_id, count=1)
    assert retrying[0]["error_category"] == "transient"
    assert retrying[0]["status"] in ("queued", "running")
    assert jobs[0]["status"] == "succeeded"
    assert [c["DisplayName"] for c in await entities(sandbox, conn.realm_id, "Customer")].count(name) == 1


async def test_a_write_that_times_out_is_resolved_by_lookup_and_lands_once(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    settings = settings_for(
        database_url,
        amqp_url,
        namespace,
        auth_url=auth.url,
        qbo_timeout_seconds=1.0,
        retry_delays=(0.2,) * 20,
    )
    async with serving_exporter(settings):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        hang = {"realm_id": conn.realm_id, "timeout_rate": 1.0, "path_contains": "/customer"}
        (await sandbox.put("/admin/faults", json=hang)).raise_for_status()
        name = uid("Timeout")
        await publish(channel, namespace, customer(conn, name))
        doubted = await wait_for_jobs(engine, conn.connection_id, count=1, done=lambda j: j["in_doubt"])
        (await sandbox.delete("/admin/faults", params={"realm_id": conn.realm_id})).raise_for_status()
        jobs = await wait_for_jobs(engine, conn.connection_id, count=1)
    assert doubted[0]["error_code"] == "qbo_unreachable"
    assert jobs[0]["status"] == "succeeded"
    assert [c["DisplayName"] for c in await entities(sandbox, conn.realm_id, "Customer")].count(name) == 1
