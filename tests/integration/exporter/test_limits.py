"""Three exporter replicas share Intuit's per-realm limits; a throttled realm does not hold up the others."""

from __future__ import annotations

import contextlib

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers.broker import publish
from tests.integration.exporter.kit import (
    FakeAuth,
    connect_realm,
    entities,
    export,
    requests_log,
    serving_exporter,
    settings_for,
    uid,
    wait_for_jobs,
)

TIME_SCALE = 10.0  # a QBO minute lasts 6 s, a second 100 ms, in the sandbox and in the replicas
PER_REALM = 30


async def test_three_replicas_land_every_write_within_limits_and_a_throttled_realm_waits_alone(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    (await sandbox.put("/admin/limits", json={"time_scale": TIME_SCALE})).raise_for_status()
    try:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(3):
                settings = settings_for(
                    database_url,
                    amqp_url,
                    namespace,
                    auth_url=auth.url,
                    qbo_time_scale=TIME_SCALE,
                    throttle_pause_seconds=100.0,
                    claim_limit=20,
                )
                await stack.enter_async_context(serving_exporter(settings))
            throttled, *others = [
                await connect_realm(sandbox, auth, channel, namespace, engine) for _ in range(3)
            ]
            # Calls taking 300 ms make the concurrency cap matter; one realm gets a 429 on its first call.
            for conn in [throttled, *others]:
                fault = {
                    "realm_id": conn.realm_id,
                    "latency_ms": 300,
                    "throttle_next": int(conn is throttled),
                }
                (await sandbox.put("/admin/faults", json=fault)).raise_for_status()
            names = {c.connection_id: [uid("Limits") for _ in range(PER_REALM)] for c in [throttled, *others]}
            for conn in [throttled, *others]:
                for name in names[conn.connection_id]:
                    await publish(channel, namespace, export(conn, payload={"DisplayName": name}))
            others_done = [
                await wait_for_jobs(engine, c.connection_id, count=PER_REALM, timeout=60) for c in others
            ]
            throttled_done = await wait_for_jobs(engine, throttled.connection_id, count=PER_REALM, timeout=60)
    finally:
        (await sandbox.put("/admin/limits", json={})).raise_for_status()
        (await sandbox.delete("/admin/faults")).raise_for_status()
    for jobs in [*others_done, throttled_done]:
        assert [j["status"] for j in jobs] == ["succeeded"] * PER_REALM
    # The throttled realm pauses only a second of QBO time (100 ms here) and its lookups wait it out,
    # so it no longer finishes after the others; the pause itself is proven in test_qbo_plumbing.
    for conn in [throttled, *others]:
        stored = [c["DisplayName"] for c in await entities(sandbox, conn.realm_id, "Customer")]
        assert all(stored.count(n) == 1 for n in names[conn.connection_id])
        faults = [r["fault_code"] for r in await requests_log(sandbox, conn.realm_id) if r["fault_code"]]
        assert faults == (["3001"] if conn is throttled else [])
