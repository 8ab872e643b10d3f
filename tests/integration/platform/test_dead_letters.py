"""Dead letters for the operator: listed with their reason without being lost, replayed to their queue."""

from __future__ import annotations

import asyncio

import pytest
from aio_pika import Message
from aio_pika.abc import AbstractRobustConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_sessionmaker
from shared.http import Resources
from shared.messaging import deadletters, topology
from shared.messaging.outbox import to_amqp
from tests.helpers import testkit
from tests.helpers.broker import broker_channel, publish
from tests.helpers.factories import customer_upserted, vendor_upserted
from tests.helpers.running import serving_testkit, settings_for, wait_for_applied

pytestmark = pytest.mark.integration

CUSTOMERS, VENDORS = "testkit.customers", "testkit.vendors"


async def _until_dead_lettered(
    connection: AbstractRobustConnection, queue: str, count: int
) -> deadletters.DeadLetterQueueOut:
    async with asyncio.timeout(15):
        while (found := await deadletters.peek(connection, queue=queue, limit=10)).count < count:
            await asyncio.sleep(0.1)
    return found


async def test_a_dead_letter_is_listed_with_its_reason_and_stays_in_its_queue(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    queue = topology.queue_name(VENDORS, clean_namespace)
    poison = vendor_upserted(name="poison")
    async with (
        broker_channel(amqp_url) as (connection, channel),
        serving_testkit(database_url, amqp_url, clean_namespace),
    ):
        await publish(channel, clean_namespace, poison)
        first = await _until_dead_lettered(connection, queue, 1)
        again = await deadletters.peek(connection, queue=queue, limit=10)
    assert first.count == again.count == 1
    [shown] = first.messages
    assert (shown.message_id, shown.type, shown.kind) == (poison.id, "vendor.upserted", "failed")
    assert "poison vendor cannot be applied" in shown.reason
    assert shown.routing_key == "vendor.upserted"
    assert shown.replayable
    assert again.messages == first.messages


async def test_a_replayed_dead_letter_goes_back_to_its_queue_alone_and_leaves_the_dlq(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    queue = topology.queue_name(CUSTOMERS, clean_namespace)
    event = customer_upserted()
    # As the consumer leaves a message it gave up on (say, while a bug was deployed).
    given_up = to_amqp(event, headers={"x-qbb-reason": "a bug", "x-qbb-kind": "failed", "x-qbb-queue": queue})
    given_up.headers[topology.ROUTING_KEY_HEADER] = "customer.upserted"
    garbage = Message(b"not json", message_id="garbage-1")
    settings = settings_for(database_url, amqp_url, clean_namespace)
    async with (
        broker_channel(amqp_url) as (connection, channel),
        serving_testkit(database_url, amqp_url, clean_namespace),
    ):
        dlq = topology.dead_letter_queue_name(queue)
        await channel.default_exchange.publish(given_up, routing_key=dlq)
        await channel.default_exchange.publish(garbage, routing_key=dlq)
        await _until_dead_lettered(connection, queue, 2)
        res = Resources(settings, engine, create_sessionmaker(engine), connection)
        with pytest.raises(deadletters.NotReplayable):
            await deadletters.replay(connection, testkit.outbox, res, queue=queue, message_id="garbage-1")
        replayed = await deadletters.replay(connection, testkit.outbox, res, queue=queue, message_id=event.id)
        applied = await wait_for_applied(engine, at_least=1, timeout=15)
        unknown = await deadletters.replay(connection, testkit.outbox, res, queue=queue, message_id=event.id)
        left = await _until_dead_lettered(connection, queue, 1)
    assert replayed is True
    assert applied == 1
    assert unknown is False
    assert [m.message_id for m in left.messages] == ["garbage-1"]
    assert left.messages[0].replayable is False


async def test_a_replay_while_another_reader_holds_the_dead_letters_finds_its_message_once_they_are_back(
    engine: AsyncEngine, database_url: str, amqp_url: str, clean_namespace: str
) -> None:
    """A listing takes the dead letters unacknowledged and returns them when it closes its channel;
    a replay that looked meanwhile found nothing and answered "no such message" (a flake of the
    test above under load, and an operator's replay clicked right after the page was read)."""
    queue = topology.queue_name(CUSTOMERS, clean_namespace)
    event = customer_upserted()
    given_up = to_amqp(event, headers={"x-qbb-reason": "a bug", "x-qbb-kind": "failed", "x-qbb-queue": queue})
    given_up.headers[topology.ROUTING_KEY_HEADER] = "customer.upserted"
    settings = settings_for(database_url, amqp_url, clean_namespace)
    async with (
        broker_channel(amqp_url) as (connection, channel),
        serving_testkit(database_url, amqp_url, clean_namespace),
    ):
        dlq = topology.dead_letter_queue_name(queue)
        await channel.default_exchange.publish(given_up, routing_key=dlq)
        await _until_dead_lettered(connection, queue, 1)
        reader = await connection.channel()
        held = await (await reader.declare_queue(dlq, passive=True)).get(no_ack=False)
        assert held.message_id == event.id
        res = Resources(settings, engine, create_sessionmaker(engine), connection)
        replaying = asyncio.create_task(
            deadletters.replay(connection, testkit.outbox, res, queue=queue, message_id=event.id)
        )
        await asyncio.sleep(0.5)  # the replay looks while the reader holds the message
        await reader.close()
        replayed = await replaying
        applied = await wait_for_applied(engine, at_least=1, timeout=15)
    assert replayed is True
    assert applied == 1
