"""Publishing to and listening on the real broker in tests; waits are bounded, never sleeps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import aio_pika
from aio_pika import Message
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from shared.contracts.envelope import Envelope
from shared.messaging import topology
from shared.messaging.outbox import to_amqp
from shared.messaging.router import Router


@contextlib.asynccontextmanager
async def broker_channel(amqp_url: str) -> AsyncIterator[tuple[AbstractRobustConnection, AbstractChannel]]:
    """A robust connection and a confirming channel, closed afterwards."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        yield connection, channel
    finally:
        await connection.close()


async def publish(channel: AbstractChannel, namespace: str, envelope: Envelope) -> None:
    """Publish ``envelope`` to the namespace's exchange, as a platform would."""
    exchange = await topology.declare_exchange(channel, namespace)
    await exchange.publish(to_amqp(envelope), routing_key=envelope.type)


async def publish_raw(channel: AbstractChannel, namespace: str, body: bytes, *, routing_key: str) -> None:
    """Publish arbitrary bytes (malformed messages) with ``routing_key``."""
    exchange = await topology.declare_exchange(channel, namespace)
    await exchange.publish(Message(body), routing_key=routing_key)


async def bind_probe(channel: AbstractChannel, namespace: str, routing_keys: Sequence[str]) -> AbstractQueue:
    """A private queue receiving every event with one of ``routing_keys`` (a stand-in platform).

    Exclusive, so it goes with the test's connection; not auto-delete, so it may be read more than
    once (``collect`` ends its consumer, which would delete an auto-delete queue).
    """
    exchange = await topology.declare_exchange(channel, namespace)
    queue = await channel.declare_queue(exclusive=True)
    for key in routing_keys:
        await queue.bind(exchange, routing_key=key)
    return queue


async def collect(queue: AbstractQueue, *, count: int, timeout: float) -> list[AbstractIncomingMessage]:
    """Up to ``count`` messages from ``queue`` (acked), waiting at most ``timeout`` seconds in all."""
    got: list[AbstractIncomingMessage] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout), queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                got.append(message)
                if len(got) >= count:
                    break
    return got


async def envelopes(queue: AbstractQueue, *, count: int, timeout: float) -> list[Envelope]:
    """Like ``collect``, decoded as envelopes."""
    return [Envelope.model_validate_json(m.body) for m in await collect(queue, count=count, timeout=timeout)]


async def delete_namespace(amqp_url: str, namespace: str, routers: Iterable[Router]) -> None:
    """Delete the exchange and every queue the routers declared in ``namespace``."""
    async with broker_channel(amqp_url) as (_, channel):
        for router in routers:
            for sub in router.subscriptions:
                queue = topology.queue_name(sub.queue, namespace)
                names = [queue, topology.dead_letter_queue_name(queue)]
                names += [topology.retry_queue_name(queue, d) for d in sub.retry_delays]
                for name in names:
                    await channel.queue_delete(name)
        await channel.exchange_delete(topology.exchange_name(namespace))
        for name in topology.PLATFORM_EXCHANGES:
            await channel.exchange_delete(f"{namespace}{name}")
        await channel.queue_delete(topology.unrouted_name(namespace))
        await channel.exchange_delete(topology.unrouted_name(namespace))


def headers_of(message: AbstractIncomingMessage) -> dict[str, Any]:
    """The AMQP headers of ``message`` (never None)."""
    return dict(message.headers or {})
