"""HTTP egress: a platform's webhook endpoints get its tenants' outcomes, signed per Standard
Webhooks; failures are retried on the schedule and every attempt is in the delivery log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from standardwebhooks import Webhook

from shared.contracts.envelope import Envelope
from tests.helpers.broker import broker_channel, publish
from tests.helpers.platforms import Platform, Registry, registry
from tests.helpers.receiver import Receiver, receiving
from tests.integration.auth.conftest import ADMIN, Auth, running_auth

pytestmark = pytest.mark.integration


@pytest.fixture
async def auth(database_url: str, amqp_url: str, namespace: str, sandbox_url: str) -> AsyncIterator[Auth]:
    async with running_auth(
        database_url=database_url,
        amqp_url=amqp_url,
        namespace=namespace,
        sandbox_url=sandbox_url,
        webhook_retry_schedule_seconds=(0.3, 0.3),
        webhook_poll_interval_seconds=0.1,
    ) as running:
        yield running


@pytest.fixture
async def platforms(auth: Auth) -> AsyncIterator[Registry]:
    async with registry(auth.http, auth.url, auth.settings.amqp_namespace) as made:
        yield made


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as running:
        yield running


async def endpoint(auth: Auth, platform: Platform, url: str, *types: str) -> dict[str, Any]:
    answer = await auth.http.post(
        f"/v1/platforms/{platform.platform_id}/webhook-endpoints",
        json={"url": url, "event_types": list(types or ("sync.*",))},
        headers=platform.auth_header,
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def succeeded_for(tenant_id: str) -> Envelope:
    data = {
        "object_type": "invoice",
        "platform_id": "inv_1",
        "qbo_id": "42",
        "operation": "create",
        "source_event_id": "evt-1",
    }
    return Envelope.new("sync.succeeded", data, tenant_id=tenant_id)


async def deliveries(auth: Auth, platform: Platform, endpoint_id: str) -> list[dict[str, Any]]:
    answer = await auth.http.get(
        f"/v1/platforms/{platform.platform_id}/webhook-endpoints/{endpoint_id}/deliveries", headers=ADMIN
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


async def test_only_the_tenants_platform_gets_the_outcome_signed_per_standard_webhooks(
    auth: Auth, amqp_url: str, platforms: Registry, receiver: Receiver
) -> None:
    a, b = await platforms.register(), await platforms.register()
    mine = await endpoint(auth, a, f"{receiver.url}/a")
    await endpoint(auth, b, f"{receiver.url}/b")
    await endpoint(auth, a, f"{receiver.url}/a-payments", "qbo.payment.received")
    sent = succeeded_for(a.tenants[0])
    async with broker_channel(amqp_url) as (_, channel):
        await publish(channel, auth.settings.amqp_namespace, sent)
        got = await receiver.wait_for("/a", 1, timeout=20)
    verified = Webhook(mine["secret"]).verify(got[0].body, got[0].headers)

    assert mine["secret"].startswith("whsec_")
    assert verified["id"] == sent.id
    assert verified["type"] == "sync.succeeded"
    assert verified["tenantid"] == a.tenants[0]
    assert receiver.at("/b") == []
    assert receiver.at("/a-payments") == []


async def test_a_failing_endpoint_is_retried_and_the_log_shows_every_attempt(
    auth: Auth, amqp_url: str, platforms: Registry, receiver: Receiver
) -> None:
    a = await platforms.register()
    flaky, broken = f"{receiver.url}/flaky", f"{receiver.url}/broken"
    receiver.failures.update({"/flaky": 2, "/broken": -1})
    flaky_id = (await endpoint(auth, a, flaky))["endpoint_id"]
    broken_id = (await endpoint(auth, a, broken))["endpoint_id"]
    async with broker_channel(amqp_url) as (_, channel):
        await publish(channel, auth.settings.amqp_namespace, succeeded_for(a.tenants[0]))
        await receiver.wait_for("/flaky", 3, timeout=20)
        await receiver.wait_for("/broken", 3, timeout=20)
    flaky_log = await _settled(auth, a, flaky_id, "succeeded")
    broken_log = await _settled(auth, a, broken_id, "failed")
    retried = await auth.http.post(
        f"/v1/platforms/{a.platform_id}/webhook-endpoints/{broken_id}/deliveries/{broken_log['delivery_id']}/retry",
        headers=a.auth_header,
    )
    await receiver.wait_for("/broken", 4, timeout=20)
    again = await _settled(auth, a, broken_id, "failed", attempts=4)

    assert [x["status_code"] for x in flaky_log["log"]] == [500, 500, 204]
    assert [x["status_code"] for x in broken_log["log"]] == [500, 500, 500]
    assert retried.status_code == 202
    assert [x["attempt"] for x in again["log"]] == [1, 2, 3, 4]
    assert len({r.headers["webhook-id"] for r in receiver.at("/broken")}) == 1


async def _settled(
    auth: Auth, platform: Platform, endpoint_id: str, status: str, attempts: int = 3
) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            found = await deliveries(auth, platform, endpoint_id)
            if found and found[0]["status"] == status and len(found[0]["log"]) >= attempts:
                return found[0]
            await asyncio.sleep(0.1)


async def test_another_platform_cannot_see_or_touch_an_endpoint(
    auth: Auth, platforms: Registry, receiver: Receiver
) -> None:
    a, b = await platforms.register(), await platforms.register()
    endpoint_id = (await endpoint(auth, a, f"{receiver.url}/a"))["endpoint_id"]
    base = f"/v1/platforms/{a.platform_id}/webhook-endpoints"

    answers = {
        "create": await auth.http.post(
            base, json={"url": f"{receiver.url}/x", "event_types": ["sync.*"]}, headers=b.auth_header
        ),
        "list": await auth.http.get(f"{base}/{endpoint_id}/deliveries", headers=b.auth_header),
        "delete": await auth.http.delete(f"{base}/{endpoint_id}", headers=b.auth_header),
    }
    own_delete = await auth.http.delete(f"{base}/{endpoint_id}", headers=a.auth_header)

    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 404)
    assert own_delete.status_code == 204


async def test_an_event_withheld_by_the_tenants_settings_reaches_no_endpoint(
    auth: Auth, amqp_url: str, platforms: Registry, receiver: Receiver
) -> None:
    a = await platforms.register()
    await endpoint(auth, a, f"{receiver.url}/a", "qbo.*.changed")
    data = {"entity": "Customer", "qbo_id": "58", "operation": "Update", "entity_data": {"Id": "58"}}
    held = Envelope.new(
        "qbo.customer.changed", data, tenant_id=a.tenants[0], withheld="customers sync to QuickBooks only"
    )
    passed = Envelope.new("qbo.customer.changed", {**data, "qbo_id": "59"}, tenant_id=a.tenants[0])
    async with broker_channel(amqp_url) as (_, channel):
        await publish(channel, auth.settings.amqp_namespace, held)
        await publish(channel, auth.settings.amqp_namespace, passed)  # one queue: in order after it
        got = await receiver.wait_for("/a", 1, timeout=20)
    async with auth.engine.connect() as conn:
        claimed = await conn.execute(
            text("SELECT message_id FROM auth.inbox_messages WHERE message_id IN (:held, :passed)"),
            {"held": held.dedup_key, "passed": passed.dedup_key},
        )

    assert [Envelope.model_validate_json(g.body).id for g in got] == [passed.id]
    # Passed over as it arrived: no transaction, no inbox row (it cost one per event before).
    assert claimed.scalars().all() == [passed.dedup_key]
