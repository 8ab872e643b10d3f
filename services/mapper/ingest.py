"""One platform event through the mapper: admit, wait for the company, map, and stage the outcome.

The I/O around the rules of ``service``; called in the message's transaction by the broker handler,
and again for an event that waited, when the company's lists are in (or its wait is over).
Every event ends with a row in ``platform_events``: mapped, rejected (why), skipped or waiting.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.mapper import journal_posting, models, repository, service
from services.mapper.mapping import Rejection
from services.mapper.settings import MapperSettings
from services.mapper.sync_settings import SyncSettings
from shared import tracing
from shared.contracts.codec import InvalidMessage, decode_data
from shared.contracts.envelope import Envelope
from shared.messaging import inbox
from shared.messaging.outbox import Outbox
from shared.worker import Worker

log = logging.getLogger(__name__)

PLATFORM_QUEUE = "mapper.platform-events"


class Batch:
    """The platform events of one transaction, mapped together: their contexts and the reference
    objects they name are read for all of them at once (``read``: two statements), and their
    outcomes are written in one (``flush``). An event the batch was not read for reads its own."""

    def __init__(self) -> None:
        self._contexts: dict[tuple[str, str], repository.EventContext] = {}
        self._read: set[tuple[str, str]] = set()
        self._named: dict[str, list[repository.Named]] = {}
        self._outcomes: list[dict[str, Any]] = []

    async def read(self, session: AsyncSession, events: Sequence[tuple[Envelope, Any]]) -> None:
        """Read what mapping ``events`` (envelope, decoded data) needs, for all of them."""
        keys = [(e.tenantid, e.id) for e, _ in events if e.tenantid]
        self._contexts = await repository.event_contexts(session, events=keys)
        self._read = set(keys)
        names: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for envelope, data in events:
            known = self._contexts.get((envelope.tenantid or "", envelope.id))
            if known is not None:
                for entity, values in service.names_in(data, known.settings).items():
                    names[known.connection.realm_id][entity] |= values
        self._named = await repository.named_rows(session, names=names)

    async def context(self, session: AsyncSession, envelope: Envelope) -> repository.EventContext | None:
        if not envelope.tenantid:
            return None
        key = (envelope.tenantid, envelope.id)
        if key in self._read:
            return self._contexts.get(key)
        return await repository.event_context(session, tenant_id=envelope.tenantid, event_id=envelope.id)

    def named(self, realm_id: str) -> list[repository.Named] | None:
        """The objects read for the batch of ``realm_id``, or None (not read: the event reads them)."""
        return self._named.get(realm_id)

    def record(self, **outcome: Any) -> None:
        """Stage what became of an event (the keywords of ``repository.outcome_row``)."""
        self._outcomes.append(repository.outcome_row(**outcome))

    async def flush(self, session: AsyncSession) -> None:
        """Write the staged outcomes (one statement)."""
        await repository.record_outcomes(session, rows=self._outcomes)
        self._outcomes = []


async def process(
    session: AsyncSession,
    outbox: Outbox,
    envelope: Envelope,
    data: Any,
    *,
    wait_seconds: float,
    batch: Batch,
    waited: bool = False,
) -> str:
    """Map one platform event to export commands; returns the outcome in a word. Its outcome is
    staged in ``batch``, which the caller flushes.

    ``waited`` is set when the event is taken up again after waiting: it is mapped against whatever
    the company's lists hold by then, never held a second time.
    """
    tenant = envelope.tenantid
    known = await batch.context(session, envelope)
    connection = known.connection if known else None
    connection_id = connection.connection_id if connection else None
    platform_id = service.platform_id(envelope.type, data)
    settings = known.settings if known else SyncSettings()
    try:
        target = service.admit(
            envelope.type, data, tenant_id=tenant, connection=connection, settings=settings
        )
        small_lists = known.small_lists if known else None
        if service.must_wait(imported=waited or (known is not None and known.imported)):
            small_lists = None  # read before the import ended, if it just has
            if not await _imported_meanwhile(session, target.realm_id):
                until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait_seconds)
                batch.record(
                    envelope=envelope,
                    connection_id=connection_id,
                    platform_id=platform_id,
                    outcome="waiting",
                    rejection=service.WAITING_FOR_IMPORT,
                    hold_until=until,
                )
                return "waiting"
        await repository.record_used_values(
            session, connection_id=target.connection_id, values=service.used_values(data)
        )
        reference = await repository.load_reference(
            session,
            realm_id=target.realm_id,
            names=service.names_in(data, settings),
            small_lists=small_lists,
            named=batch.named(target.realm_id),
        )
        if service.summarized(envelope.type, settings):
            commands = await journal_posting.post(
                session,
                envelope.type,
                data,
                target=target,
                settings=settings,
                reference=reference,
                source_event_id=envelope.id,
            )
        else:
            commands = service.plan(
                envelope.type,
                data,
                target=target,
                settings=settings,
                reference=reference,
                source_event_id=envelope.id,
                event_time=envelope.time,
            )
    except service.Excluded as skipped:
        log.info("event skipped by settings", extra={"reason": skipped.reason, "event_type": envelope.type})
        batch.record(
            envelope=envelope,
            connection_id=connection_id,
            platform_id=platform_id,
            outcome="skipped",
            rejection=Rejection("excluded_by_settings", skipped.reason),
        )
        return "skipped"
    except Rejection as rejection:
        await reject(session, outbox, envelope, data, rejection, connection_id=connection_id, batch=batch)
        return "rejected"
    # A bulk line's writes go in the realm's history lane: the exporter takes them after its live ones.
    history = known is not None and known.in_batch
    for command in service.in_lane(commands, history=history):
        await outbox.add(
            "qbo.export.requested", command, realm_id=target.realm_id, subject=command.platform_id
        )
    batch.record(envelope=envelope, connection_id=connection_id, platform_id=platform_id, outcome="mapped")
    return "mapped"


async def _imported_meanwhile(session: AsyncSession, realm_id: str) -> bool:
    """Whether the company's import ended after this event's context was read (checked under the
    lock its end takes, so an event is never held after the release of the held ones)."""
    await repository.lock_import_state(session, realm_id=realm_id)
    return await repository.reference_imported(session, realm_id=realm_id)


async def reject(
    session: AsyncSession,
    outbox: Outbox,
    envelope: Envelope,
    data: Any,
    rejection: Rejection,
    *,
    connection_id: str | None,
    batch: Batch,
) -> None:
    """Stage ``sync.rejected`` for the platform, naming every problem, and its outcome in ``batch``.

    The event is forgotten by the inbox: the rejection tells the platform to fix the cause and send
    it again, and the same id must then be processed afresh, not dropped as a duplicate.
    """
    event = service.rejected(
        envelope.type, data, source_event_id=envelope.id, rejection=rejection, connection_id=connection_id
    )
    log.info("event rejected", extra={"code": rejection.code, "reason": rejection.message[:500]})
    await outbox.add("sync.rejected", event, tenant_id=envelope.tenantid)
    for consumer in (PLATFORM_QUEUE, repository.HTTP_RECEIVED):
        await inbox.release(session, models.inbox, consumer=consumer, message_id=envelope.dedup_key)
    batch.record(
        envelope=envelope,
        connection_id=connection_id,
        platform_id=service.platform_id(envelope.type, data),
        outcome="rejected",
        rejection=rejection,
    )


async def release_held(
    session: AsyncSession, held: list[Envelope], *, outbox_table: Any = models.outbox
) -> int:
    """Map events that waited (the company's lists are in, or their wait is over); returns how many."""
    batch = Batch()
    for envelope in held:
        # Its commands continue the platform's trace of the event, not the one of what released it.
        with tracing.resumed_span(envelope, name=f"{envelope.type} taken up"):
            await _take_up(session, Outbox(session, outbox_table, cause=envelope), envelope, batch)
    await batch.flush(session)
    return len(held)


async def _take_up(session: AsyncSession, outbox: Outbox, envelope: Envelope, batch: Batch) -> None:
    try:
        data = decode_data(envelope)
    except InvalidMessage as exc:  # a contract change while it waited: refuse it in words
        await reject(
            session,
            outbox,
            envelope,
            envelope.data,
            service.invalid(exc.summary, exc.problems),
            connection_id=None,
            batch=batch,
        )
        return
    outcome = await process(session, outbox, envelope, data, wait_seconds=0, batch=batch, waited=True)
    log.info("held event taken up", extra={"event_id": envelope.id, "outcome": outcome})


async def run_release_overdue(
    sessionmaker: async_sessionmaker[AsyncSession], settings: MapperSettings
) -> None:
    """Until cancelled: events whose wait is over are mapped against the lists there are."""

    async def step() -> bool:
        async with sessionmaker() as session, session.begin():
            return await release_held(session, await repository.take_held(session, overdue=True)) > 0

    await Worker(name="overdue held events", step=step, poll_seconds=settings.held_poll_seconds).run()
