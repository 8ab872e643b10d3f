"""Names and declarations of the exchange and queues; the only place topology arguments live.

Redeclaring a queue with different arguments closes the channel (PRECONDITION_FAILED), so every
declaration goes through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

EXCHANGE = "qbo-bridge.events"
# The platforms' side of the broker (architecture §5a): they publish to ingress with routing key
# ``<platform_id>.<event type>`` and read egress ``<platform_id>.<tenant_id>.<event type>``; their
# RabbitMQ users may touch nothing else (``qbo-bridge.events`` is for the services' users only).
INGRESS = "qbo-bridge.ingress"
EGRESS = "qbo-bridge.egress"
PLATFORM_EXCHANGES = (INGRESS, EGRESS)
# Crash-loop backstop: a message that kills its consumer this many times goes to the DLQ.
DELIVERY_LIMIT = 20
# The consumer sets such a message aside itself, with a reason, one delivery before the broker
# would (the broker's dead-lettering carries only its x-death header).
CRASH_LOOP_DELIVERIES = DELIVERY_LIMIT - 1


UNROUTED = "qbo-bridge.unrouted"


# The routing key a message was first published with, kept across retries, dead-lettering and replay.
ROUTING_KEY_HEADER = "x-qbb-routing-key"


def unrouted_name(namespace: str = "") -> str:
    """Exchange and queue that keep messages no consumer queue was bound for (nothing is lost)."""
    return f"{namespace}{UNROUTED}"


def exchange_name(namespace: str = "") -> str:
    """The topic exchange, prefixed by ``namespace`` (tests and parallel stacks isolate this way)."""
    return f"{namespace}{EXCHANGE}"


def queue_name(name: str, namespace: str = "") -> str:
    """A consumer queue ``<service>.<purpose>`` in ``namespace``."""
    return f"{namespace}{name}"


def retry_queue_name(queue: str, delay_seconds: float) -> str:
    """Where a message waits ``delay_seconds`` before returning to ``queue``."""
    return f"{queue}.retry.{int(delay_seconds * 1000)}ms"


def dead_letter_queue_name(queue: str) -> str:
    """Where messages that can never be processed by ``queue``'s consumer end, with the reason."""
    return f"{queue}.dlq"


async def declare_exchange(channel: AbstractChannel, namespace: str = "") -> AbstractExchange:
    """The durable topic exchange every event is published to (routing key = event type).

    Its alternate exchange catches events no queue is bound for (say, a platform publishing before
    the services first started) in the ``qbo-bridge.unrouted`` queue, from which an operator can
    shovel them back.
    """
    unrouted = await channel.declare_exchange(unrouted_name(namespace), ExchangeType.FANOUT, durable=True)
    queue = await channel.declare_queue(
        unrouted_name(namespace), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await queue.bind(unrouted)
    return await channel.declare_exchange(
        exchange_name(namespace),
        ExchangeType.TOPIC,
        durable=True,
        arguments={"alternate-exchange": unrouted_name(namespace)},
    )


async def declare_named_exchange(
    channel: AbstractChannel, name: str, namespace: str = ""
) -> AbstractExchange:
    """``qbo-bridge.events``, ``.ingress`` or ``.egress`` (durable topics) in ``namespace``.

    Ingress keeps what no queue takes in ``qbo-bridge.unrouted`` like the events exchange; egress
    drops what no platform queue is bound for (a platform reads only what it subscribed to).
    """
    if name == EXCHANGE:
        return await declare_exchange(channel, namespace)
    if name not in PLATFORM_EXCHANGES:
        raise ValueError(f"unknown exchange {name!r}")
    arguments: dict[str, Any] = {}
    if name == INGRESS:
        await declare_exchange(channel, namespace)  # declares the unrouted exchange too
        arguments = {"alternate-exchange": unrouted_name(namespace)}
    return await channel.declare_exchange(
        f"{namespace}{name}", ExchangeType.TOPIC, durable=True, arguments=arguments
    )


async def declare_consumer_queue(
    channel: AbstractChannel,
    *,
    queue: str,
    routing_keys: Sequence[str],
    retry_delays: Sequence[float],
    namespace: str = "",
    ingress_keys: Sequence[str] = (),
) -> AbstractQueue:
    """A durable quorum queue bound to ``routing_keys`` (and ``ingress_keys`` on the ingress
    exchange), its delay queues and its dead-letter queue."""
    exchange = await declare_exchange(channel, namespace)
    dlq = dead_letter_queue_name(queue)
    await channel.declare_queue(dlq, durable=True, arguments={"x-queue-type": "quorum"})
    main = await channel.declare_queue(
        queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dlq,
        },
    )
    for key in routing_keys:
        await main.bind(exchange, routing_key=key)
    if ingress_keys:
        ingress = await declare_named_exchange(channel, INGRESS, namespace)
        for key in ingress_keys:
            await main.bind(ingress, routing_key=key)
    for delay in retry_delays:
        # Expired messages dead-letter back to the consumer queue through the default exchange.
        await channel.declare_queue(
            retry_queue_name(queue, delay),
            durable=True,
            arguments={
                "x-message-ttl": int(delay * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queue,
            },
        )
    return main
