"""Queue depth, dead-letter depth and outbox lag are sampled into gauges; a missing queue is no error."""

from __future__ import annotations

import aio_pika
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_sessionmaker
from shared.messaging import topology
from shared.messaging.consumer import Consumer
from shared.messaging.gauges import Sampler
from tests.helpers import testkit
from tests.helpers.broker import broker_channel
from tests.helpers.factories import vendor_upserted

pytestmark = pytest.mark.integration


def _gauge(name: str, labels: dict[str, str]) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_the_sampler_reports_ready_and_dead_lettered_messages_and_the_oldest_outbox_event(
    engine: AsyncEngine, amqp_url: str, clean_namespace: str
) -> None:
    async with broker_channel(amqp_url) as (connection, channel):
        sampler = Sampler(
            connection=connection,
            router=testkit.router,
            sessionmaker=create_sessionmaker(engine),
            outbox_table=testkit.outbox,
            namespace=clean_namespace,
        )
        async with engine.begin() as conn:
            await conn.execute(
                insert(testkit.outbox).values(
                    message_id="gauge-test",
                    routing_key="x",
                    envelope={},
                    created_at=text("now() - interval '30 s'"),
                )
            )
        await sampler.sample_once()  # no queue declared yet: the round goes on to the outbox
        assert _gauge("qbb_outbox_pending", {"schema": "testkit"}) == 1

        await Consumer(
            connection=connection,
            router=testkit.router,
            sessionmaker=create_sessionmaker(engine),
            inbox_table=testkit.inbox,
            outbox_table=testkit.outbox,
            namespace=clean_namespace,
        ).declare()
        vendors = topology.queue_name("testkit.vendors", clean_namespace)
        for routing_key in (topology.dead_letter_queue_name(vendors),) * 2 + (vendors,) * 3:
            body = vendor_upserted().to_json_bytes()
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=routing_key)
        await sampler.sample_once()

    assert _gauge("qbb_queue_messages", {"queue": "testkit.vendors", "kind": "dlq"}) == 2
    assert _gauge("qbb_queue_messages", {"queue": "testkit.vendors", "kind": "work"}) == 3
    assert _gauge("qbb_queue_messages", {"queue": "testkit.customers", "kind": "work"}) == 0
    assert _gauge("qbb_outbox_pending", {"schema": "testkit"}) == 1
    assert (_gauge("qbb_outbox_lag_seconds", {"schema": "testkit"}) or 0) >= 30


def _open_channels(connection: aio_pika.abc.AbstractRobustConnection) -> int:
    """Channels the client holds open on ``connection`` (the broker closes its side of a failed one)."""
    transport = connection.transport
    assert transport is not None
    return len(transport.connection.channels)


async def test_sampling_queues_that_are_gone_does_not_pile_up_channels(
    engine: AsyncEngine, amqp_url: str, clean_namespace: str
) -> None:
    # A service whose queues were deleted under it (an operator's cleanup, a test's teardown) keeps
    # sampling: each missed passive declare must not leave a channel behind, or it gains channels
    # every 15 s for as long as it runs.
    async with broker_channel(amqp_url) as (connection, _):
        sampler = Sampler(
            connection=connection,
            router=testkit.router,
            sessionmaker=create_sessionmaker(engine),
            outbox_table=testkit.outbox,
            namespace=clean_namespace,
        )
        before = _open_channels(connection)
        for _ in range(5):
            await sampler.sample_once()
        after = _open_channels(connection)

    assert after == before
