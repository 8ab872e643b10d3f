"""Publish → consume → DB write + outbox in one transaction → relay → another consumer."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts import decode_data
from shared.contracts.bridge import SyncSucceeded
from shared.contracts.envelope import Envelope
from shared.messaging import topology
from tests.helpers.broker import bind_probe, broker_channel, envelopes, publish
from tests.helpers.factories import customer_upserted
from tests.helpers.running import applied_counts, serving_testkit, wait_for_applied

pytestmark = pytest.mark.integration


async def test_event_is_applied_and_its_outcome_reaches_another_consumer(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    event = customer_upserted(customer_id="cus_1")
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(channel, clean_namespace, ["sync.succeeded"])
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            await publish(channel, clean_namespace, event)
            received = await envelopes(probe, count=1, timeout=10)

    assert await applied_counts(engine) == (1, 1)
    assert len(received) == 1
    outcome = decode_data(received[0])
    assert isinstance(outcome, SyncSucceeded)
    assert outcome.platform_id == "cus_1"
    assert outcome.source_event_id == event.id
    assert received[0].causationid == event.id
    assert received[0].correlation_id == event.id
    assert received[0].tenantid == event.tenantid


async def test_a_redelivered_event_has_no_second_effect(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    event = customer_upserted()
    async with broker_channel(amqp_url) as (_, channel):
        probe = await bind_probe(channel, clean_namespace, ["sync.succeeded"])
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            for _ in range(3):
                await publish(channel, clean_namespace, event)
            await publish(channel, clean_namespace, customer_upserted())  # a marker behind them
            assert await wait_for_applied(engine, at_least=2, timeout=10) == 2
            received = await envelopes(probe, count=3, timeout=3)

    assert await applied_counts(engine) == (2, 2)
    assert len(received) == 2


async def test_an_event_no_consumer_is_bound_for_is_kept_in_the_unrouted_queue(
    amqp_url: str, clean_namespace: str
) -> None:
    event = customer_upserted()
    async with broker_channel(amqp_url) as (_, channel):
        await publish(channel, clean_namespace, event)  # no service has declared its queues
        unrouted = await channel.declare_queue(
            topology.unrouted_name(clean_namespace), durable=True, arguments={"x-queue-type": "quorum"}
        )
        kept = await envelopes(unrouted, count=1, timeout=5)

    assert [e.id for e in kept] == [event.id]


async def test_two_tenants_may_use_the_same_event_id_and_both_are_applied(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    first = customer_upserted(tenant_id="tenant-a")
    second = Envelope.new(
        "customer.upserted", first.data, tenant_id="tenant-b", source="other-platform", event_id=first.id
    )
    async with broker_channel(amqp_url) as (_, channel):
        async with serving_testkit(database_url, amqp_url, clean_namespace):
            await publish(channel, clean_namespace, first)
            await publish(channel, clean_namespace, second)
            applied = await wait_for_applied(engine, at_least=2, timeout=10)

    assert applied == 2
