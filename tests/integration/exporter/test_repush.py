"""Re-push: a succeeded write sent to QuickBooks again, as the caller's tenant only."""

from __future__ import annotations

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers.broker import publish
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
from tests.integration.exporter.test_history import get_until_ok, issue_key


async def test_a_re_push_writes_the_succeeded_objects_data_again_over_a_change_made_in_quickbooks(
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
        name = uid("Pushed")
        payload = {"DisplayName": name, "Notes": "ours"}
        await publish(channel, namespace, export(conn, payload=payload, match=("DisplayName", name)))
        [job] = await wait_for_jobs(engine, conn.connection_id, count=1)
        [made] = [c for c in await entities(sandbox, conn.realm_id, "Customer") if c["DisplayName"] == name]
        changed = await sandbox.post(
            f"/admin/companies/{conn.realm_id}/act/Customer",
            json={"operation": "update", "body": {**made, "Notes": "edited in QuickBooks"}},
        )
        changed.raise_for_status()
        own = {"Authorization": f"Bearer {await issue_key(channel, namespace, conn.tenant_id)}"}
        other = {"Authorization": f"Bearer {await issue_key(channel, namespace, uid('someone-else'))}"}
        async with httpx.AsyncClient(base_url=url) as client:
            await get_until_ok(client, f"/v1/connections/{conn.connection_id}/jobs", own["Authorization"][7:])
            await get_until_ok(
                client, f"/v1/connections/{conn.connection_id}/jobs", other["Authorization"][7:]
            )
            foreign = await client.post(f"/v1/jobs/{job['id']}/repush", headers=other)
            pushed = await client.post(f"/v1/jobs/{job['id']}/repush", headers=own)
            jobs = await wait_for_jobs(engine, conn.connection_id, count=2)
    assert job["status"] == "succeeded"
    assert foreign.status_code == 404
    assert pushed.status_code == 202, pushed.text
    assert pushed.json()["operation"] == "update"
    [again] = [j for j in jobs if j["id"] == pushed.json()["id"]]
    assert (again["status"], again["qbo_id"]) == ("succeeded", job["qbo_id"])
    [now] = [c for c in await entities(sandbox, conn.realm_id, "Customer") if c["DisplayName"] == name]
    assert now["Notes"] == "ours"


async def test_only_a_succeeded_create_or_update_is_re_pushed(
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
        await publish(channel, namespace, customer(conn, "z" * 600))  # QBO refuses the name: failed
        [job] = await wait_for_jobs(engine, conn.connection_id, count=1)
        key = await issue_key(channel, namespace, conn.tenant_id)
        async with httpx.AsyncClient(base_url=url) as client:
            await get_until_ok(client, f"/v1/connections/{conn.connection_id}/jobs", key)
            refused = await client.post(
                f"/v1/jobs/{job['id']}/repush", headers={"Authorization": f"Bearer {key}"}
            )
            unknown = await client.post(
                "/v1/jobs/no-such-job/repush", headers={"Authorization": f"Bearer {key}"}
            )
    assert job["status"] == "failed"
    assert refused.status_code == 409
    assert unknown.status_code == 404
