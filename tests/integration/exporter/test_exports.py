"""The exporter writes exports to the sandbox exactly once, in dependency order, and reports them."""

from __future__ import annotations

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers.broker import bind_probe, envelopes, publish
from tests.integration.exporter.kit import (
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


async def test_an_export_delivered_five_times_lands_once_and_is_reported_once(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    probe = await bind_probe(channel, namespace, ["sync.succeeded", "sync.failed"])
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        name = uid("Dup Customer")
        envelope = customer(conn, name, platform_id="cus_dup")
        for _ in range(5):
            await publish(channel, namespace, envelope)
        # The mapper re-publishing the same source event under a new envelope id is a duplicate too.
        again = customer(conn, name, platform_id="cus_dup", source_event_id=envelope.data["source_event_id"])
        await publish(channel, namespace, again)
        jobs = await wait_for_jobs(engine, conn.connection_id, count=1)
        events = await envelopes(probe, count=2, timeout=3)
    assert [j["status"] for j in jobs] == ["succeeded"]
    assert [c["DisplayName"] for c in await entities(sandbox, conn.realm_id, "Customer")].count(name) == 1
    assert [(e.type, e.data["platform_id"], e.data["qbo_id"]) for e in events] == [
        ("sync.succeeded", "cus_dup", jobs[0]["qbo_id"])
    ]


async def test_the_outcome_of_a_history_write_names_its_lane_and_a_live_ones_none(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    """The mapper follows a bulk batch by its lines' outcomes alone: it knows them by ``lane``."""
    probe = await bind_probe(channel, namespace, ["sync.succeeded", "sync.failed"])
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        await publish(channel, namespace, customer(conn, platform_id="cus_live"))
        await publish(channel, namespace, customer(conn, platform_id="cus_line", lane="history"))
        refused = export(conn, platform_id="cus_bad", payload={"DisplayName": ""}, lane="history")
        await publish(channel, namespace, refused)
        await wait_for_jobs(engine, conn.connection_id, count=3)
        events = await envelopes(probe, count=3, timeout=10)
    assert sorted((e.data["platform_id"], e.type, e.lane) for e in events) == [
        ("cus_bad", "sync.failed", "history"),
        ("cus_line", "sync.succeeded", "history"),
        ("cus_live", "sync.succeeded", None),
    ]


async def test_an_invoice_waits_for_its_customer_and_refers_to_its_qbo_id(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine, custom_txn_numbers=True)
        item = (await entities(sandbox, conn.realm_id, "Item"))[0]
        number = uid("INV")[:20]
        invoice = export(
            conn,
            entity="Invoice",
            platform_id="inv_1",
            match=("DocNumber", number),
            payload={
                "DocNumber": number,
                "CustomerRef": {"$link": {"entity": "Customer", "platform_id": "cus_1"}},
                "Line": [
                    {
                        "Amount": 10.0,
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": item["Id"]},
                            "Qty": 1,
                            "UnitPrice": 10.0,
                        },
                    }
                ],
            },
        )
        await publish(channel, namespace, invoice)
        waiting = await wait_for_jobs(
            engine, conn.connection_id, count=1, done=lambda j: j["status"] == "parked"
        )
        await publish(channel, namespace, customer(conn, platform_id="cus_1"))
        jobs = await wait_for_jobs(engine, conn.connection_id, count=2)
    assert [(j["status"], j["park_reason"]) for j in waiting] == [("parked", "dependency")]
    by_platform = {j["platform_id"]: j for j in jobs}
    assert {j["status"] for j in jobs} == {"succeeded"}
    stored = [i for i in await entities(sandbox, conn.realm_id, "Invoice") if i.get("DocNumber") == number]
    assert len(stored) == 1
    assert stored[0]["CustomerRef"]["value"] == by_platform["cus_1"]["qbo_id"]


async def test_an_object_already_in_qbo_with_the_match_key_is_linked_not_duplicated(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    probe = await bind_probe(channel, namespace, ["sync.succeeded"])
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        name = uid("Existing")
        made = await sandbox.post(
            f"/admin/companies/{conn.realm_id}/act/Customer",
            json={"operation": "create", "body": {"DisplayName": name}},
        )
        made.raise_for_status()
        await publish(channel, namespace, customer(conn, name))
        jobs = await wait_for_jobs(engine, conn.connection_id, count=1)
        events = await envelopes(probe, count=1, timeout=10)
    assert jobs[0]["qbo_id"] == made.json()["Customer"]["Id"]
    assert [c["DisplayName"] for c in await entities(sandbox, conn.realm_id, "Customer")].count(name) == 1
    assert events[0].data["operation"] == "link"


async def test_a_validation_fault_fails_at_once_with_its_reason_and_sync_failed(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    probe = await bind_probe(channel, namespace, ["sync.failed"])
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        await publish(channel, namespace, customer(conn, "x" * 501))
        jobs = await wait_for_jobs(engine, conn.connection_id, count=1)
        events = await envelopes(probe, count=1, timeout=10)
    job = jobs[0]
    assert (job["status"], job["attempts"], job["error_code"]) == ("failed", 1, "2050")
    assert "longer" in job["last_error"]
    assert job["hint"]
    assert job["intuit_tid"]
    assert events[0].data["code"] == "2050"
    assert events[0].data["qbo_fault"]["Fault"]["Error"][0]["code"] == "2050"


async def test_a_new_create_for_an_object_already_linked_updates_it_instead_of_duplicating(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        name = uid("Linked")
        await publish(channel, namespace, export(conn, platform_id="cus_l", payload={"DisplayName": name}))
        await wait_for_jobs(engine, conn.connection_id, count=1)
        again = {"DisplayName": name, "CompanyName": "Second Event Ltd"}
        await publish(channel, namespace, export(conn, platform_id="cus_l", payload=again))
        jobs = await wait_for_jobs(engine, conn.connection_id, count=2)
    stored = [c for c in await entities(sandbox, conn.realm_id, "Customer") if c["DisplayName"] == name]
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"]
    assert len(stored) == 1
    assert stored[0]["CompanyName"] == "Second Event Ltd"
    assert jobs[0]["qbo_id"] == jobs[1]["qbo_id"]
