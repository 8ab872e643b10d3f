"""Stale SyncTokens, expired tokens and revoked connections are recovered from without losing writes."""

from __future__ import annotations

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers.broker import publish
from tests.integration.exporter.kit import (
    FakeAuth,
    announce,
    announce_revoked,
    connect_realm,
    customer,
    entities,
    export,
    requests_log,
    serving_exporter,
    settings_for,
    wait_for_jobs,
)


async def test_a_stale_sync_token_is_re_read_and_the_update_lands(
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
        await publish(channel, namespace, customer(conn, platform_id="cus_s"))
        created = (await wait_for_jobs(engine, conn.connection_id, count=1))[0]
        # Someone edits the customer in QuickBooks: the exporter's SyncToken is now old.
        edited = await sandbox.post(
            f"/admin/companies/{conn.realm_id}/act/Customer",
            json={
                "operation": "update",
                "body": {"Id": created["qbo_id"], "SyncToken": "0", "sparse": True, "Notes": "edited in QBO"},
            },
        )
        edited.raise_for_status()
        update = export(conn, platform_id="cus_s", operation="update", payload={"CompanyName": "Renamed Ltd"})
        await publish(channel, namespace, update)
        jobs = await wait_for_jobs(engine, conn.connection_id, count=2)
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"]
    stored = next(
        c for c in await entities(sandbox, conn.realm_id, "Customer") if c["Id"] == created["qbo_id"]
    )
    assert (stored["CompanyName"], stored["Notes"], stored["SyncToken"]) == (
        "Renamed Ltd",
        "edited in QBO",
        "2",
    )
    assert "5010" in [r["fault_code"] for r in await requests_log(sandbox, conn.realm_id)]


async def test_an_access_token_refused_with_401_is_refreshed_once_and_the_write_lands(
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
        await publish(channel, namespace, customer(conn))
        await wait_for_jobs(engine, conn.connection_id, count=1)
        expired = await sandbox.post(
            "/admin/tokens/expire", json={"realm_id": conn.realm_id, "kind": "access"}
        )
        expired.raise_for_status()
        await publish(channel, namespace, customer(conn))
        jobs = await wait_for_jobs(engine, conn.connection_id, count=2)
    assert [(j["status"], j["attempts"]) for j in jobs] == [("succeeded", 1), ("succeeded", 1)]
    assert auth.grants[conn.connection_id].refreshes == 1
    assert "3200" in [r["fault_code"] for r in await requests_log(sandbox, conn.realm_id)]


async def test_jobs_of_a_revoked_connection_are_parked_and_complete_after_reconnecting(
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
        auth.grants[conn.connection_id].status = "revoked"
        await announce_revoked(channel, namespace, conn, engine)
        await wait_for_jobs(engine, conn.connection_id, count=0)
        for _ in range(3):
            await publish(channel, namespace, customer(conn))
        parked = await wait_for_jobs(
            engine, conn.connection_id, count=3, done=lambda j: j["status"] == "parked"
        )
        auth.grants[conn.connection_id].status = "active"
        await announce(channel, namespace, conn, engine)
        jobs = await wait_for_jobs(engine, conn.connection_id, count=3)
    assert [(j["status"], j["park_reason"]) for j in parked] == [("parked", "connection")] * 3
    assert [j["status"] for j in jobs] == ["succeeded"] * 3


async def test_a_connection_the_token_endpoint_calls_revoked_parks_its_jobs_until_reconnected(
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
        auth.grants[conn.connection_id].status = "reauthorization_required"
        await publish(channel, namespace, customer(conn))
        parked = await wait_for_jobs(
            engine, conn.connection_id, count=1, done=lambda j: j["status"] == "parked"
        )
        auth.grants[conn.connection_id].status = "active"
        await announce(channel, namespace, conn, engine)
        jobs = await wait_for_jobs(engine, conn.connection_id, count=1)
    assert (parked[0]["park_reason"], parked[0]["error_code"]) == (
        "connection",
        "connection_reauthorization_required",
    )
    assert jobs[0]["status"] == "succeeded"
