"""The sync history API: every job with its outcome, tenant-scoped, with retry and sync-now."""

from __future__ import annotations

import asyncio

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.apikeys import new_key
from shared.contracts.envelope import Envelope
from shared.contracts.internal import ApiKeyIssued
from tests.helpers.broker import publish
from tests.integration.exporter.kit import (
    ADMIN_KEY,
    FakeAuth,
    connect_realm,
    customer,
    serving_exporter,
    settings_for,
    wait_for_jobs,
)


async def issue_key(channel: AbstractChannel, namespace: str, tenant_id: str) -> str:
    key_id, key, key_hash = new_key()
    data = ApiKeyIssued(key_id=key_id, tenant_id=tenant_id, key_hash=key_hash)
    await publish(channel, namespace, Envelope.new("tenant.api_key_issued", data, tenant_id=tenant_id))
    return key


async def get_until_ok(client: httpx.AsyncClient, url: str, key: str) -> httpx.Response:
    """The mirrored key becomes usable once its event is consumed: wait for that, bounded."""
    async with asyncio.timeout(10):
        while (
            response := await client.get(url, headers={"Authorization": f"Bearer {key}"})
        ).status_code == 401:
            await asyncio.sleep(0.05)
    return response


async def test_the_history_lists_every_job_with_its_outcome_for_its_tenant_only(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)) as url:
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        await publish(channel, namespace, customer(conn))
        await publish(channel, namespace, customer(conn, "y" * 600))
        await wait_for_jobs(engine, conn.connection_id, count=2)
        own_key = await issue_key(channel, namespace, conn.tenant_id)
        other_key = await issue_key(channel, namespace, "someone-else")
        async with httpx.AsyncClient(base_url=url) as client:
            path = f"/v1/connections/{conn.connection_id}/jobs"
            everything = await get_until_ok(client, path, own_key)
            failed = await client.get(
                path, params={"status": "failed"}, headers={"Authorization": f"Bearer {own_key}"}
            )
            foreign = await get_until_ok(client, path, other_key)
    assert everything.status_code == 200
    assert sorted(j["status"] for j in everything.json()["jobs"]) == ["failed", "succeeded"]
    [job] = failed.json()["jobs"]
    assert job["error_code"] == "2050"
    assert job["last_error"]
    assert job["hint"]
    assert job["attempts"] == 1
    assert foreign.status_code == 404


async def test_a_failed_job_can_be_retried_and_sync_now_redrives_the_connection(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)) as url:
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        await publish(channel, namespace, customer(conn, "z" * 600))
        [job] = await wait_for_jobs(engine, conn.connection_id, count=1)
        async with httpx.AsyncClient(base_url=url, headers=admin) as client:
            retried = await client.post(f"/v1/jobs/{job['id']}/retry")
            again = await wait_for_jobs(
                engine,
                conn.connection_id,
                count=1,
                done=lambda j: j["updated_at"] > job["updated_at"] and j["status"] == "failed",
            )
            redriven = await client.post(f"/v1/connections/{conn.connection_id}/sync-now")
            await wait_for_jobs(engine, conn.connection_id, count=1)
            running_elsewhere = await client.post(f"/v1/jobs/{job['id']}/retry")
    assert retried.status_code == 200
    assert retried.json()["status"] == "queued"
    assert again[0]["status"] == "failed"
    assert redriven.json()["requeued"] == 1
    assert running_elsewhere.status_code in (200, 409)  # failed again (200) unless still queued (409)
