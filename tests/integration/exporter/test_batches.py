"""Writes waiting for one realm go in batches; each item's fault is that item's alone."""

from __future__ import annotations

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers.broker import bind_probe, envelopes, publish
from tests.integration.exporter.kit import (
    FakeAuth,
    announce,
    announce_revoked,
    connect_realm,
    customer,
    entities,
    requests_log,
    serving_exporter,
    settings_for,
    uid,
    wait_for_jobs,
)


async def test_waiting_writes_go_in_one_batch_where_bad_items_fail_and_good_ones_land(
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
        # Parked behind a revoked connection, the writes pile up, then resume together.
        await announce_revoked(channel, namespace, conn, engine)
        good = [uid("Batch Customer") for _ in range(5)]
        bad = [uid("Too long") + "x" * 500 for _ in range(2)]
        for name in good + bad:
            await publish(channel, namespace, customer(conn, name))
        await wait_for_jobs(engine, conn.connection_id, count=7, done=lambda j: j["status"] == "parked")
        await announce(channel, namespace, conn, engine)
        jobs = await wait_for_jobs(engine, conn.connection_id, count=7)
        failures = await envelopes(probe, count=2, timeout=10)
    outcome = {j["match_value"]: (j["status"], j["error_code"]) for j in jobs}
    assert outcome == {**{n: ("succeeded", None) for n in good}, **{n: ("failed", "2050") for n in bad}}
    names = {c["DisplayName"] for c in await entities(sandbox, conn.realm_id, "Customer")}
    assert set(good) <= names
    calls = await requests_log(sandbox, conn.realm_id)
    writes = [r["operation"] for r in calls if r["path"].startswith("/v3/") and r["operation"] != "query"]
    assert writes == ["batch"]
    assert sorted(e.data["code"] for e in failures) == ["2050", "2050"]
