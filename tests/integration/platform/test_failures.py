"""Failing handlers and bad messages end in the dead-letter queue with a reason; the rest flows on."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts.envelope import Envelope
from shared.messaging import topology
from tests.helpers import testkit
from tests.helpers.broker import broker_channel, collect, headers_of, publish, publish_raw
from tests.helpers.factories import customer_upserted, vendor_upserted
from tests.helpers.running import serving_testkit, wait_for_applied

pytestmark = pytest.mark.integration


async def _dlq(channel, namespace: str, queue: str):  # type: ignore[no-untyped-def]
    name = topology.dead_letter_queue_name(topology.queue_name(queue, namespace))
    return await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})


async def test_a_handler_that_always_fails_dead_letters_after_its_retries_while_others_flow(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    poison = vendor_upserted(name="poison")
    good = [vendor_upserted() for _ in range(20)]
    async with broker_channel(amqp_url) as (_, channel):
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            dlq = await _dlq(channel, clean_namespace, "testkit.vendors")
            await publish(channel, clean_namespace, poison)
            for event in good:
                await publish(channel, clean_namespace, event)
            applied = await wait_for_applied(engine, at_least=20, timeout=10)
            dead = await collect(dlq, count=1, timeout=10)

    assert applied == 20
    assert len(dead) == 1
    assert Envelope.model_validate_json(dead[0].body).id == poison.id
    headers = headers_of(dead[0])
    assert "poison vendor cannot be applied" in str(headers["x-qbb-reason"])
    assert headers["x-qbb-attempts"] == len(testkit.FAST_RETRIES) + 1
    assert headers["x-qbb-kind"] == "failed"


@pytest.mark.parametrize(
    ("body", "routing_key", "reason"),
    [
        (b"{not json", "customer.upserted", "malformed JSON"),
        (
            json.dumps({"id": "x", "type": "customer.upserted"}).encode(),
            "customer.upserted",
            "invalid CloudEvents envelope: $.specversion",
        ),
        (
            json.dumps(
                {"specversion": "1.0", "id": "u1", "source": "s", "type": "customer.deleted", "data": {}}
            ).encode(),
            "customer.upserted",
            "unknown event type 'customer.deleted'",
        ),
        (
            customer_upserted(code="").to_json_bytes(),
            "customer.upserted",
            "invalid data for customer.upserted: $.data.code",
        ),
    ],
    ids=["malformed-json", "wrong-envelope", "unknown-type", "invalid-data"],
)
async def test_an_undecodable_message_is_dead_lettered_at_once_with_its_reason_and_the_consumer_stays_up(
    engine: AsyncEngine,
    database_url: str,
    amqp_url: str,
    clean_namespace: str,
    body: bytes,
    routing_key: str,
    reason: str,
) -> None:
    async with broker_channel(amqp_url) as (_, channel):
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            dlq = await _dlq(channel, clean_namespace, "testkit.customers")
            await publish_raw(channel, clean_namespace, body, routing_key=routing_key)
            await publish(channel, clean_namespace, customer_upserted())
            applied = await wait_for_applied(engine, at_least=1, timeout=10)
            dead = await collect(dlq, count=1, timeout=10)

    assert applied == 1
    assert len(dead) == 1
    assert dead[0].body == body
    headers = headers_of(dead[0])
    assert reason in str(headers["x-qbb-reason"])
    assert headers["x-qbb-kind"] == "invalid"
