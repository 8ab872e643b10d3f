"""Exactly one QBO object per platform object, whatever happens to the reply or the process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers.broker import publish
from tests.helpers.infra import die_with_parent
from tests.helpers.sandbox import free_port
from tests.integration.exporter.kit import (
    FakeAuth,
    announce,
    announce_revoked,
    connect_realm,
    customer,
    entities,
    export,
    serving_exporter,
    settings_for,
    uid,
    wait_for_jobs,
)

ROOT = Path(__file__).resolve().parents[3]


class LosingReplies(httpx.AsyncBaseTransport):
    """The network losing the replies of the first ``count`` QBO writes after QBO made them."""

    def __init__(self, count: int) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.left = count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        is_write = request.method == "POST" and "/v3/company/" in request.url.path
        if is_write and not request.url.path.endswith("/query") and self.left > 0:
            self.left -= 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("reply lost", request=request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_writes_whose_replies_are_lost_are_looked_up_not_repeated(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    settings = settings_for(database_url, amqp_url, namespace, auth_url=auth.url)
    lossy = LosingReplies(count=2)
    async with serving_exporter(settings, transport=lossy):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        await announce_revoked(channel, namespace, conn, engine)  # writes pile up, then go together
        matched = [uid("Lost Reply") for _ in range(3)]
        unmatched = uid("No Key")
        for name in matched:
            await publish(channel, namespace, customer(conn, name))
        await publish(channel, namespace, export(conn, payload={"DisplayName": unmatched}))
        await wait_for_jobs(engine, conn.connection_id, count=4, done=lambda j: j["status"] == "parked")
        await announce(channel, namespace, conn, engine)
        jobs = await wait_for_jobs(engine, conn.connection_id, count=4)
    names = [c["DisplayName"] for c in await entities(sandbox, conn.realm_id, "Customer")]
    assert lossy.left == 0
    assert {n: names.count(n) for n in [*matched, unmatched]} == {n: 1 for n in [*matched, unmatched]}
    assert [(j["status"], j["in_doubt"]) for j in jobs] == [("succeeded", True)] * 4


def spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.exporter"], cwd=ROOT, env=env, preexec_fn=die_with_parent
    )


async def start_exporter(
    database_url: str, amqp_url: str, namespace: str, auth_url: str
) -> subprocess.Popen[bytes]:
    """``python -m services.exporter`` as its own OS process, once it answers /readyz."""
    port = free_port()
    env = {
        **os.environ,
        "QBB_DATABASE_URL": database_url,
        "QBB_AMQP_URL": amqp_url,
        "QBB_AMQP_NAMESPACE": namespace,
        "QBB_HTTP_PORT": str(port),
        "QBB_ENVIRONMENT": "test",
        "QBB_LOG_LEVEL": "WARNING",
        "QBB_AUTH_INTERNAL_URL": auth_url,
        "QBB_LEASE_SECONDS": "2",
        "QBB_POLL_SECONDS": "0.2",
    }
    process = spawn(env)
    async with asyncio.timeout(60), httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "the exporter process exited"
            await asyncio.sleep(0.1)


async def test_an_exporter_killed_mid_write_leaves_exactly_one_object_per_export(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    process = await start_exporter(database_url, amqp_url, namespace, auth.url)
    try:
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        # Writes to this realm take 1.5 s, so the process dies while QBO is making them.
        slow = {"realm_id": conn.realm_id, "latency_ms": 1500, "path_contains": "/customer"}
        (await sandbox.put("/admin/faults", json=slow)).raise_for_status()
        matched, unmatched = uid("Killed"), uid("Killed No Key")
        await announce_revoked(channel, namespace, conn, engine)  # both writes wait, then start together
        await publish(channel, namespace, customer(conn, matched))
        await publish(channel, namespace, export(conn, payload={"DisplayName": unmatched}))
        await wait_for_jobs(engine, conn.connection_id, count=2, done=lambda j: j["status"] == "parked")
        await announce(channel, namespace, conn, engine)
        running = await wait_for_jobs(
            engine, conn.connection_id, count=2, done=lambda j: j["status"] == "running"
        )
        assert [j["status"] for j in running] == ["running", "running"]
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)
    (await sandbox.delete("/admin/faults", params={"realm_id": conn.realm_id})).raise_for_status()
    async with serving_exporter(
        settings_for(database_url, amqp_url, namespace, auth_url=auth.url, lease_seconds=2)
    ):
        jobs = await wait_for_jobs(engine, conn.connection_id, count=2)
    names = [c["DisplayName"] for c in await entities(sandbox, conn.realm_id, "Customer")]
    assert (names.count(matched), names.count(unmatched)) == (1, 1)
    assert [(j["status"], j["in_doubt"]) for j in jobs] == [("succeeded", True)] * 2
