"""Poison messages: each ends in the dead-letter queue with its reason, and the consumer goes on.

Every case here used to escape the consumer's error handling (neither acked nor dead-lettered), be
accepted, or reach Postgres and come back as "retry later".
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aio_pika import Message
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.messaging import topology
from tests.helpers import testkit
from tests.helpers.broker import broker_channel, collect, headers_of, publish
from tests.helpers.factories import customer_upserted
from tests.helpers.running import serving_testkit, wait_for_applied

pytestmark = pytest.mark.integration

QUEUE = "testkit.customers"


def _envelope_around(data_json: str) -> bytes:
    head = '{"specversion":"1.0","id":"%s","source":"s","type":"customer.upserted","tenantid":"t1","data":'
    return (head % uuid.uuid4()).encode() + data_json.encode() + b"}"


POISON: list[tuple[bytes, str, str]] = [
    (b"[" * 1000 + b"]" * 1000, "invalid", "nested deeper than"),
    (_envelope_around('{"x":' + "[" * 1000 + "]" * 1000 + "}"), "invalid", "nested deeper than"),
    (_envelope_around('{"customer_id":' + "7" * 5000 + "}"), "invalid", "5000 digits"),
    (
        _envelope_around('{"customer_id":"c1","code":"A","name":"' + "x" * 1_100_000 + '"}'),
        "too_large",
        "limit",
    ),
    (_envelope_around('{"customer_id":"c\\u0000d","code":"A","name":"n"}'), "invalid", "$.data.customer_id"),
    (_envelope_around('{"customer_id":"c\\ud800","code":"A","name":"n"}'), "invalid", "$.data.customer_id"),
    (_envelope_around('{"customer_id":"c1","code":"A","name":"n","x":NaN}'), "invalid", "NaN"),
]


async def _dlq(channel: Any, namespace: str) -> Any:
    name = topology.dead_letter_queue_name(topology.queue_name(QUEUE, namespace))
    return await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})


async def _assert_dead_lettered_then_flows(
    engine: AsyncEngine, database_url: str, amqp_url: str, namespace: str, message: Message
) -> dict[str, Any]:
    """Publish ``message`` then a good event; the first is dead-lettered, the second applied."""
    async with broker_channel(amqp_url) as (_, channel):
        async with serving_testkit(database_url, amqp_url, namespace):
            dlq = await _dlq(channel, namespace)
            exchange = await topology.declare_exchange(channel, namespace)
            await exchange.publish(message, routing_key="customer.upserted")
            await publish(channel, namespace, customer_upserted())
            dead = await collect(dlq, count=1, timeout=10)
            applied = await wait_for_applied(engine, at_least=1, timeout=10)
    assert applied == 1
    assert len(dead) == 1, "the poison message was not dead-lettered"
    assert dead[0].body == message.body
    return headers_of(dead[0])


@pytest.mark.parametrize(
    ("body", "kind", "reason"),
    POISON,
    ids=["bare-nesting", "nested-data", "5000-digit-int", "over-1MiB", "nul", "lone-surrogate", "nan"],
)
async def test_a_poison_body_is_dead_lettered_with_its_reason_and_the_next_message_is_handled(
    engine: AsyncEngine,
    database_url: str,
    amqp_url: str,
    clean_namespace: str,
    body: bytes,
    kind: str,
    reason: str,
) -> None:
    headers = await _assert_dead_lettered_then_flows(
        engine, database_url, amqp_url, clean_namespace, Message(body)
    )
    assert headers["x-qbb-kind"] == kind
    assert reason in str(headers["x-qbb-reason"])


@pytest.mark.parametrize("attempt", ["abc", "0", "-3", "99999999999999999999", "1.5"])
async def test_a_broken_attempt_header_is_dead_lettered_with_its_reason(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str, attempt: str
) -> None:
    message = Message(customer_upserted().to_json_bytes(), headers={"x-qbb-attempt": attempt})
    headers = await _assert_dead_lettered_then_flows(engine, database_url, amqp_url, clean_namespace, message)
    assert headers["x-qbb-kind"] == "invalid"
    assert "x-qbb-attempt" in str(headers["x-qbb-reason"])


async def test_the_amqp_type_property_never_becomes_a_metric_label(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    label = f"made-up-{uuid.uuid4().hex}"
    message = Message(b"{not json", type=label)
    headers = await _assert_dead_lettered_then_flows(engine, database_url, amqp_url, clean_namespace, message)
    assert headers["x-qbb-kind"] == "invalid"
    types = {
        sample.labels.get("type")
        for metric in REGISTRY.collect()
        if metric.name == "qbb_events_consumed"
        for sample in metric.samples
    }
    assert label not in types
    assert "unknown" in types


async def test_a_message_redelivered_up_to_the_crash_loop_limit_is_dead_lettered_with_a_reason(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    """A message that kept killing its consumer is set aside with a reason before the broker's limit."""
    sub = next(s for s in testkit.router.subscriptions if s.queue == QUEUE)
    poison = customer_upserted()
    async with broker_channel(amqp_url) as (_, channel):
        queue = await topology.declare_consumer_queue(
            channel,
            queue=topology.queue_name(QUEUE, clean_namespace),
            routing_keys=sub.routing_keys,
            retry_delays=sub.retry_delays,
            namespace=clean_namespace,
        )
        await publish(channel, clean_namespace, poison)
        for _ in range(topology.DELIVERY_LIMIT - 1):  # each return counts, as a consumer crash would
            got = await queue.get(timeout=5, fail=True)
            assert got is not None
            await got.reject(requeue=True)
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            dlq = await _dlq(channel, clean_namespace)
            dead = await collect(dlq, count=1, timeout=10)
            good = customer_upserted()
            await publish(channel, clean_namespace, good)
            await wait_for_applied(engine, at_least=1, timeout=10)
    async with engine.connect() as conn:
        handled = set((await conn.execute(select(testkit.applied.c.event_id))).scalars())
    assert handled == {good.id}, "the poison message must not be handled, the next one must"
    assert len(dead) == 1
    assert json.loads(dead[0].body)["id"] == poison.id
    headers = headers_of(dead[0])
    assert headers["x-qbb-kind"] == "crash_loop"
    assert "delivered" in str(headers["x-qbb-reason"])
