"""What webhooks alone would lose: CDC recovers undelivered changes; a broker outage delays, never loses."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from services.webhooks import models
from shared.apikeys import new_key
from shared.contracts.envelope import Envelope
from shared.qbo.signature import sign
from tests.helpers.broker import bind_probe, broker_channel
from tests.helpers.sandbox import free_port
from tests.integration.webhooks.conftest import (
    ADMIN_KEY,
    VERIFIER,
    TcpProxy,
    events_until,
    legacy_body,
    stack,
    wait_until,
)

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@contextlib.asynccontextmanager
async def _held_open(sock: socket.socket) -> AsyncIterator[None]:
    with sock:
        yield


async def test_a_webhook_the_sandbox_could_not_deliver_is_recovered_by_cdc(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    # A port held bound but never listening: refused for the whole test. A port merely found free
    # can be taken meanwhile by another run's service (same verifier token), which answers 200.
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))  # closed with the test (the last context below)
    dead_endpoint = f"http://127.0.0.1:{held.getsockname()[1]}/v1/webhooks/qbo"
    async with (
        stack(
            database_url, amqp_url, namespace, sandbox_url, webhook_url=dead_endpoint, cdc_settle_seconds=0
        ) as s,
        broker_channel(amqp_url) as (_, channel),
        _held_open(held),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.customer.changed"])
        _, connection_id, realm_id = await s.connect_company()
        customer = await s.act(
            realm_id, "Customer", "create", {"DisplayName": f"Missed {uuid.uuid4().hex[:8]}"}
        )

        async def delivery_failed() -> bool:
            attempts = (await s.sandbox.get("/admin/webhooks/deliveries")).json()
            return any(a["client_id"] == s.app["client_id"] and not a["ok"] for a in attempts)

        await wait_until(delivery_failed, timeout=60)
        scheduled = await s.service.post(f"/v1/connections/{connection_id}/catch-up", headers=ADMIN)
        assert scheduled.status_code == 202

        event, _ = await events_until(
            probe,
            lambda e: e.data.get("qbo_id") == customer["Id"] and e.data["operation"] != "Import",
            timeout=90,
        )
        assert event.data["operation"] == "Create"


async def test_the_receiver_answers_while_the_broker_is_away_and_the_event_follows(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    broker = urlsplit(amqp_url)
    proxy = TcpProxy(target_port=broker.port or 5672, port=free_port())
    await proxy.start()
    via_proxy = amqp_url.replace(f":{broker.port}", f":{proxy.port}")
    try:
        async with (
            stack(database_url, amqp_url, namespace, sandbox_url, service_amqp_url=via_proxy) as s,
            broker_channel(amqp_url) as (_, channel),
        ):
            probe = await bind_probe(channel, namespace, ["qbo.customer.changed"])
            _, _, realm_id = await s.connect_company()
            customer = await s.act(
                realm_id, "Customer", "create", {"DisplayName": f"Offline {uuid.uuid4().hex[:8]}"}
            )
            await proxy.stop()

            body = legacy_body(
                realm_id,
                {
                    "name": "Customer",
                    "id": customer["Id"],
                    "operation": "Create",
                    "lastUpdated": "2026-01-01T00:00:00Z",
                },
            )
            async with httpx.AsyncClient(base_url=str(s.service.base_url), timeout=3.0) as intuit:
                answer = await intuit.post(
                    "/v1/webhooks/qbo", content=body, headers={"intuit-signature": sign(body, VERIFIER)}
                )
            assert answer.status_code == 200

            await proxy.start()
            event, _ = await events_until(
                probe,
                lambda e: e.data.get("qbo_id") == customer["Id"] and e.data["operation"] == "Create",
                timeout=60,
            )
            assert event.data["entity_data"]["Id"] == customer["Id"]
    finally:
        await proxy.stop()


async def test_a_new_connection_gets_its_reference_lists_and_update_refreshes_only_known_ones(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with (
        stack(database_url, amqp_url, namespace, sandbox_url) as s,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.account.changed", "qbo.term.changed"])
        _, connection_id, _ = await s.connect_company()
        imported, _ = await events_until(probe, lambda e: e.type == "qbo.term.changed", timeout=30)
        assert imported.data["operation"] == "Import"
        jobs = models.import_jobs
        count = select(func.count()).where(jobs.c.connection_id == connection_id)
        assert await s.scalar(count) == 1  # connection.established was delivered twice

        requested = await s.service.post(f"/v1/connections/{connection_id}/update", headers=ADMIN)
        assert requested.status_code == 202
        job_url = f"/v1/connections/{connection_id}/imports/{requested.json()['job_id']}"

        async def finished() -> dict[str, object] | None:
            job: dict[str, object] = (await s.service.get(job_url, headers=ADMIN)).json()
            return job if job["status"] in ("done", "failed") else None

        job = await wait_until(finished, timeout=30)
        assert (job["status"], job["kind"]) == ("done", "update")
        assert isinstance(job["published"], int)
        assert job["published"] > 0


async def test_another_tenant_cannot_import_for_a_connection(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    async with stack(database_url, amqp_url, namespace, sandbox_url) as s:
        owner, connection_id, _ = await s.connect_company()
        key_id, key, key_hash = new_key()
        issued = {"key_id": key_id, "tenant_id": f"other-{owner}", "key_hash": key_hash}
        await s.emit(Envelope.new("tenant.api_key_issued", issued, tenant_id=f"other-{owner}"))
        url = f"/v1/connections/{connection_id}/import"

        async def mirrored() -> httpx.Response | None:
            answer = await s.service.post(url, headers={"Authorization": f"Bearer {key}"})
            return answer if answer.status_code != 401 else None

        answer = await wait_until(mirrored, timeout=15)
        assert answer.status_code == 404
