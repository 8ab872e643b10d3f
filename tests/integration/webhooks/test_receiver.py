"""The receiver: only signed bodies are stored, once each; unknown realms are kept and reported."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from services.webhooks import handlers, models
from shared.db import create_engine
from shared.qbo.signature import sign
from tests.helpers.broker import bind_probe, broker_channel, delete_namespace
from tests.helpers.sandbox import free_port
from tests.integration.webhooks.conftest import (
    ADMIN_KEY,
    VERIFIER,
    events_until,
    legacy_body,
    serving_webhooks,
)

pytestmark = pytest.mark.integration

OLD_TOKEN = "previous-verifier-token-0002"


@pytest.fixture
async def receiver(database_url: str, amqp_url: str, namespace: str) -> AsyncIterator[httpx.AsyncClient]:
    """The service alone (no QBO needed), accepting the current and the previous verifier token."""
    async with serving_webhooks(
        database_url,
        amqp_url,
        namespace,
        port=free_port(),
        tokens=None,
        webhook_verifier_token=f"{VERIFIER},{OLD_TOKEN}",
    ) as client:
        yield client
    await delete_namespace(amqp_url, namespace, [handlers.router])


async def _stored(database_url: str, body: bytes) -> int:
    import hashlib

    engine = create_engine(database_url, application_name="qbb-tests", pool_size=1)
    try:
        async with engine.connect() as conn:
            d = models.deliveries
            stmt = select(func.count()).where(d.c.body_sha256 == hashlib.sha256(body).hexdigest())
            return int((await conn.execute(stmt)).scalar_one())
    finally:
        await engine.dispose()


def _body(**extra: str) -> bytes:
    realm = f"9{uuid.uuid4().int % 10**15:015d}"
    entity = {
        "name": "Customer",
        "id": "1",
        "operation": "Delete",
        "lastUpdated": "2026-01-01T00:00:00Z",
        **extra,
    }
    return legacy_body(realm, entity)


async def test_a_signed_body_is_stored_once_and_a_replay_recognised(
    receiver: httpx.AsyncClient, database_url: str
) -> None:
    body = _body()
    first = await receiver.post(
        "/v1/webhooks/qbo", content=body, headers={"intuit-signature": sign(body, VERIFIER)}
    )
    again = await receiver.post(
        "/v1/webhooks/qbo", content=body, headers={"intuit-signature": sign(body, VERIFIER)}
    )

    assert (first.status_code, first.json()) == (200, {"status": "stored", "changes": 1})
    assert again.json()["status"] == "duplicate"
    assert await _stored(database_url, body) == 1


async def test_the_previous_verifier_token_still_works_during_a_rotation(
    receiver: httpx.AsyncClient, database_url: str
) -> None:
    body = _body()
    answer = await receiver.post(
        "/v1/webhooks/qbo", content=body, headers={"intuit-signature": sign(body, OLD_TOKEN)}
    )
    assert answer.status_code == 200
    assert await _stored(database_url, body) == 1


@pytest.mark.parametrize("case", ["missing", "wrong", "another body", "another token"])
async def test_a_bad_signature_gets_401_and_nothing_is_stored(
    receiver: httpx.AsyncClient, database_url: str, case: str
) -> None:
    body = _body()
    headers = {
        "missing": {},
        "wrong": {"intuit-signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
        "another body": {"intuit-signature": sign(body + b" ", VERIFIER)},
        "another token": {"intuit-signature": sign(body, "some-other-apps-token")},
    }[case]
    answer = await receiver.post("/v1/webhooks/qbo", content=body, headers=headers)
    assert answer.status_code == 401
    assert await _stored(database_url, body) == 0
    metrics = (await receiver.get("/metrics")).text
    assert 'qbb_webhooks_refused_total{reason="bad_signature"}' in metrics


async def test_a_signed_cloudevents_body_is_stored(receiver: httpx.AsyncClient, database_url: str) -> None:
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "intuit.test",
        "type": "qbo.invoice.deleted.v1",
        "time": "2026-01-01T00:00:00Z",
        "intuitentityid": "5",
        "intuitaccountid": "123",
        "data": {},
    }
    body = json.dumps([event]).encode()
    answer = await receiver.post(
        "/v1/webhooks/qbo", content=body, headers={"intuit-signature": sign(body, VERIFIER)}
    )
    assert answer.json() == {"status": "stored", "changes": 1}
    assert await _stored(database_url, body) == 1


async def test_a_signed_malformed_body_gets_400_naming_the_problem(
    receiver: httpx.AsyncClient, database_url: str
) -> None:
    body = b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": {}}]}'
    answer = await receiver.post(
        "/v1/webhooks/qbo", content=body, headers={"intuit-signature": sign(body, VERIFIER)}
    )
    assert answer.status_code == 400
    assert "eventNotifications[0]" in answer.text
    assert await _stored(database_url, body) == 0


async def test_a_five_megabyte_body_is_taken_and_an_oversized_one_refused(
    database_url: str, amqp_url: str, namespace: str
) -> None:
    big = _body(padding="x" * 5_000_000)
    async with serving_webhooks(
        database_url, amqp_url, namespace, port=free_port(), tokens=None, webhook_max_body_bytes=6_000_000
    ) as client:
        taken = await client.post(
            "/v1/webhooks/qbo", content=big, headers={"intuit-signature": sign(big, VERIFIER)}
        )
        huge = big + b" " * 1_100_000
        refused = await client.post(
            "/v1/webhooks/qbo", content=huge, headers={"intuit-signature": sign(huge, VERIFIER)}
        )
    await delete_namespace(amqp_url, namespace, [handlers.router])
    assert taken.status_code == 200
    assert refused.status_code == 413
    assert await _stored(database_url, big) == 1


async def test_a_change_for_an_unknown_realm_is_kept_reported_and_processed_once_it_connects(
    database_url: str, amqp_url: str, namespace: str
) -> None:
    from tests.integration.webhooks.conftest import Stack

    realm = f"8{uuid.uuid4().int % 10**15:015d}"
    body = legacy_body(
        realm, {"name": "Customer", "id": "77", "operation": "Delete", "lastUpdated": "2026-01-01T00:00:00Z"}
    )
    async with (
        serving_webhooks(database_url, amqp_url, namespace, port=free_port(), tokens=None) as client,
        broker_channel(amqp_url) as (_, channel),
    ):
        probe = await bind_probe(channel, namespace, ["qbo.customer.changed"])
        await client.post(
            "/v1/webhooks/qbo", content=body, headers={"intuit-signature": sign(body, VERIFIER)}
        )
        engine = create_engine(database_url, application_name="qbb-tests", pool_size=1)
        world = Stack(None, client, engine, amqp_url, namespace, {}, None, 0)  # type: ignore[arg-type]
        try:
            assert await world.outcome(realm, "Customer", "77") == "unknown_realm:None"
            listed = (
                await client.get(
                    "/v1/webhooks/unknown-realms", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
                )
            ).json()
            assert realm in [r["realm_id"] for r in listed]

            tenant, connection = f"tenant-{uuid.uuid4().hex[:8]}", f"conn-{uuid.uuid4().hex[:12]}"
            await world.announce(tenant_id=tenant, connection_id=connection, realm_id=realm)
            world.connection_ids.append(connection)
            event, _ = await events_until(probe, lambda e: e.data.get("qbo_id") == "77", timeout=30)
            assert (event.data["operation"], event.tenantid) == ("Delete", tenant)
        finally:
            await world.retire()
            await engine.dispose()
    await delete_namespace(amqp_url, namespace, [handlers.router])
