"""Gauges the on-call person needs and counters cannot give: queue depth, dead-letter depth, outbox lag.

Every replica samples the same queues and outbox (``max by (queue)`` in queries): RabbitMQ's ready
count by passive declare, the outbox's pending rows and the age of the oldest. A failed sample is
logged and retried at the next tick; sampling never stops the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiormq
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from prometheus_client import Gauge
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.messaging import topology
from shared.messaging.router import Router

log = logging.getLogger(__name__)

QUEUE_MESSAGES = Gauge(
    "qbb_queue_messages",
    "Messages ready in a consumer queue (work) or its dead-letter queue (dlq)",
    ["queue", "kind"],
)
OUTBOX_PENDING = Gauge("qbb_outbox_pending", "Committed events the relay has not published yet", ["schema"])
OUTBOX_LAG = Gauge(
    "qbb_outbox_lag_seconds", "Age of the oldest event waiting in the outbox (0 when empty)", ["schema"]
)


class Sampler:
    """Samples queue depths and outbox lag of one service every ``interval`` seconds."""

    def __init__(
        self,
        *,
        connection: AbstractRobustConnection,
        router: Router,
        sessionmaker: async_sessionmaker[AsyncSession],
        outbox_table: Table,
        namespace: str = "",
        interval: float = 15.0,
    ) -> None:
        self._connection, self._router, self._sessionmaker = connection, router, sessionmaker
        self._outbox, self._namespace, self._interval = outbox_table, namespace, interval

    async def run(self) -> None:
        """Sample until cancelled, the first time one interval after start.

        Not at once: while the service declares its queues, a passive declare of one not there yet
        makes the broker close the channel, and channels opened and closed on the service's own
        connection while the consumer opens its own can trip the client (CHANNEL_ERROR).
        """
        while True:
            await asyncio.sleep(self._interval)
            await self.sample_once()

    async def sample_once(self) -> None:
        """One round: every queue of the router and its dead-letter queue, then the outbox."""
        try:
            await self._sample_queues()
            await self._sample_outbox()
        except Exception:  # a broker or database blip: the next tick tries again
            log.warning("sampling queue depth and outbox lag failed", exc_info=True)

    async def _sample_queues(self) -> None:
        if not self._router.subscriptions:
            return
        channel: AbstractChannel = await self._connection.channel()
        try:
            for sub in self._router.subscriptions:
                queue = topology.queue_name(sub.queue, self._namespace)
                for name, kind in ((queue, "work"), (topology.dead_letter_queue_name(queue), "dlq")):
                    channel, count = await _ready_count(self._connection, channel, name)
                    if count is not None:
                        QUEUE_MESSAGES.labels(sub.queue, kind).set(count)
        finally:
            if not channel.is_closed:
                await channel.close()

    async def _sample_outbox(self) -> None:
        t = self._outbox
        async with self._sessionmaker() as session:
            pending, oldest = (
                await session.execute(
                    select(func.count(), func.extract("epoch", func.now() - func.min(t.c.created_at)))
                )
            ).one()
        schema = t.schema or "public"
        OUTBOX_PENDING.labels(schema).set(pending)
        OUTBOX_LAG.labels(schema).set(float(oldest or 0))


async def _ready_count(
    connection: AbstractRobustConnection, channel: AbstractChannel, name: str
) -> tuple[AbstractChannel, int | None]:
    """The ready count of ``name`` (None when it does not exist yet) and a usable channel."""
    try:
        queue = await channel.declare_queue(name, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        # The broker closes a channel whose passive declare misses; carry on with a new one. The
        # old one is closed on our side too: a robust channel the broker closed reopens itself, and
        # a service whose queue was deleted would otherwise gain channels every round, for ever.
        with contextlib.suppress(Exception):
            await channel.close()
        return await connection.channel(), None
    result = queue.declaration_result
    return channel, int(result.message_count or 0)
