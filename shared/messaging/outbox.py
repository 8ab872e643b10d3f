"""The transactional outbox: events are written with the change that causes them, then relayed.

Handlers and routes add to the outbox in their own transaction; only ``OutboxRelay`` talks to
RabbitMQ. Delivery is at-least-once; consumers' inboxes make the effect exactly-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

import asyncpg
from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    String,
    Table,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import tracing
from shared.contracts.envelope import CONTENT_TYPE, Envelope
from shared.db import asyncpg_dsn
from shared.messaging import topology
from shared.metrics import EVENTS_PUBLISHED

log = logging.getLogger(__name__)


def make_outbox_table(metadata: MetaData) -> Table:
    """``outbox_messages`` in the service's schema; created by that service's migration."""
    return Table(
        "outbox_messages",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("message_id", String(200), nullable=False, unique=True),
        Column("routing_key", String(200), nullable=False),
        # Where the row goes: NULL is the internal events exchange; otherwise a named exchange of
        # ``topology`` (e.g. the platforms' egress), namespaced by the relay like the events one.
        Column("exchange", String(200), nullable=True),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("ix_outbox_messages_created_at", "created_at"),
    )


def notify_channel(table: Table) -> str:
    """The LISTEN/NOTIFY channel that wakes ``table``'s relay."""
    return f"{table.schema or 'public'}_outbox"


def to_amqp(envelope: Envelope, *, headers: dict[str, Any] | None = None) -> Message:
    """The AMQP message for ``envelope``: persistent, typed, correlated."""
    return Message(
        envelope.to_json_bytes(),
        message_id=envelope.id,
        correlation_id=envelope.correlation_id,
        type=envelope.type,
        content_type=CONTENT_TYPE,
        delivery_mode=DeliveryMode.PERSISTENT,
        headers=headers or {},
    )


class Outbox:
    """Stages events in the caller's transaction; never flushes, commits or publishes."""

    def __init__(self, session: AsyncSession, table: Table, *, cause: Envelope | None = None) -> None:
        self._session, self._table, self._cause = session, table, cause

    async def add(
        self,
        type_: str,
        data: BaseModel | dict[str, Any],
        *,
        tenant_id: str | None = None,
        realm_id: str | None = None,
        subject: str | None = None,
        event_id: str | None = None,
    ) -> Envelope:
        """Stage one event of ``type_``; it inherits tenant, realm and correlation from the cause."""
        envelope = Envelope.new(
            type_,
            data,
            tenant_id=tenant_id,
            realm_id=realm_id,
            subject=subject,
            cause=self._cause,
            event_id=event_id,
        )
        envelope = tracing.stamp(envelope)  # carries the current span as the event's trace context
        await self._session.execute(
            self._table.insert().values(
                message_id=envelope.id,
                routing_key=envelope.type,
                envelope=envelope.model_dump(mode="json", exclude_none=True),
            )
        )
        await self._notify()
        return envelope

    async def forward(self, envelope: Envelope, *, exchange: str, routing_key: str) -> None:
        """Stage ``envelope`` as it is (same id) for ``exchange`` under ``routing_key``."""
        key = f"{exchange}:{routing_key}:{envelope.id}"
        stmt = insert(self._table).values(
            message_id=key if len(key) <= 200 else hashlib.sha256(key.encode()).hexdigest(),
            routing_key=routing_key,
            exchange=exchange,
            envelope=envelope.model_dump(mode="json", exclude_none=True),
        )
        await self._session.execute(stmt.on_conflict_do_nothing())
        await self._notify()

    async def _notify(self) -> None:
        # Delivered only if the transaction commits; Postgres folds repeats within one transaction.
        await self._session.execute(text("SELECT pg_notify(:c, '')"), {"c": notify_channel(self._table)})


class OutboxRelay:
    """Moves committed outbox rows to the exchange; several replicas never take the same rows."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        connection: AbstractRobustConnection,
        table: Table,
        database_url: str,
        namespace: str = "",
        batch_size: int = 200,
        poll_interval: float = 1.0,
    ) -> None:
        self._sessionmaker, self._connection, self._table = sessionmaker, connection, table
        self._dsn, self._namespace = asyncpg_dsn(database_url), namespace
        self._batch_size, self._poll_interval = batch_size, poll_interval
        self._wake = asyncio.Event()
        self._stopping = False

    async def run(self) -> None:
        """Relay until ``stop()``; then drain what is committed and return."""
        channel = await self._connection.channel(publisher_confirms=True)
        exchanges = _Exchanges(
            channel, await topology.declare_exchange(channel, self._namespace), self._namespace
        )
        listener = await self._listen()
        try:
            while True:
                sent = await self._relay_once(exchanges)
                if self._stopping and sent == 0:
                    return
                if sent < self._batch_size and not self._stopping:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_interval)
                    self._wake.clear()
        finally:
            if listener is not None:
                await listener.close()
            await channel.close()

    def stop(self) -> None:
        """Ask ``run`` to publish what is committed and return (the shutdown flush)."""
        self._stopping = True
        self._wake.set()

    async def _listen(self) -> asyncpg.Connection | None:
        try:
            conn = await asyncpg.connect(self._dsn)
            await conn.add_listener(notify_channel(self._table), lambda *_: self._wake.set())
            return conn
        except (OSError, asyncpg.PostgresError):
            log.warning("outbox relay cannot LISTEN; polling only", extra={"table": str(self._table)})
            return None

    async def _relay_once(self, exchanges: _Exchanges) -> int:
        try:
            return await self.publish_batch(exchanges)
        except Exception:
            log.exception("outbox relay batch failed; retrying shortly")
            await asyncio.sleep(1.0)
            return 0

    async def publish_batch(self, exchanges: _Exchanges) -> int:
        """Publish up to ``batch_size`` rows (confirmed by the broker), then delete them."""
        t = self._table
        async with self._sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(t.c.id, t.c.envelope, t.c.exchange, t.c.routing_key)
                    .order_by(t.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            envelopes = [Envelope.model_validate(row.envelope) for row in rows]
            targets = [await exchanges.target(row.exchange) for row in rows]
            # A failure rolls back and the batch is sent again; the consumers' inboxes absorb repeats.
            await asyncio.gather(
                *(
                    tracing.published(
                        e, target.publish(to_amqp(e), routing_key=row.routing_key if row.exchange else e.type)
                    )
                    for target, e, row in zip(targets, envelopes, rows, strict=True)
                )
            )
            await session.execute(delete(t).where(t.c.id.in_([row.id for row in rows])))
        for envelope in envelopes:
            EVENTS_PUBLISHED.labels(envelope.type).inc()
        return len(rows)


class _Exchanges:
    """The events exchange and, declared on first use, the other exchanges outbox rows name."""

    def __init__(self, channel: AbstractChannel, events: AbstractExchange, namespace: str) -> None:
        self._channel, self.events, self._namespace = channel, events, namespace
        self._named: dict[str, AbstractExchange] = {}

    async def target(self, name: str | None) -> AbstractExchange:
        """Where a row goes: the events exchange for ``None``, else the exchange ``name``."""
        if name is None:
            return self.events
        if name not in self._named:
            self._named[name] = await topology.declare_named_exchange(self._channel, name, self._namespace)
        return self._named[name]
