"""The transactional outbox: events are written with the change that causes them, then relayed.

Handlers and routes add to the outbox in their own transaction; only ``OutboxRelay`` talks to
RabbitMQ. Delivery is at-least-once; consumers' inboxes make the effect exactly-once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aio_pika import DeliveryMode, Message, RobustChannel
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from pydantic import BaseModel, ValidationError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    case,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from shared import tracing
from shared.contracts.envelope import CONTENT_TYPE, Envelope
from shared.crashpoints import crash_point
from shared.db import asyncpg_dsn
from shared.messaging import topology
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_QUARANTINED
from shared.worker import Backoff, Worker

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
        # ``topology`` (e.g. the platforms' egress), namespaced by the relay like the events one;
        # or ``queue:<name>`` for one queue through the default exchange (``Outbox.to_queue``).
        Column("exchange", String(200), nullable=True),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # Publishing failures so far, and where a row that can never be published is set aside.
        Column("publish_failures", Integer, nullable=False, server_default=text("0")),
        Column("quarantined_at", DateTime(timezone=True), nullable=True),
        Column("quarantine_reason", Text, nullable=True),
        Index("ix_outbox_messages_created_at", "created_at"),
    )


# An ``exchange`` value naming one queue (``queue:<name>``) rather than an exchange: a replayed
# dead letter goes back to the queue that gave up on it, not to every queue of its routing key.
QUEUE_TARGET = "queue:"


def notify_channel(table: Table) -> str:
    """The LISTEN/NOTIFY channel that wakes ``table``'s relay."""
    return f"{table.schema or 'public'}_outbox"


def wake_relay(table: Table) -> ColumnElement[Any]:
    """A ``RETURNING`` column that wakes ``table``'s relay for each row the statement inserts.

    In the insert itself rather than a ``SELECT pg_notify`` after it: one statement (a round trip)
    fewer per staged event. Delivered only if the transaction commits; Postgres folds repeats.
    """
    return func.pg_notify(notify_channel(table), "")


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
    """Stages events in the caller's transaction; never commits or publishes.

    With ``staged`` (a list the caller owns), rows are kept there instead of inserted one by one:
    the caller writes them all with ``write_staged`` before it commits (the consumer does, for the
    messages of a batch: one statement, not one per event).
    """

    def __init__(
        self,
        session: AsyncSession,
        table: Table,
        *,
        cause: Envelope | None = None,
        staged: list[StagedRow] | None = None,
    ) -> None:
        self._session, self._table, self._cause, self._staged = session, table, cause, staged

    def caused_by(self, cause: Envelope) -> Outbox:
        """This outbox (same transaction, same staged rows), for events of another cause."""
        return Outbox(self._session, self._table, cause=cause, staged=self._staged)

    async def add(
        self,
        type_: str,
        data: BaseModel | dict[str, Any],
        *,
        tenant_id: str | None = None,
        realm_id: str | None = None,
        subject: str | None = None,
        event_id: str | None = None,
        withheld: str | None = None,
        lane: Literal["history"] | None = None,
    ) -> Envelope:
        """Stage one event of ``type_``; it inherits tenant, realm and correlation from the cause.

        ``withheld`` (the reason) marks an event for the bridge's services only: never forwarded
        to a platform; ``lane`` marks the outcome of a history write (a bulk batch's line).
        """
        envelope = Envelope.new(
            type_,
            data,
            tenant_id=tenant_id,
            realm_id=realm_id,
            subject=subject,
            cause=self._cause,
            event_id=event_id,
            withheld=withheld,
            lane=lane,
        )
        envelope = tracing.stamp(envelope)  # carries the current span as the event's trace context
        row = {
            "message_id": envelope.id,
            "routing_key": envelope.type,
            "exchange": None,
            "envelope": envelope.model_dump(mode="json", exclude_none=True),
        }
        await self._stage(StagedRow(row, unless_present=False))
        return envelope

    async def forward(self, envelope: Envelope, *, exchange: str, routing_key: str) -> None:
        """Stage ``envelope`` as it is (same id) for ``exchange`` under ``routing_key``."""
        key = f"{exchange}:{routing_key}:{envelope.id}"
        row = {
            "message_id": key if len(key) <= 200 else hashlib.sha256(key.encode()).hexdigest(),
            "routing_key": routing_key,
            "exchange": exchange,
            "envelope": envelope.model_dump(mode="json", exclude_none=True),
        }
        await self._stage(StagedRow(row, unless_present=True))

    async def to_queue(self, envelope: Envelope, *, queue: str, routing_key: str) -> None:
        """Stage ``envelope`` for ``queue`` alone (the default exchange), as first published under
        ``routing_key`` (kept in its header: consumers check it, e.g. a platform's prefix)."""
        row = {
            "message_id": f"to-queue:{uuid.uuid4()}",  # each replay is a new publication
            "routing_key": routing_key,
            "exchange": f"{QUEUE_TARGET}{queue}",
            "envelope": envelope.model_dump(mode="json", exclude_none=True),
        }
        await self._stage(StagedRow(row, unless_present=False))

    async def _stage(self, row: StagedRow) -> None:
        if self._staged is not None:
            self._staged.append(row)
        else:
            await write_staged(self._session, self._table, [row])


@dataclass(frozen=True, slots=True)
class StagedRow:
    """An outbox row not written yet; ``unless_present``: dropped if its message id is there (a
    forward of an event already forwarded)."""

    values: dict[str, Any]
    unless_present: bool


async def write_staged(session: AsyncSession, table: Table, rows: Sequence[StagedRow]) -> None:
    """Insert staged outbox rows, in their order, in at most two statements (new events; forwards,
    which skip an id already there); each wakes ``table``'s relay once the transaction commits."""
    for unless_present in (False, True):
        values = [r.values for r in rows if r.unless_present is unless_present]
        if not values:
            continue
        await session.execute(_staging(table, unless_present=unless_present), values)


@functools.cache
def _staging(table: Table, *, unless_present: bool) -> Any:
    """The insert of staged rows into ``table`` that wakes its relay, built once (rows go as parameters)."""
    stmt = insert(table)
    if unless_present:
        stmt = stmt.on_conflict_do_nothing()
    return stmt.returning(wake_relay(table))


# Failures of the broker or the network rather than of one message.
_BROKER_ERRORS = (TimeoutError, ConnectionError, OSError, AMQPError, ChannelInvalidStateError)


class OutboxRelay:
    """Moves committed outbox rows to the exchange; several replicas never take the same rows.

    A row that cannot be published never blocks the rows behind it: one over ``max_message_bytes``
    or not a valid envelope is quarantined at once; one whose publishing fails ``max_failures``
    times while other rows get through is quarantined then. Quarantined rows stay in the table
    (``quarantined_at``, ``quarantine_reason``) for an operator, are logged and counted. Every
    publish waits at most ``publish_timeout`` seconds for the broker's confirm.
    """

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
        max_message_bytes: int = 1024 * 1024,
        publish_timeout: float = 10.0,
        max_failures: int = 5,
        history_queues: Sequence[str] = (),
    ) -> None:
        self._sessionmaker, self._connection, self._table = sessionmaker, connection, table
        self._dsn, self._namespace = asyncpg_dsn(database_url), namespace
        self._batch_size, self._poll_interval = batch_size, poll_interval
        self._max_bytes, self._timeout, self._max_failures = max_message_bytes, publish_timeout, max_failures
        # Rows for these queues (a history lane, in bulk) go after every other row: a live event
        # staged behind thousands of them is published in the relay's next step, not after them.
        self._history = [f"{QUEUE_TARGET}{topology.queue_name(q, namespace)}" for q in history_queues]
        self._stopping = False
        self._loop: Worker | None = None
        self._channel: AbstractChannel | None = None

    async def run(self) -> None:
        """Relay until ``stop()``; then drain what is committed and return."""
        channel = self._channel = await self._connection.channel(publisher_confirms=True)
        exchanges = _Exchanges(
            channel, await topology.declare_exchange(channel, self._namespace), self._namespace
        )

        async def step() -> bool:
            sent = await self.publish_batch(exchanges)
            if sent < 0:  # nothing got through: the broker, not a row; wait a little
                raise Backoff("no outbox row could be published")
            # Stopping, the flush goes on until a step finds nothing: in-flight work adds rows late.
            return sent >= self._batch_size or (self._stopping and sent > 0)

        self._loop = Worker(
            name="outbox relay",
            step=step,
            poll_seconds=self._poll_interval,
            dsn=self._dsn,
            channel=notify_channel(self._table),
            backoff=(1.0, 5.0),
        )
        if self._stopping:
            self._loop.stop()
        try:
            await self._loop.run()
        finally:
            await channel.close()

    def stop(self) -> None:
        """Ask ``run`` to publish what is committed and return (the shutdown flush)."""
        self._stopping = True
        if self._loop is not None:
            self._loop.stop()

    async def publish_batch(self, exchanges: _Exchanges) -> int:
        """Take up to ``batch_size`` rows out of the table and publish them (each confirmed by the
        broker), in one transaction: a row is deleted as it is read, and one that could not be
        published is put back as it was (with its failure counted, or quarantined). A crash before
        the commit leaves every row in place, to be published again.

        Returns how many rows were settled (published or quarantined), or -1 when rows were
        waiting but none could be published (a broker problem; nothing is charged to the rows).
        """
        t = self._table
        try:
            async with self._sessionmaker() as session, session.begin():
                taken = (
                    select(t.c.id)
                    .where(t.c.quarantined_at.is_(None))
                    .order_by(*self._order())
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
                found = (await session.execute(delete(t).where(t.c.id.in_(taken)).returning(*t.c))).all()
                if not found:
                    return 0
                rows = sorted(found, key=lambda r: (r.exchange in self._history, r.id))
                ready, refused = self._prepare(rows)
                failed = await self._publish(exchanges, ready, {row.id: row for row in rows})
                published = [row_id for row_id in ready if row_id not in failed]
                # A broker-side failure is the row's own only when others got through in the same pass.
                own = {i: reason for i, (reason, mine) in failed.items() if mine or published}
                if failed and not (published or refused or own):
                    log.warning("outbox relay: no row could be published", extra={"error": str(failed)[:500]})
                    raise _NothingPublished  # every row goes back as it was (the rollback)
                if published:
                    crash_point("outbox.after_publish")
                await self._put_back(session, rows, published, own, refused)
        except _NothingPublished:
            return -1
        for row_id in published:
            EVENTS_PUBLISHED.labels(ready[row_id].type).inc()
        return len(published) + len(refused)

    def _order(self) -> list[ColumnElement[Any]]:
        """Live rows first, then the history lane's; each in the order they were staged."""
        t = self._table
        if not self._history:
            return [t.c.id]
        return [case((t.c.exchange.in_(self._history), 1), else_=0), t.c.id]

    def _prepare(self, rows: Sequence[Any]) -> tuple[dict[int, Envelope], dict[int, tuple[str, str]]]:
        """Rows as envelopes to publish, and the rows that can never be published with (kind, reason)."""
        ready: dict[int, Envelope] = {}
        refused: dict[int, tuple[str, str]] = {}
        for row in rows:
            try:
                envelope = Envelope.model_validate(row.envelope)
            except ValidationError as exc:
                refused[row.id] = ("invalid", f"not a valid envelope: {exc}"[:2000])
                continue
            size = len(envelope.to_json_bytes())
            if size > self._max_bytes:
                refused[row.id] = ("too_large", f"{size} bytes; the limit is {self._max_bytes}")
                continue
            ready[row.id] = envelope
        return ready, refused

    async def _publish(
        self, exchanges: _Exchanges, ready: dict[int, Envelope], rows: dict[int, Any]
    ) -> dict[int, tuple[str, bool]]:
        """Publish concurrently; failures again one at a time. Returns row id → (error, the row's own?).

        An error raised before the broker is involved (say, a header AMQP cannot encode) is the
        row's own; a broker or network error (or a timeout) stops the pass, charged to nobody.
        """
        results = await asyncio.gather(
            *(self._publish_one(exchanges, e, rows[i]) for i, e in ready.items()), return_exceptions=True
        )
        failed = [row_id for row_id, r in zip(ready, results, strict=True) if isinstance(r, BaseException)]
        errors: dict[int, tuple[str, bool]] = {}
        # One bad message can close the channel under the others; alone, each tells its own story.
        for n, row_id in enumerate(failed):
            try:
                await self._publish_one(exchanges, ready[row_id], rows[row_id])
            except Exception as exc:  # noqa: BLE001 - sorted below
                reason, mine = f"{type(exc).__name__}: {exc}"[:2000], not isinstance(exc, _BROKER_ERRORS)
                errors[row_id] = (reason, mine)
                if not mine:
                    errors.update({rest: (reason, False) for rest in failed[n + 1 :]})
                    break
        return errors

    async def _publish_one(self, exchanges: _Exchanges, envelope: Envelope, row: Any) -> None:
        """One row to its exchange (the events exchange, or the one it names, with its routing key)."""
        async with asyncio.timeout(self._timeout):
            if isinstance(self._channel, RobustChannel):
                await self._channel.ready()  # a channel the broker closed is being restored
            if row.exchange and row.exchange.startswith(QUEUE_TARGET):
                message = to_amqp(envelope, headers={topology.ROUTING_KEY_HEADER: row.routing_key})
                queue = row.exchange.removeprefix(QUEUE_TARGET)
                publishing = exchanges.default.publish(message, routing_key=queue)
                await tracing.published(envelope, publishing)
                return
            target = await exchanges.target(row.exchange)
            key = row.routing_key if row.exchange else envelope.type
            await tracing.published(envelope, target.publish(to_amqp(envelope), routing_key=key))

    async def _put_back(
        self,
        session: AsyncSession,
        rows: Sequence[Any],
        published: list[int],
        failed: dict[int, str],
        refused: dict[int, tuple[str, str]],
    ) -> None:
        """The rows taken that were not published go back (one statement): a failed one with its
        failure counted, quarantined once it failed ``max_failures`` times; a refused one quarantined."""
        t = self._table
        back: list[dict[str, Any]] = []
        for row in rows:
            if row.id in published:
                continue
            values = dict(row._mapping)
            if row.id in failed:
                values["publish_failures"] = row.publish_failures + 1
                if values["publish_failures"] >= self._max_failures:
                    reason = f"{values['publish_failures']} failed publishes; last: {failed[row.id]}"
                    refused[row.id] = ("publish_failed", reason)
            if row.id in refused:
                kind, reason = refused[row.id]
                values |= {
                    "quarantined_at": dt.datetime.now(dt.UTC),
                    "quarantine_reason": f"{kind}: {reason}",
                }
                log.error(
                    "outbox row quarantined",
                    extra={"table": str(t), "row_id": row.id, "kind": kind, "reason": reason},
                )
                OUTBOX_QUARANTINED.labels(kind).inc()
            back.append(values)
        if back:
            await session.execute(insert(t), back)


class _NothingPublished(Exception):
    """Rows were waiting but none could be published: the relay's transaction is rolled back."""


class _Exchanges:
    """The events exchange and, declared on first use, the other exchanges outbox rows name."""

    def __init__(self, channel: AbstractChannel, events: AbstractExchange, namespace: str) -> None:
        self._channel, self.events, self._namespace = channel, events, namespace
        self._named: dict[str, AbstractExchange] = {}

    @property
    def default(self) -> AbstractExchange:
        """The default exchange: a row for one queue goes there, routed by the queue's name."""
        return self._channel.default_exchange

    async def target(self, name: str | None) -> AbstractExchange:
        """Where a row goes: the events exchange for ``None``, else the exchange ``name``."""
        if name is None:
            return self.events
        if name not in self._named:
            self._named[name] = await topology.declare_named_exchange(self._channel, name, self._namespace)
        return self._named[name]
